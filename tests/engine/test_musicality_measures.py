"""The measures of bench/musicality.py on music whose answers are known."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.encodings import DEFAULT_ENCODING as ENC
from engine.song import Note

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mus():
    spec = importlib.util.spec_from_file_location("musicality", ROOT / "bench" / "musicality.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["musicality"] = module
    spec.loader.exec_module(module)
    return module


def bar(*pitches_and_steps) -> list[int]:
    """One 16-step bar of tokens from (pitch or None for a rest, steps) pairs."""
    out = []
    for pitch, steps in pitches_and_steps:
        out += [ENC.note_on(pitch) if pitch else 1] + [0] * (steps - 1)
    assert len(out) == 16
    return out


def test_notes_become_the_melody_tokens_with_the_rests(mus):
    notes = [Note(60, 16 * 120, 4 * 120, 90), Note(64, 22 * 120, 2 * 120, 90)]
    symbols = mus.steps_of(notes, 16, 16)
    assert symbols.tolist() == bar((60, 4), (None, 2), (64, 2), (None, 8))


def test_repeats_rests_scale_tonic_and_copies(mus):
    a, b = bar((60, 4), (64, 4), (67, 8)), bar((62, 4), (None, 4), (71, 8))
    c = bar((72, 16))
    seed = np.array(a + b)
    new = np.array(a + c + b + bar((60, 16)))  # bars 1 and 3 come back, bar 2 holds 1 note
    windows = mus.Windows([np.array(c + b)])
    tally = mus.Tally()
    tally.add(seed, new, minor=False, w2=windows, w4=windows)
    r = tally.row()
    assert r["repeated_bars"] == 0.5 and r["repeated_bars_2_notes"] == 1.0
    assert r["continuations_repeating_a_bar"] == 1.0
    assert r["rest_share"] == pytest.approx(4 / 64, abs=1e-4) and r["continuations_with_a_rest"] == 1.0
    assert r["in_scale"] == 1.0 and r["tonic_endings"] == 1.0
    assert r["copied_2_bars"] == pytest.approx(1 / 3, abs=1e-4) and r["copied_4_bars"] == 0.0


def test_jensen_shannon_distance_is_0_for_the_same_and_1_for_disjoint(mus):
    assert mus.js_distance(np.array([1.0, 2, 3]), np.array([2.0, 4, 6])) == pytest.approx(0)
    assert mus.js_distance(np.array([1.0, 0]), np.array([0.0, 1])) == pytest.approx(1)


def test_rests_are_counted_from_the_tokens(mus):
    """A seed that ends on a sounding note, a continuation whose first token is a
    NOTE_OFF: its notes start a quarter later, and the quarter before is silence that
    the notes alone (steps_of) cannot show."""
    seed = np.array(bar((60, 16)) * 2)
    tokens = np.array([1, 0, 0, 0, ENC.note_on(62)] + [0] * 11 + [ENC.note_on(65)] + [0] * 47)
    notes = [Note(62, (32 + 4) * 120, 12 * 120, 90), Note(65, 48 * 120, 48 * 120, 90)]
    from_notes = mus.steps_of(notes, 32, 64)
    assert from_notes[0] == mus.HOLD  # the NOTE_OFF is lost
    before, after = mus.Tally(), mus.Tally()
    windows = mus.Windows([np.array(bar((72, 16)))])
    before.add(seed, from_notes, False, windows, windows)
    after.add(seed, from_notes, False, windows, windows, tokens=tokens)
    assert before.row()["rest_share"] == 0.0
    assert after.row()["rest_share"] == pytest.approx(4 / 64, abs=1e-4)
    assert after.row()["continuations_with_a_rest"] == 1.0
    # everything else is counted from the notes, as before
    assert {k: v for k, v in after.row().items() if "rest" not in k} == \
        {k: v for k, v in before.row().items() if "rest" not in k}
