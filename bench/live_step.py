"""Live Harmonise's step offline, on one core: the CPU of each sampled step, fastest of rounds.

The live accompanist's key press waits for :meth:`LiveHarmony.sample` (the step's tokens:
the part grammar, and the model's calls a draw needs; ``sample_less_model`` leaves the
model's calls out); :meth:`LiveHarmony.prepare` (the model hearing the step's last
tokens) runs after the notes have gone out.  This bench
plays Essen test melodies (bench/accompanist.melody_steps) through a LiveHarmony with no
ports and no clock, ``--rounds`` times with the same seed (the same tokens every round),
and keeps each step's fastest CPU time over the rounds: a figure that a shared machine's
busy spells barely move, for comparing two versions of the engine's live path.  The
tokens and notes are hashed, so two versions that must play the same can be checked to.

Usage:  .venv/bin/python bench/live_step.py [--model poly-wavenet] [--voices 3] [--seed 1]
        [--notes 200] [--rounds 5] [--no-pin] [--out bench/results/live_step.json]
Nothing here asserts a time; the figures depend on the machine (and its load, printed).
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (add_out, command_line, git_state, load_averages,  # noqa: E402
                          percentile, pinned_unless, print_table, single_threaded,
                          write_json)

single_threaded()


def arguments():
    from bench.common import parser

    ap = parser(__doc__, first_line=True, models_dir=True)
    ap.add_argument("--model", default="poly-wavenet")
    ap.add_argument("--voices", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--notes", type=int, default=200, help="Essen melody notes played")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    add_out(ap, "live_step")
    return ap.parse_args()


class TimedSteps:
    """The harmoniser's model with the CPU of its step() calls added up (``spent_ms``),
    so a step's sampling can be split into the model's calls and the rest (the part
    grammar and the draws)."""

    def __init__(self, model) -> None:
        self.model, self.spent_ms = model, 0.0

    def step(self, *args, **kwargs):
        c0 = time.process_time()
        try:
            return self.model.step(*args, **kwargs)
        finally:
            self.spent_ms += (time.process_time() - c0) * 1e3

    def __getattr__(self, name):
        return getattr(self.model, name)


def one_round(model, melody, key, voices: int, seed: int
              ) -> tuple[list[float], list[float], list[float], str]:
    """One performance: per sampled step the CPU ms of sample(), of prepare() and of
    sample() less its model calls, and a hash of every step's tokens and the notes
    played."""
    from engine.generation.live_harmony import LiveHarmony

    live = LiveHarmony(model, key, voices=voices, rng_seed=seed)
    live.model = timed = TimedSteps(live.model)
    digest = hashlib.sha256()
    sample_ms, prepare_ms, rest_ms = [], [], []
    started = False
    try:
        for pitch, onset in melody:
            if not started and pitch is None:
                continue
            started = True
            model_before = timed.spent_ms
            c0 = time.process_time()
            step = live.sample(pitch, onset)
            c1 = time.process_time()
            model_ms = timed.spent_ms - model_before
            live.prepare()
            c2 = time.process_time()
            sample_ms.append((c1 - c0) * 1e3)
            prepare_ms.append((c2 - c1) * 1e3)
            rest_ms.append((c1 - c0) * 1e3 - model_ms)
            digest.update(repr((step.tokens, step.starts, step.ends)).encode())
        digest.update(repr(live.finish()).encode())
    finally:
        live.close()
    return sample_ms, prepare_ms, rest_ms, digest.hexdigest()[:16]


def figures(per_step: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(per_step), 4),
            "p50": round(statistics.median(per_step), 4),
            "p99": round(percentile(per_step, 0.99), 4)}


def main() -> int:
    args = arguments()
    pinned = pinned_unless(args.no_pin)
    from bench.accompanist import melody_steps
    from bench.common import library_with
    from engine.encodings import Key
    from engine.generation.live_harmony import melody_grid
    import engine

    library = library_with(args, args.model)
    if library is None:
        return 2
    model = library.get(args.model)
    notes, tunes, key_name = melody_steps(args.notes)
    melody = melody_grid(notes)
    key = Key.parse(key_name)
    load_before = load_averages()
    rounds = [one_round(model, melody, key, args.voices, args.seed)
              for _ in range(args.rounds)]
    hashes = sorted({r[3] for r in rounds})
    fastest_sample, fastest_prepare, fastest_rest = (
        [min(r[k][i] for r in rounds) for i in range(len(rounds[0][k]))] for k in range(3))
    fastest_total = [a + b for a, b in zip(fastest_sample, fastest_prepare)]
    result = {
        "command": command_line("live_step", None),
        "engine": str(Path(engine.__file__).resolve().parent),
        **git_state("engine_changes", "engine"),
        "model": args.model, "voices": args.voices, "seed": args.seed,
        "notes": len(notes), "tunes": tunes, "key": key_name, "steps": len(fastest_sample),
        "rounds": args.rounds, "pinned": pinned,
        "load_before": load_before, "load_after": load_averages(),
        "tokens_hash": hashes[0] if len(hashes) == 1 else hashes,
        "fastest_cpu_ms": {"sample": figures(fastest_sample),
                           "prepare": figures(fastest_prepare),
                           "sample_less_model": figures(fastest_rest),
                           "step": figures(fastest_total)},
        "round_mean_sample_cpu_ms": [round(statistics.fmean(r[0]), 4) for r in rounds],
    }
    print(f"{args.model}, {args.voices} voices, seed {args.seed}: {len(fastest_sample)} "
          f"steps of {len(notes)} notes, {args.rounds} rounds ({pinned}); load "
          f"{load_before} -> {result['load_after']}; tokens {result['tokens_hash']}")
    print_table([("CPU ms a step (fastest of rounds)", "<34"), ("mean", 8), ("p50", 8),
                 ("p99", 8)],
                [(name, *(f"{result['fastest_cpu_ms'][name][k]:.4f}"
                          for k in ("mean", "p50", "p99")))
                 for name in ("sample", "sample_less_model", "prepare", "step")])
    write_json(args.out, result)
    return 0 if len(hashes) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
