"""RollGeometry: round trips between ticks/pitches and pixels, snapping, zoom."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

from gui.pianoroll.geometry import (
    MAX_PX_PER_TICK, MIN_PX_PER_TICK, SNAP_CHOICES, RollGeometry, snap_step_ticks, snap_tick,
)

geometries = st.builds(
    RollGeometry,
    ppq=st.sampled_from([96, 120, 384, 480, 960]),
    px_per_tick=st.floats(MIN_PX_PER_TICK, MAX_PX_PER_TICK),
    row_height=st.floats(3, 48),
    scroll_x=st.floats(0, 1e6),
    scroll_y=st.floats(0, 6000),
)


def test_geometry_module_does_not_import_qt():
    code = ("import gui.pianoroll.geometry, sys; "
            "assert not any(m.startswith('PySide6') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


@given(geometries, st.integers(0, 10_000_000))
def test_tick_x_round_trip(g, tick):
    assert g.x_to_tick(g.tick_to_x(tick)) == pytest.approx(tick, abs=1e-6 * max(1, tick))


@given(geometries, st.integers(0, 10_000_000))
def test_the_pixel_of_a_tick_maps_back_to_it_when_a_tick_is_a_pixel_or_more(g, tick):
    g.px_per_tick = max(g.px_per_tick, 1.0)
    assert g.tick_at(g.tick_to_x(tick)) == tick
    assert g.tick_at(g.tick_to_x(tick) + g.px_per_tick * 0.5) == tick


@given(geometries, st.integers(0, 127), st.floats(0, 0.999))
def test_every_pixel_of_a_row_maps_back_to_its_pitch(g, pitch, frac):
    y = g.pitch_to_y(pitch)
    assert g.y_to_pitch(y) == pitch
    assert g.y_to_pitch(y + frac * g.row_height) == pitch
    assert g.y_to_pitch(y + g.row_height) == pitch - 1  # the next row down


@given(geometries, st.integers(0, 127), st.integers(0, 100_000), st.integers(1, 10_000))
def test_note_rect_sits_on_its_tick_and_row(g, pitch, start, duration):
    x, y, w, h = g.note_rect(start, duration, pitch)
    assert g.x_to_tick(x) == pytest.approx(start, abs=1e-6 * max(1, start))
    assert g.y_to_pitch(y + h / 2) == pitch
    assert w >= 1 and h == g.row_height


@given(geometries, st.floats(0.1, 10), st.floats(0, 2000))
def test_zoom_x_keeps_the_tick_under_the_mouse(g, factor, anchor):
    g.scroll_x = max(g.scroll_x, anchor * 2)  # enough room that the scroll does not clamp
    before = g.x_to_tick(anchor)
    g.zoom_x(factor, anchor)
    assert MIN_PX_PER_TICK <= g.px_per_tick <= MAX_PX_PER_TICK
    if g.scroll_x > 0:
        assert g.x_to_tick(anchor) == pytest.approx(before, rel=1e-6, abs=1e-6)


@given(geometries, st.floats(0.1, 10), st.floats(0, 800))
def test_zoom_y_keeps_the_pitch_under_the_mouse(g, factor, anchor):
    g.scroll_y = max(g.scroll_y, anchor * 20)
    rows_before = (anchor + g.scroll_y) / g.row_height
    g.zoom_y(factor, anchor)
    assert 3 <= g.row_height <= 48
    if g.scroll_y > 0:
        assert (anchor + g.scroll_y) / g.row_height == pytest.approx(rows_before, rel=1e-6)


@pytest.mark.parametrize("snap, ticks", [("1/4", 480), ("1/8", 240), ("1/16", 120),
                                         ("1/8T", 160), ("1/16T", 80), ("off", 0)])
def test_snap_steps_at_480_ppq(snap, ticks):
    assert snap_step_ticks(snap, 480) == ticks


def test_unknown_snap_is_refused():
    with pytest.raises(ValueError, match="1/16T"):
        snap_step_ticks("1/5", 480)


@given(st.sampled_from(SNAP_CHOICES), st.sampled_from([96, 120, 480, 960]),
       st.floats(0, 1e6))
def test_snapping_lands_on_the_grid_and_is_idempotent(snap, ppq, tick):
    step = snap_step_ticks(snap, ppq)
    for mode in ("round", "floor", "ceil"):
        t = snap_tick(tick, step, mode)
        assert snap_tick(t, step, mode) == t
        if step:
            assert abs(t - tick) <= step + 1
            k = round(t / step)
            assert abs(t - k * step) <= 0.5  # on a grid line, give or take a tick's rounding
    if step:
        assert snap_tick(tick, step, "floor") <= tick + 1e-6
        assert snap_tick(tick, step, "ceil") >= tick - 1


def test_snap_examples():
    assert snap_tick(130, 120) == 120
    assert snap_tick(190, 120) == 240
    assert snap_tick(239, 120, "floor") == 120
    assert snap_tick(161, 160, "ceil") == 320
    assert snap_tick(123.4, 0) == 123


def test_visible_ranges_cover_the_viewport():
    g = RollGeometry(px_per_tick=0.5, row_height=10, scroll_x=100, scroll_y=300)
    start, end = g.visible_ticks(400)
    assert start == 200 and end >= 1000
    low, high = g.visible_pitches(200)
    assert high == 127 - 30 and low == 127 - 50
    assert g.rect_to_range(0, 0, 400, 200)[2:] == (low, high)
