"""The motif memory's cost, this checkout's against another's, in one process.

Every model with a memory (the melody models, the drum model, the part models) generates
as the app does: with the memory off, with the baseline checkout's memory
(``engine/generation/memory.py`` of ``--baseline DIR``, loaded beside this one's) and
with this checkout's, the three taking turns run by run; the fastest of ``--repeats``
runs of each, in CPU time (the process's; steadier than the wall clock on a shared
machine).  Everything but the memory is this checkout's, so the two memory columns
differ by the memory's code alone.  The table gives each memory over the network
alone (issue 27's goal: at most 1.3 for the melody models).

Before timing, the two memories are checked to give the same numbers: a generation's
recorded network logits and tokens are replayed through both mixers, whose
log-probabilities must be array_equal at every step, and the generations with either
memory must draw the same tokens.

For the melody models the memory alone is timed too: the recorded generation replayed
through each memory's mixer (built, asked and fed every step), CPU microseconds a step,
the fastest of ``--replay-repeats``: "hot" as replayed, "swept" with ``--sweep-mib``
MiB read between steps where the network's step would run (out of the timing), which
leaves the memory's data, and numpy's, out of the caches as a generation does (a step
costs about twice as much swept as hot, which is what a generation sees).

    python bench/memory_speed.py --baseline DIR [--repeats N] [--models NAME ...]
                                 [--variations K ...] [--no-pin] [--out FILE]
                                 [--replay-repeats N] [--sweep-mib MIB]

Melodies: 256 steps after assets/default_seed.mid; drums: 16 bars after
tests/data/drums/swing-tiny.mid; part models: 16 bars after the first 4 of music21's
bwv66.6.  Prints a table and writes bench/results/memory_speed.json.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

common.single_threaded()

import argparse  # noqa: E402
import hashlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import engine.generation.drum_memory as drum_memory  # noqa: E402
import engine.generation.mixers.memory as melody_memory  # noqa: E402
import engine.generation.part_memory as part_memory  # noqa: E402
from bench.common import ROOT, poly_seed  # noqa: E402
from engine.encodings import DEFAULT_ENCODING  # noqa: E402
from engine.formats import load_song, midi_file_to_song  # noqa: E402
from engine.generation import memory as this_memory  # noqa: E402
from engine.generation.generator import GenerationSettings, generate  # noqa: E402
from engine.models import ModelLibrary  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "memory_speed.json"
MELODY_SEED = ROOT / "assets" / "default_seed.mid"
DRUM_SEED = ROOT / "tests" / "data" / "drums" / "swing-tiny.mid"
STEPS = 256
DRUM_BARS = 16
GOAL = 1.3
# the modules that name MemoryMixer for a job: swapped to time the baseline's
USERS = (melody_memory, drum_memory, part_memory)


def load_baseline(checkout: Path):
    """The baseline checkout's memory module, loaded under a name of its own, with its
    own compiled steps (``memory_kernels.py``) where it has them."""
    def load(name: str, path: Path):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
        return module

    folder = checkout / "engine" / "generation"
    module = load("baseline_memory", folder / "memory.py")
    if (folder / "memory_kernels.py").exists() and hasattr(module, "kernels"):
        module.kernels = load("baseline_memory_kernels", folder / "memory_kernels.py")
    return module


class Using:
    """Jobs build ``module``'s MemoryMixer while this is entered."""

    def __init__(self, module) -> None:
        self.cls = module.MemoryMixer

    def __enter__(self):
        self.saved = [u.MemoryMixer for u in USERS]
        for u in USERS:
            u.MemoryMixer = self.cls

    def __exit__(self, *exc):
        for u, cls in zip(USERS, self.saved):
            u.MemoryMixer = cls


def kind_of(info) -> str:
    enc = info.card.get("encoding", {})
    if enc.get("drums") or str(enc.get("name", "")).startswith("drums"):
        return "drums"
    if enc.get("polyphonic") or str(enc.get("name", "")).startswith("poly"):
        return "parts"
    return "melody"


def job(library, info, k: int, memory: bool):
    """A generation as the app runs it (its result's tokens, for the check)."""
    kind = kind_of(info)
    if kind == "melody":
        seed = midi_file_to_song(MELODY_SEED)
        s = GenerationSettings(model=info.name, steps=STEPS, variations=k, memory=memory)
        return lambda: generate(library, seed, s).tokens
    if kind == "drums":
        from engine.generation.jobs.drums import clear_seed_styles, continue_drums

        song = load_song(str(DRUM_SEED))
        s = GenerationSettings(model=info.name, bars=DRUM_BARS, variations=k, memory=memory)

        def drums():  # "auto" weighs every style each time: a cold cache
            clear_seed_styles()
            return continue_drums(library, song, s, start_tick=song.end_tick,
                                  new_notes=None)[0]
        return drums
    from engine.generation.polyphony import generate_polyphony

    pseed, start = poly_seed()
    s = GenerationSettings(model=info.name, steps=STEPS, variations=k, memory=memory)
    return lambda: generate_polyphony(library, pseed, s, start_tick=start).variations


def digest(value) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def recorded(library, name: str, k: int):
    """A melody generation's network logits ``[step, row, vocab]``, tokens ``[row,
    step]``, the prefix the memory is fed and the mixing."""
    seed = midi_file_to_song(MELODY_SEED)
    s = GenerationSettings(model=name, steps=STEPS, variations=k, memory=True, rng_seed=3)
    result = generate(library, seed, s, record_logits=True)
    return (np.asarray(result.logits).transpose(1, 0, 2), np.array(result.tokens),
            DEFAULT_ENCODING.song_to_tokens(seed), this_memory.mixing_for(name))


def replay_check(library, baseline, name: str, k: int) -> int:
    """A melody generation's network logits and tokens through both memories' mixers:
    the steps whose log-probabilities differ (0: every one array_equal)."""
    logits, tokens, prefix, mixing = recorded(library, name, k)
    mixers = [m.MemoryMixer(logits.shape[2], k, prefix, mixing, steps=STEPS)
              for m in (this_memory, baseline)]
    differ = 0
    for step in range(len(logits)):
        a, b = (m(logits[step]) for m in mixers)
        differ += not np.array_equal(a, b)
        for m in mixers:
            m.update(tokens[:, step])
    return differ


def replay_us(library, baseline, name: str, k: int, repeats: int,
              sweep_mib: float) -> dict[str, float]:
    """The memory alone: a recorded generation replayed through each memory's mixer
    (built, asked and fed every step), CPU microseconds a step, the fastest of
    ``repeats`` taking turns; "hot" as replayed, "swept" with ``sweep_mib`` MiB read
    between steps where the network's step runs (out of the timing), which leaves the
    memory's data and numpy's out of the caches as a generation does."""
    logits, tokens, prefix, mixing = recorded(library, name, k)
    sweep = np.ones(max(1, int(sweep_mib * (1 << 20) / 8)))
    best = {}
    for _ in range(repeats):
        for label, module in (("old", baseline), ("new", this_memory)):
            for swept in (False, True):
                spent = 0.0
                t0 = time.process_time()
                mixer = module.MemoryMixer(logits.shape[2], k, prefix, mixing, steps=STEPS)
                spent += time.process_time() - t0
                for step in range(len(logits)):
                    if swept:
                        sweep.sum()
                    t0 = time.process_time()
                    mixer(logits[step])
                    mixer.update(tokens[:, step])
                    spent += time.process_time() - t0
                key = f"{label}_{'swept' if swept else 'hot'}"
                best[key] = min(best.get(key, float("inf")), spent / len(logits) * 1e6)
    return best


def fastest_cpu_ms(fns: dict, repeats: int) -> dict[str, float]:
    for fn in fns.values():
        fn()
    best = {key: float("inf") for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            c0 = time.process_time()
            fn()
            best[key] = min(best[key], (time.process_time() - c0) * 1e3)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, metavar="DIR",
                    help="the checkout whose memory.py is timed beside this one's")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--models", nargs="+", help="these models alone")
    ap.add_argument("--variations", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--replay-repeats", type=int, default=7,
                    help="melody models: the memory alone, replayed (0: not timed)")
    ap.add_argument("--sweep-mib", type=float, default=4.0,
                    help="MiB read between replayed steps for the swept column")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)

    pinned = common.pinned_unless(args.no_pin)
    baseline = load_baseline(Path(args.baseline).resolve())
    library = ModelLibrary([ROOT / "models"])
    infos = [i for i in library.models if args.models is None or i.name in args.models]
    out = {"baseline": str(Path(args.baseline).resolve()), "repeats": args.repeats,
           "pinned": pinned, "machine": platform.machine(), "python": platform.python_version(),
           "numpy": np.__version__, "date": time.strftime("%Y-%m-%d %H:%M"),
           "command": " ".join(sys.argv), "load_average_before": os.getloadavg(), "rows": []}
    print(f"memory over the network alone, fastest of {args.repeats} CPU ms, "
          f"{pinned}, load {os.getloadavg()[0]:.1f}")
    print(f"{'model':13s} {'K':>2s} {'off':>8s} {'old':>8s} {'new':>8s} {'old/off':>8s} "
          f"{'new/off':>8s} {'new/old':>8s}  same")
    for info in infos:
        for k in args.variations:
            off = job(library, info, k, False)
            with Using(baseline):
                old = job(library, info, k, True)
                old_tokens = old()
            new = job(library, info, k, True)
            same = digest(new()) == digest(old_tokens)
            if kind_of(info) == "melody":
                same = same and replay_check(library, baseline, info.name, k) == 0

            def run_old():
                with Using(baseline):
                    old()

            best = fastest_cpu_ms({"off": off, "old": run_old, "new": new}, args.repeats)
            row = {"model": info.name, "kind": kind_of(info), "variations": k,
                   "off_cpu_ms": round(best["off"], 2), "old_cpu_ms": round(best["old"], 2),
                   "new_cpu_ms": round(best["new"], 2),
                   "old_over_off": round(best["old"] / best["off"], 3),
                   "new_over_off": round(best["new"] / best["off"], 3),
                   "new_over_old": round(best["new"] / best["old"], 3), "same_output": same}
            replay = ""
            if kind_of(info) == "melody" and args.replay_repeats > 0:
                us = replay_us(library, baseline, info.name, k, args.replay_repeats,
                               args.sweep_mib)
                row.update({f"replay_{key}_us_per_step": round(v, 1) for key, v in us.items()})
                replay = (f"  replayed {us['old_hot']:.1f} -> {us['new_hot']:.1f} us, "
                          f"swept {us['old_swept']:.1f} -> {us['new_swept']:.1f} us")
            out["rows"].append(row)
            print(f"{info.name:13s} {k:2d} {row['off_cpu_ms']:8.1f} {row['old_cpu_ms']:8.1f} "
                  f"{row['new_cpu_ms']:8.1f} {row['old_over_off']:8.2f} "
                  f"{row['new_over_off']:8.2f} {row['new_over_old']:8.2f}  "
                  f"{'yes' if same else 'NO'}{replay}", flush=True)
    out["load_average_after"] = os.getloadavg()
    out["goal_met"] = {f"{r['model']} x{r['variations']} <= {GOAL}x": r["new_over_off"] <= GOAL
                       for r in out["rows"] if r["kind"] == "melody"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(r["same_output"] for r in out["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
