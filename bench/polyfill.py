"""Does a polyphonic fill lead into the music after the gap, and what does it cost?

On the four-part Bach chorales of the part-music corpus's test split (as
bench/chorales.py picks them; the first ``--limit`` 20), bars 3-4 are filled in every
part by a polyphonic model (``--model``, poly-wavenet by default) at temperature 1,
4 variations, RNG seed ``--rng-seed`` + the chorale's index
(:func:`engine.generation.polyfill.fill_polyphony`):

* junction: for each part, the interval from its last note starting before the gap's
  end (in the filled song) to its next note (the first starting at or after the end:
  Bach's, kept); a fill "leads in" when every part's interval is at most 5 semitones.
  The share of fills that do, and the mean of each fill's largest interval, for
  - fill: the variations as the app gives them (each the candidate of its group of 6
    after which the model finds the music after the gap likeliest);
  - unweighted: the first candidate of each group, i.e. the same model, prime and
    constraints sampled left to right with no look at the music after the gap;
  - Bach: his own bars 3-4 measured the same way;
* time: one fill of bars 3-4 x 4 variations against continuing the same prime (the
  chorale's first two bars) by 16 bars x 4 variations with
  :func:`engine.generation.polyphony.generate_polyphony` (medians over the chorales,
  one run each, pinned to one core like bench/generation.py).

    python bench/polyfill.py [--models-dir DIR] [--model NAME] [--limit N] [--rng-seed S]
                             [--no-pin]

Prints a table and writes bench/results/polyfill.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

common.single_threaded()

import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from bench.chorales import cut_song, test_chorales  # noqa: E402
from engine.encodings.polyphony import playable_tracks  # noqa: E402
from engine.generation.fill import CANDIDATES, bar_range_ticks  # noqa: E402
from engine.generation.generator import GenerationSettings  # noqa: E402
from engine.generation.polyfill import apply_parts, fill_polyphony  # noqa: E402
from engine.generation.polyphony import generate_polyphony  # noqa: E402
from engine.models import ModelLibrary  # noqa: E402
from engine.song import Song  # noqa: E402

FILL_BARS = (3, 4)
CONTINUE_BARS = 16
VARIATIONS = 4
LEAP = 5  # semitones: the most a part may move into its next note


def largest_leap(song: Song, end: int) -> int | None:
    """The largest interval, over the parts, from a part's last note starting before
    ``end`` to its first starting at or after it (None when no part has both)."""
    leaps = []
    for t in playable_tracks(song):
        notes = song.tracks[t].notes
        last = max((n for n in notes if n.start_tick < end),
                   key=lambda n: (n.start_tick, n.pitch), default=None)
        nxt = min((n for n in notes if n.start_tick >= end),
                  key=lambda n: (n.start_tick, -n.pitch), default=None)
        if last is not None and nxt is not None:
            leaps.append(abs(nxt.pitch - last.pitch))
    return max(leaps) if leaps else None


class Tally:
    def __init__(self) -> None:
        self.leaps: list[int] = []

    def add(self, leap: int | None) -> None:
        if leap is not None:
            self.leaps.append(leap)

    def figures(self) -> dict:
        n = len(self.leaps)
        return {"fills": n,
                "lead_in_share": round(sum(x <= LEAP for x in self.leaps) / n, 3) if n else None,
                "mean_largest_leap": round(statistics.mean(self.leaps), 2) if n else None}


def one_chorale(library: ModelLibrary, model: str, song: Song, rng_seed: int,
                tallies: dict[str, Tally]) -> dict:
    """Fill bars 3-4 of one chorale (timed), continue its first two bars (timed), and
    tally the junctions of the fills, of the first candidates and of Bach's own bars."""
    start, end = bar_range_ticks(song, *FILL_BARS)
    settings = GenerationSettings(model=model, temperature=1.0, variations=VARIATIONS,
                                  rng_seed=rng_seed)
    t0 = time.perf_counter()
    result = fill_polyphony(library, song, settings, start_tick=start, end_tick=end)
    fill_ms = (time.perf_counter() - t0) * 1e3
    seed = cut_song(song, start)
    cont = GenerationSettings(model=model, temperature=1.0, variations=VARIATIONS,
                              rng_seed=rng_seed, bars=CONTINUE_BARS)
    t0 = time.perf_counter()
    generate_polyphony(library, seed, cont)
    continue_ms = (time.perf_counter() - t0) * 1e3
    every = fill_polyphony(library, song, settings, start_tick=start, end_tick=end,
                           candidates=True)
    leaps = {"fill": [], "unweighted": []}
    for what, res, picks in (("fill", result, range(len(result.variations))),
                             ("unweighted", every,
                              range(0, len(every.variations), CANDIDATES))):
        for i in picks:
            filled = apply_parts(song, start, end, res.variations[i], res.track_of[i])
            leap = largest_leap(filled, end)
            tallies[what].add(leap)
            leaps[what].append(leap)
    bach = largest_leap(song, end)
    tallies["bach"].add(bach)
    return {"fill_ms": fill_ms, "continue_ms": continue_ms, "bach_leap": bach, **leaps}


def print_report(results: dict, chorales: int) -> None:
    figures, timing = results["junction"], results["time"]
    print(f"\n{chorales} test chorales, bars {FILL_BARS[0]}-{FILL_BARS[1]} filled by "
          f"{results['model']}, {VARIATIONS} variations, temperature 1\n")
    print("| | fills | every part within 5 semitones of its next note | mean largest leap |")
    print("|---|---|---|---|")
    for name, label in (("fill", "fill (best of 6)"), ("unweighted", "first candidates"),
                        ("bach", "Bach")):
        f = figures[name]
        print(f"| {label} | {f['fills']} | {f['lead_in_share']:.1%} | "
              f"{f['mean_largest_leap']} |")
    print(f"\ntime (median): fill {timing['fill_ms_median']} ms, continue {CONTINUE_BARS} bars "
          f"x {VARIATIONS} {timing['continue_ms_median']} ms, ratio {timing['ratio']}")


def main(argv: list[str] | None = None) -> int:
    ap = common.parser(__doc__, models_dir=True)
    ap.add_argument("--model", default="poly-wavenet")
    ap.add_argument("--limit", type=int, default=20, help="the first N test chorales")
    ap.add_argument("--rng-seed", type=int, default=0)
    ap.add_argument("--no-pin", action="store_true")
    common.add_out(ap, "polyfill")
    args = ap.parse_args(argv)
    pinned = common.pinned_unless(args.no_pin)
    library = common.library_with(args, args.model)
    if library is None:
        return 1
    chorales, source = test_chorales(args.limit)
    print(f"{len(chorales)} test chorales from {source}; {args.model}; {pinned}",
          file=sys.stderr)
    tallies = {"fill": Tally(), "unweighted": Tally(), "bach": Tally()}
    fill_ms, continue_ms, rows = [], [], []
    for index, (pid, song) in enumerate(chorales):
        if index == 0:  # warm-up: sessions
            start, end = bar_range_ticks(song, *FILL_BARS)
            fill_polyphony(library, song, GenerationSettings(
                model=args.model, temperature=1.0, variations=VARIATIONS, rng_seed=args.rng_seed),
                start_tick=start, end_tick=end)
        r = one_chorale(library, args.model, song, args.rng_seed + index, tallies)
        fill_ms.append(r["fill_ms"])
        continue_ms.append(r["continue_ms"])
        rows.append({"id": pid, "fill_ms": round(r["fill_ms"], 1),
                     "continue_ms": round(r["continue_ms"], 1), "bach_leap": r["bach_leap"],
                     "fill": r["fill"], "unweighted": r["unweighted"]})
        print(f"{pid}: fill {r['fill_ms']:.0f} ms, continue {r['continue_ms']:.0f} ms, "
              f"leaps {r['fill']} (unweighted {r['unweighted']}, Bach {r['bach_leap']})",
              file=sys.stderr)
    timing = {"fill_ms_median": round(statistics.median(fill_ms), 1),
              "continue_ms_median": round(statistics.median(continue_ms), 1)}
    timing["ratio"] = round(timing["fill_ms_median"] / timing["continue_ms_median"], 3)
    results = {"command": common.command_line("polyfill", argv),
               "model": args.model, "source": source, "cpu": pinned,
               "machine": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M"),
               "fill_bars": list(FILL_BARS), "continue_bars": CONTINUE_BARS,
               "variations": VARIATIONS, "candidates": CANDIDATES, "temperature": 1.0,
               "leap_semitones": LEAP, "junction": {k: t.figures() for k, t in tallies.items()},
               "time": timing, "chorales": rows}
    print_report(results, len(chorales))
    common.write_json(args.out, results, say=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
