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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import ROOT  # noqa: E402

common.single_threaded()

import dataclasses  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

from engine.formats import midi_file_to_song  # noqa: E402
from engine.generation.fill import bar_range_ticks, fill  # noqa: E402
from engine.generation.generator import GenerationSettings, generate  # noqa: E402
from engine.models import ModelLibrary  # noqa: E402

SEED = ROOT / "assets" / "default_seed.mid"
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


def figures(library: ModelLibrary, seed, info, memory: bool, span: tuple[int, int],
            repeats: int) -> tuple[dict, dict[str, float]]:
    """One fill model's row (and the medians behind it): its fill against continuing with
    it and with its plain twin, interleaved."""
    start, end = span
    name = info.name
    twin = info.card.get("hyperparameters", {}).get("architecture")
    fs = _settings(memory, model=name, variations=VARIATIONS, rng_seed=1)
    cs = _settings(memory, model=name, variations=VARIATIONS, rng_seed=1, bars=CONTINUE_BARS)
    fns = {"fill": lambda: fill(library, seed, fs, start_tick=start, end_tick=end),
           "continue": lambda: generate(library, seed, cs)}
    if twin in library.names:
        ts = _settings(memory, model=twin, variations=VARIATIONS, rng_seed=1,
                       bars=CONTINUE_BARS)
        fns["continue_plain"] = lambda: generate(library, seed, ts)
    for fn in fns.values():
        fn()  # warm-up: sessions
    ms = common.interleaved(fns, repeats)
    r = {k + "_ms": round(v, 2) for k, v in ms.items()}
    r["fill_steps"] = fill(library, seed, fs, start_tick=start, end_tick=end).steps
    r["ratio"] = round(ms["fill"] / ms["continue"], 3)
    if "continue_plain" in ms:
        r["plain_model"] = twin
        r["ratio_to_plain"] = round(ms["fill"] / ms["continue_plain"], 3)
    r["meets_goal"] = (r["ratio"] < GOAL_RATIO and r.get("ratio_to_plain", 0) < GOAL_RATIO)
    return r, ms


def main(argv: list[str] | None = None) -> int:
    ap = common.parser(__doc__, models_dir=True)
    ap.add_argument("--repeats", type=int, default=21, help="timed runs per figure (median)")
    ap.add_argument("--no-pin", action="store_true")
    common.add_out(ap, "fill")
    args = ap.parse_args(argv)
    pinned = common.pinned_unless(args.no_pin)
    library = ModelLibrary(common.model_folders(args))
    seed = midi_file_to_song(SEED)
    span = bar_range_ticks(seed, *FILL_BARS)
    results = {"command": common.command_line("fill", argv),
               "cpu": pinned, "machine": platform.platform(),
               "date": time.strftime("%Y-%m-%d %H:%M"), "seed": SEED.name,
               "fill_bars": list(FILL_BARS), "continue_bars": CONTINUE_BARS,
               "variations": VARIATIONS,
               "load_average_before": common.load_averages(), "models": {}}
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
            r, ms = figures(library, seed, info, memory, span, args.repeats)
            results[key][info.name] = r
            print(f"{info.name:>14} {ms['fill']:8.2f} {ms['continue']:9.2f} {r['ratio']:6.3f} "
                  f"{ms.get('continue_plain', float('nan')):11.2f} "
                  f"{r.get('ratio_to_plain', float('nan')):6.3f}")
    results["load_average_after"] = common.load_averages()
    common.write_json(args.out, results, say=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
