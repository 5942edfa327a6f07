"""Regenerate Part on Bach's chorales: does every other voice stay, and does the new one
keep its range and its voice leading?

On the four-part Bach chorales of the part-music corpus's test split (as
bench/chorales.py picks them), each voice in turn is regenerated over bars 5-8 by a
polyphonic model (``--model``, poly-wavenet by default; 4 variations, temperature 1, RNG
seed ``--rng-seed`` + the chorale's index) through the engine's job
(:mod:`engine.generation.jobs.regenerate`), and each variation is put into the song
(:func:`~engine.generation.jobs.regenerate.apply_part`) and saved as MIDI:

* others byte-identical: the share of variations whose saved MIDI has every other
  voice's track chunk byte for byte as the original song saves it (target 100%);
* in range: the share of the regenerated voice's new notes within its seed range (its
  lowest to highest pitch in bars 1-4) +/- 3 semitones (target >= 95%);
* parallels: parallel fifths and octaves between the regenerated voice and each fixed
  voice per 100 beats (bench/chorales.py's counter, on beat-by-beat sonorities of bars
  5-8), beside Bach's own rate for the same voice against the same voices (target:
  within 3x Bach's);
* time: the median time of one regeneration of bars 5-8 against continuing every
  part of bars 1-4 by the same 4 bars, and of regenerating the alto over bars 1-8
  against continuing bars 1-4 by 8 bars (the same variations; ``--repeats`` rounds of
  each chorale, 3 by default, every other one in the reverse order; pinned to one
  core unless ``--no-pin``), in this process's CPU time, which other work on a shared
  machine inflates less than the wall clock.

    python bench/regenerate.py [--models-dir DIR] [--model NAME] [--limit N]
                               [--rng-seed S] [--repeats N] [--no-pin]

Prints a table and writes bench/results/regenerate.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

common.single_threaded()

import platform  # noqa: E402
import statistics  # noqa: E402
import struct  # noqa: E402
import time  # noqa: E402

from bench.chorales import (RANGE_MARGIN, beats_in, cut_song, in_range, parallels,  # noqa: E402
                            test_chorales, window)
from engine.formats import song_to_midi_bytes  # noqa: E402
from engine.generation import jobs  # noqa: E402
from engine.generation.fill import bar_range_ticks  # noqa: E402
from engine.generation.jobs.regenerate import apply_part  # noqa: E402
from engine.generation.polyphony import generate_polyphony  # noqa: E402
from engine.generation.request import (REGENERATE, GenerationRequest,  # noqa: E402
                                       GenerationSettings)
from engine.models import ModelLibrary  # noqa: E402
from engine.song import Song  # noqa: E402

BARS = (5, 8)
VARIATIONS = 4
TARGET_IN_RANGE = 0.95
TARGET_PARALLELS_OVER_BACH = 3.0
VOICES = ("soprano", "alto", "tenor", "bass")


def track_chunks(data: bytes) -> list[bytes]:
    """The MTrk chunks of a standard MIDI file (the conductor's first)."""
    chunks, pos = [], 14
    while pos < len(data):
        size = struct.unpack(">I", data[pos + 4:pos + 8])[0]
        chunks.append(data[pos:pos + 8 + size])
        pos += 8 + size
    return chunks


def voice_parallels(song: Song, voice: int, notes, start: int, end: int) -> int:
    """Parallel fifths and octaves of ``notes`` (the voice's, bars 5-8) with each other
    voice of ``song`` over [start, end)."""
    beats = beats_in(song, start, end)
    new = window(notes, start, end)
    return sum(parallels([new, window(t.notes, start, end)], beats)
               for i, t in enumerate(song.tracks) if i != voice and t.notes)


class Tally:
    def __init__(self) -> None:
        self.runs = self.identical = self.inside = self.notes = 0
        self.par = self.bach_par = self.beats = self.bach_beats = 0

    def figures(self) -> dict:
        rate = 100 * self.par / self.beats if self.beats else None
        bach = 100 * self.bach_par / self.bach_beats if self.bach_beats else None
        return {"variations": self.runs,
                "others_identical_share": round(self.identical / self.runs, 4)
                if self.runs else None,
                "in_range_share": round(self.inside / self.notes, 4) if self.notes else None,
                "new_notes": self.notes,
                "parallels_per_100_beats": None if rate is None else round(rate, 2),
                "bach_parallels_per_100_beats": None if bach is None else round(bach, 2),
                "over_bach": round(rate / bach, 2) if rate is not None and bach else None}


def settings(model: str, rng_seed: int, **kw) -> GenerationSettings:
    return GenerationSettings(model=model, temperature=1.0, variations=VARIATIONS,
                              rng_seed=rng_seed, memory=False, **kw)


def timed(fn):
    """``fn()`` and the CPU milliseconds this process spent on it."""
    t0 = time.process_time()
    out = fn()
    return out, (time.process_time() - t0) * 1e3


def one_chorale(library: ModelLibrary, model: str, song: Song, rng_seed: int,
                tallies: list[Tally], failures: list, pid: str) -> list[int]:
    """Regenerate each voice of ``song`` over bars 5-8 and tally the variations; the
    voices regenerated (a failure is reported, not fatal)."""
    start, end = bar_range_ticks(song, *BARS)
    original = track_chunks(song_to_midi_bytes(song))
    beats = len(beats_in(song, start, end))
    voices = [i for i, t in enumerate(song.tracks) if t.notes]
    done = []
    for v, tally in zip(voices, tallies):
        request = GenerationRequest(REGENERATE, settings(model, rng_seed), v, start, end)
        try:
            result = jobs.run(library, song, request)
        except Exception as e:  # noqa: BLE001 - a failure is reported, not fatal
            failures.append({"id": pid, "voice": v, "error": str(e)})
            continue
        done.append(v)
        seed = window(song.tracks[v].notes, 0, start)
        bach = voice_parallels(song, v, song.tracks[v].notes, start, end)
        for notes in result.variations:
            out = apply_part(song, v, notes, start, end)
            chunks = track_chunks(song_to_midi_bytes(out))
            tally.runs += 1
            tally.identical += all(chunks[1 + i] == original[1 + i]
                                   for i in range(len(song.tracks)) if i != v)
            inside, count = in_range(seed, notes)
            tally.inside += inside
            tally.notes += count
            tally.par += voice_parallels(song, v, notes, start, end)
            tally.beats += beats
            tally.bach_par += bach
            tally.bach_beats += beats
    return done


def time_chorale(library: ModelLibrary, model: str, song: Song, rng_seed: int,
                 voices: list[int], times: dict[str, list[float]], repeats: int) -> None:
    """``repeats`` rounds of one chorale's timings, in CPU ms, added to ``times``: each of
    ``voices`` regenerated over bars 5-8 and every part of bars 1-4 continued by the same
    4 bars; the alto regenerated over bars 1-8 and bars 1-4 continued by 8 bars.  Every
    other round runs in the reverse order, so that a busy spell of a shared machine falls
    on both sides alike."""
    start, end = bar_range_ticks(song, *BARS)
    seed4 = cut_song(song, start)
    alto = [i for i, t in enumerate(song.tracks) if t.notes][1]

    def regenerate(voice, a, b):
        request = GenerationRequest(REGENERATE, settings(model, rng_seed), voice, a, b)
        return lambda: jobs.run(library, song, request)

    def continued(bars):
        return lambda: generate_polyphony(library, seed4, settings(model, rng_seed, bars=bars),
                                          start_tick=start)

    runs = [("regenerate_4", regenerate(v, start, end)) for v in voices] + [
        ("continue_4", continued(4)),
        ("regenerate_8", regenerate(alto, *bar_range_ticks(song, 1, 8))),
        ("continue_8", continued(8))]
    for round_ in range(repeats):
        for key, fn in runs if round_ % 2 == 0 else runs[::-1]:
            times[key].append(timed(fn)[1])


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def markdown(results: dict) -> str:
    lines = ["| voice | variations | others byte-identical | in seed range +/-3 | "
             "parallels / 100 beats | Bach's | x Bach |",
             "|---|---|---|---|---|---|---|"]
    for name, f in list(results["voices"].items()) + [("all", results["all"])]:
        lines.append(f"| {name} | {f['variations']} | {_pct(f['others_identical_share'])} | "
                     f"{_pct(f['in_range_share'])} | {f['parallels_per_100_beats']} | "
                     f"{f['bach_parallels_per_100_beats']} | {f['over_bach']} |")
    t = results["time"]
    lines.append("")
    lines.append(f"| time (median CPU ms, {results['repeats']} rounds) | regenerate one part | "
                 f"continue every part | ratio |")
    lines.append("|---|---|---|---|")
    for bars in (4, 8):
        r, c = t[f"regenerate_{bars}_ms"], t[f"continue_{bars}_ms"]
        lines.append(f"| {bars} bars x {VARIATIONS} | {r} | {c} | {round(r / c, 2)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = common.parser(__doc__, models_dir=True)
    ap.add_argument("--model", default="poly-wavenet")
    ap.add_argument("--limit", type=int, help="only the first N test chorales")
    ap.add_argument("--rng-seed", type=int, default=0)
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--repeats", type=int, default=3,
                    help="rounds of each chorale's timings (median over all)")
    common.add_out(ap, "regenerate")
    args = ap.parse_args(argv)
    pinned = common.pinned_unless(args.no_pin)
    library = common.library_with(args, args.model)
    if library is None:
        return 1
    chorales, source = test_chorales(args.limit)
    if not chorales:
        print("no four-part test chorales found", file=sys.stderr)
        return 1
    print(f"{len(chorales)} four-part test chorales from {source}; {args.model}; {pinned}",
          file=sys.stderr)
    t0 = time.monotonic()
    library.get(args.model)  # the session, outside the timings
    tallies = [Tally() for _ in VOICES]
    times: dict[str, list[float]] = {k: [] for k in ("regenerate_4", "continue_4",
                                                     "regenerate_8", "continue_8")}
    failures: list[dict] = []
    for index, (pid, song) in enumerate(chorales):
        voices = one_chorale(library, args.model, song, args.rng_seed + index, tallies,
                             failures, pid)
        if len(voices) == len(VOICES):
            time_chorale(library, args.model, song, args.rng_seed + index, voices, times,
                         args.repeats)
            print(f"{pid}: regenerate {statistics.median(times['regenerate_4'][-4:]):.0f} "
                  f"ms a voice", file=sys.stderr)
    every = Tally()
    for t in tallies:
        for k in vars(every):
            setattr(every, k, getattr(every, k) + getattr(t, k))
    results = {
        "command": common.command_line("regenerate", argv), "model": args.model,
        "source": source, "chorales": [pid for pid, _ in chorales], "cpu": pinned,
        "machine": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M"),
        "bars": list(BARS), "variations": VARIATIONS, "temperature": 1.0,
        "range_margin": RANGE_MARGIN,
        "targets": {"others_identical_share": 1.0, "in_range_share": TARGET_IN_RANGE,
                    "parallels_over_bach": TARGET_PARALLELS_OVER_BACH},
        "voices": {name: t.figures() for name, t in zip(VOICES, tallies)},
        "all": every.figures(),
        "time": {f"{k}_ms": round(statistics.median(v), 1) for k, v in times.items() if v},
        "time_runs": {k: len(v) for k, v in times.items()}, "repeats": args.repeats,
        "failures": failures,
        "git": common.git_state("engine_changes_not_committed", "engine"),
    }
    results["seconds"] = round(time.monotonic() - t0, 1)
    results["markdown"] = markdown(results)
    print(f"\n{len(chorales)} test chorales, each voice regenerated over bars "
          f"{BARS[0]}-{BARS[1]} by {args.model}, {VARIATIONS} variations, temperature 1\n")
    print(results["markdown"])
    for f in failures:
        print(f"{f['id']} voice {f['voice'] + 1}: {f['error']}", file=sys.stderr)
    print(f"\n{results['seconds']} s in all")
    common.write_json(args.out, results, say=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
