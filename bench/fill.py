"""How fast is a fill against a continuation? Issue 13's target: filling 2 bars with 4
variations takes under a third of the time of continuing 16 bars with 4 variations.

For each model whose card lists the fill job (``models/`` by default), on the default
seed (assets/default_seed.mid, 4 bars of 4/4), interleaved run by run so that a
machine's drift hits both alike:

* fill: :func:`engine.generation.fill.fill` of bars 2-3 (prime the fill prompt once,
  then one step-model call per step of the gap for all variations), as the app calls it;
* continue: :func:`engine.generation.generator.generate` of 16 bars (256 steps) after the
  seed with the same model, and with its plain twin (``lstm`` for ``lstm-fill``);

first the network alone (no motif memory: ``models`` in the JSON), then both with the
motif memory, as the app runs them by default (``models_with_memory``).

Pinned to one core, one thread per library, like bench/generation.py (whose timing
helpers it uses).

    python bench/fill.py [--models-dir DIR] [--repeats N]

Prints a table and writes bench/results/fill.json.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generation import pin_to_one_core  # noqa: E402
from engine.formats import midi_file_to_song  # noqa: E402
from engine.generation.fill import bar_range_ticks, fill  # noqa: E402
from engine.generation.generator import GenerationSettings, generate  # noqa: E402
from engine.models import ModelLibrary  # noqa: E402

SEED = ROOT / "assets" / "default_seed.mid"
RESULTS = ROOT / "bench" / "results" / "fill.json"
FILL_BARS = (2, 3)
CONTINUE_BARS = 16
VARIATIONS = 4
GOAL_RATIO = 1 / 3


def _settings(memory: bool = False, **kw) -> GenerationSettings:
    """Settings for the network alone, or with the motif memory (where this Continuo
    has one)."""
    if "memory" in {f.name for f in dataclasses.fields(GenerationSettings)}:
        kw["memory"] = memory
    return GenerationSettings(**kw)


def interleaved(fns: dict, repeats: int) -> dict[str, float]:
    """Median ms of each function, the functions taking turns run by run."""
    import statistics

    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models-dir", action="append", help="model folder (default: models/)")
    ap.add_argument("--repeats", type=int, default=21, help="timed runs per figure (median)")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    pinned = "not pinned (--no-pin)" if args.no_pin else pin_to_one_core()
    folders = [Path(d) for d in args.models_dir] if args.models_dir else [ROOT / "models"]
    library = ModelLibrary(folders)
    seed = midi_file_to_song(SEED)
    start, end = bar_range_ticks(seed, *FILL_BARS)
    results = {"command": "python bench/fill.py " + " ".join(argv or sys.argv[1:]),
               "cpu": pinned, "machine": platform.platform(),
               "date": time.strftime("%Y-%m-%d %H:%M"), "seed": SEED.name,
               "fill_bars": list(FILL_BARS), "continue_bars": CONTINUE_BARS,
               "variations": VARIATIONS,
               "load_average_before": [round(x, 2) for x in os.getloadavg()], "models": {}}
    print(f"fill bars {FILL_BARS[0]}-{FILL_BARS[1]} vs continue {CONTINUE_BARS} bars, "
          f"{VARIATIONS} variations, median of {args.repeats} ms; {pinned}")
    print(f"{'model':>14} {'fill':>8} {'continue':>9} {'ratio':>6} {'plain twin':>11} "
          f"{'ratio':>6}")
    for memory, key in ((False, "models"), (True, "models_with_memory")):
        results.setdefault(key, {})
        print("the network alone" if not memory else "with the motif memory")
        for info in library.models:
            if "fill" not in info.jobs:
                continue
            name = info.name
            twin = info.card.get("hyperparameters", {}).get("architecture")
            fs = _settings(memory, model=name, variations=VARIATIONS, rng_seed=1)
            cs = _settings(memory, model=name, variations=VARIATIONS, rng_seed=1,
                           bars=CONTINUE_BARS)
            fns = {"fill": lambda: fill(library, seed, fs, start_tick=start, end_tick=end),
                   "continue": lambda: generate(library, seed, cs)}
            if twin in library.names:
                ts = _settings(memory, model=twin, variations=VARIATIONS, rng_seed=1,
                               bars=CONTINUE_BARS)
                fns["continue_plain"] = lambda: generate(library, seed, ts)
            for fn in fns.values():
                fn()  # warm-up: sessions
            ms = interleaved(fns, args.repeats)
            r = {k + "_ms": round(v, 2) for k, v in ms.items()}
            r["fill_steps"] = fill(library, seed, fs, start_tick=start, end_tick=end).steps
            r["ratio"] = round(ms["fill"] / ms["continue"], 3)
            if "continue_plain" in ms:
                r["plain_model"] = twin
                r["ratio_to_plain"] = round(ms["fill"] / ms["continue_plain"], 3)
            r["meets_goal"] = (r["ratio"] < GOAL_RATIO
                               and r.get("ratio_to_plain", 0) < GOAL_RATIO)
            results[key][name] = r
            print(f"{name:>14} {ms['fill']:8.2f} {ms['continue']:9.2f} {r['ratio']:6.3f} "
                  f"{ms.get('continue_plain', float('nan')):11.2f} "
                  f"{r.get('ratio_to_plain', float('nan')):6.3f}")
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
