"""How long does the piano roll take to paint, with 10,000 notes in the song?

Three views of the same 10,000-note song (four voices of eighth notes, 625 bars):
the default zoom (a few bars visible), a whole-song view with all 10,000 notes on
screen, and the whole-song view with every note selected.  Each row is the median and
the worst of N ``grab()`` calls, which paint the widget into a pixmap through the
same paintEvent the screen uses, and the median CPU time of this process (steadier
on a shared machine).  Also timed: the repaint of the
thin strip that a moving playhead damages, one hit-test and one rubber-band query.
The chord lane is timed too, with 10,000 chord changes over the same song (a chord
every 60 ticks), at the default zoom and with the whole song in view.

    QT_QPA_PLATFORM=offscreen python bench/pianoroll_paint.py [--runs N]

Prints a table and writes bench/results/pianoroll_paint.json.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
from dataclasses import replace
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QRect  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from engine.song import DRUM_CHANNEL, Chord, Note, melody_song  # noqa: E402
from gui.document import SongDocument  # noqa: E402
from gui.pianoroll.selection import hit_test, notes_in_rect  # noqa: E402
from gui.pianoroll.view import PianoRoll  # noqa: E402

WIDTH, HEIGHT = 1400, 800


def song_of(count: int, seed: int = 1, chords: int = 0):
    """Four voices of eighth notes: a dense, realistic texture of ``count`` notes;
    ``chords`` chord changes spread evenly over it."""
    rng = random.Random(seed)
    notes = []
    for i in range(count):
        voice, step = i % 4, i // 4
        notes.append(Note(48 + voice * 7 + rng.randrange(0, 7), step * 240, 240,
                          rng.randrange(40, 120)))
    song = melody_song(notes)
    end = max(1, song.end_tick)
    names = ("C", "Am7", "Dm7", "G7", "Fmaj7", "Bm7b5", "E7/G#", "Ebdim7")
    song.chords = [Chord(i * end // chords, names[i % len(names)]) for i in range(chords)]
    return song


def timed(fn, runs: int) -> tuple[float, float, float]:
    """Median and worst wall-clock ms, and median CPU ms of this process.

    The CPU figure is the steadier one on a shared machine: it leaves out the time
    other processes had the core.
    """
    walls, cpus = common.wall_and_cpu_ms(fn, runs)
    return statistics.median(walls), max(walls), statistics.median(cpus)


def paint_rows(roll: PianoRoll, doc: SongDocument, runs: int) -> list[dict]:
    """Paint times of the five views and of the playhead strip."""
    rows = []

    def measure(name: str, widget) -> None:
        widget.grab()  # warm up
        median, worst, cpu = timed(widget.grab, runs)
        start, end = roll.geometry.visible_ticks(roll.grid.width())
        low, high = roll.geometry.visible_pitches(roll.grid.height())
        visible = len(doc.notes_in_range(start, end, low, high))
        rows.append({"view": name, "visible_notes": visible, "median_ms": round(median, 2),
                     "worst_ms": round(worst, 2), "median_cpu_ms": round(cpu, 2)})

    measure("default zoom, whole widget", roll)
    measure("default zoom, grid only", roll.grid)
    roll.zoom_time(roll.grid.width() / roll.geometry.pixels_for_ticks(doc.end_tick), 0)
    measure("all notes on screen, whole widget", roll)
    measure("all notes on screen, grid only", roll.grid)
    doc.select_all()
    measure("all notes on screen and selected", roll)
    doc.set_selection(())
    strip = QRect(roll.grid.width() // 2 - 2, 0, 5, roll.grid.height())
    median, worst, cpu = timed(lambda: roll.grid.repaint(strip), runs)
    rows.append({"view": "all on screen, playhead strip repaint", "visible_notes": 0,
                 "median_ms": round(median, 2), "worst_ms": round(worst, 2),
                 "median_cpu_ms": round(cpu, 2)})
    return rows


def chord_rows(roll: PianoRoll, doc: SongDocument, runs: int) -> list[dict]:
    """Paint times of the chord lane, at the default zoom and the whole song in view."""
    rows = []
    lane = roll.chord_lane
    for name, whole in (("chord lane, default zoom", False),
                        ("chord lane, all chords on screen", True)):
        roll.geometry.scroll_x = 0.0
        if whole:
            roll.zoom_time(roll.grid.width() / roll.geometry.pixels_for_ticks(doc.end_tick), 0)
        else:
            roll.geometry.px_per_tick = 80 / 480
        lane.grab()
        median, worst, cpu = timed(lane.grab, runs)
        rows.append({"view": name, "visible_chords": len(lane.spans()),
                     "median_ms": round(median, 2), "worst_ms": round(worst, 2),
                     "median_cpu_ms": round(cpu, 2)})
    return rows


def drum_rows(count: int, runs: int) -> list[dict]:
    """The grid's paint times with the same notes on a drum track (a hit each: a diamond,
    or a small square where diamonds would be tiny or too many), default zoom and every
    note on screen."""
    song = song_of(count)
    track = song.tracks[0]
    track.is_drum, track.channel = True, DRUM_CHANNEL
    track.notes = [replace(n, channel=DRUM_CHANNEL) for n in track.notes]
    doc = SongDocument(song)
    doc.active_track = 0
    roll = PianoRoll(doc)
    roll.resize(WIDTH, HEIGHT)
    roll.show()
    QApplication.processEvents()
    rows = []
    for name, whole in (("drum track, default zoom, grid", False),
                        ("drum track, all on screen, grid", True)):
        if whole:
            roll.zoom_time(roll.grid.width() / roll.geometry.pixels_for_ticks(doc.end_tick), 0)
        roll.grid.grab()
        median, worst, cpu = timed(roll.grid.grab, runs)
        start, end = roll.geometry.visible_ticks(roll.grid.width())
        low, high = roll.geometry.visible_pitches(roll.grid.height())
        rows.append({"view": name, "visible_notes": len(doc.notes_in_range(start, end, low,
                                                                           high)),
                     "median_ms": round(median, 2), "worst_ms": round(worst, 2),
                     "median_cpu_ms": round(cpu, 2)})
    return rows


def main() -> int:
    ap = common.parser(__doc__, first_line=True)
    ap.add_argument("--notes", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--chords", type=int, default=10_000)
    common.add_out(ap, "pianoroll_paint")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    doc = SongDocument(song_of(args.notes))
    roll = PianoRoll(doc)
    roll.resize(WIDTH, HEIGHT)
    roll.show()
    app.processEvents()
    rows = paint_rows(roll, doc, args.runs)
    lane_doc = SongDocument(song_of(args.notes, chords=args.chords))
    lane_roll = PianoRoll(lane_doc)
    lane_roll.resize(WIDTH, HEIGHT)
    lane_roll.show()
    app.processEvents()
    lane = chord_rows(lane_roll, lane_doc, args.runs)
    rows += drum_rows(args.notes, args.runs)
    geo = roll.geometry
    x, y = geo.tick_to_x(240 * 1000), geo.pitch_to_y(60) + 1
    hit_ms, _, _ = timed(lambda: hit_test(doc, geo, x, y), 200)
    band_ms, _, _ = timed(lambda: notes_in_rect(doc, geo, 0, 0, roll.grid.width() / 2,
                                             roll.grid.height()), 20)
    print(f"piano roll paint, {len(doc)} notes, {WIDTH}x{HEIGHT}, "
          f"median/worst of {args.runs} grab() calls")
    print(f"{'view':<36} {'visible':>8} {'median ms':>10} {'worst ms':>9} {'CPU ms':>7}")
    for r in rows:
        print(f"{r['view']:<36} {r['visible_notes']:>8} {r['median_ms']:>10.1f} "
              f"{r['worst_ms']:>9.1f} {r['median_cpu_ms']:>7.1f}")
    for r in lane:
        print(f"{r['view']:<36} {r['visible_chords']:>8} {r['median_ms']:>10.1f} "
              f"{r['worst_ms']:>9.1f} {r['median_cpu_ms']:>7.1f}  (chords)")
    print(f"hit-test at one point: {hit_ms * 1000:.0f} us; "
          f"rubber band over half the song: {band_ms:.1f} ms")
    common.write_json(args.out, {
        "notes": len(doc), "size": [WIDTH, HEIGHT], "runs": args.runs, "rows": rows,
        "chords": lane_doc.chord_count(), "chord_lane_rows": lane,
        "hit_test_us": round(hit_ms * 1000, 1), "rubber_band_half_song_ms": round(band_ms, 2),
        "python": platform.python_version(), "machine": platform.machine(),
        "load_average_1min": round(os.getloadavg()[0], 1), "cpus": os.cpu_count(),
    }, say=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
