"""The drum step loop's shortcuts (engine/generation/drum_steps.py, StepModel.stepper,
Sampler.ahead, drum_memory.GrooveTake's bar at a time) against the plain loop they
replaced (:func:`plain_sample_drums` here, which tests/engine/test_drum_steps.py holds
token for token to the loop as it is), in one process on one core: each case run with
the one loop and then the other, round after round, the fastest CPU milliseconds of each
and their ratio.

Cases: drums that go on for 16 bars after tests/data/drums/swing-tiny.mid (1 and 4
variations, the motif memory off and on) and Add Drums to the 32-bar song of
bench/drum_speed.py (1 and 4 variations).

    python bench/drum_loop.py [--repeats N] [--no-pin]

Prints a table and writes bench/results/drum_loop.json.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

if __name__ == "__main__":
    common.single_threaded()


# ---- the plain loop -----------------------------------------------------------------------
class PlainGrooveTake:
    """drum_memory.GrooveTake as it was first written, step by step: a bar's draws at its
    first step, then at every step the source tokens looked up by bisection
    (SeedGroove.source_tokens) and the share moved onto them."""

    def __init__(self, groove, rng: np.random.Generator) -> None:
        self.groove = groove
        self.rng = rng
        self._bar = None
        self._draws = None
        self._whole = None

    def __call__(self, logits: np.ndarray, step: int) -> np.ndarray:
        g = self.groove
        if g.sources is None or g.bar <= 0:
            return g(logits, step)
        z = np.array(logits, dtype=np.float64)
        if g.share <= 0.0:
            return z
        bar = (step - g.origin) // g.bar
        if bar != self._bar or self._draws is None or len(self._draws) != len(z):
            self._bar = bar
            self._draws = self.rng.random(len(z))
            self._whole = self.rng.random(len(z)) < g.whole
        draws = self._draws
        if not self._whole.all():  # a bar of the groove's spread: each step drawn anew
            draws = np.where(self._whole, draws, self.rng.random(len(z)))
        tokens = g.source_tokens(step, draws)
        if tokens is None:
            return z
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z, out=z)
        p *= (1.0 - g.share) / p.sum(axis=1, keepdims=True)
        p[np.arange(len(p)), tokens] += g.share
        return np.log(np.maximum(p, 1e-300, out=p), out=p)


def plain_sample_drums(plan, settings, rng, progress=None, is_cancelled=None, junction=()):
    """engine.generation.jobs.drums.sample_drums before the shortcuts: the conditioning
    fed as a dict a step, every mixer making its own copy, a sampler call a step, the
    seed's groove taken step by step (:class:`PlainGrooveTake`)."""
    from engine.encodings.drums import REST, DrumContext, positions_at
    from engine.generation.drum_memory import drum_memory
    from engine.generation.drum_style import places
    from engine.generation.jobs import drums as drum_jobs
    from engine.generation.mixers.drum_controls import groove_nats
    from engine.generation.sampler import Sampler, token_log_probs

    model, enc = plan.model, plan.model.encoding
    rows = plan.onsets.shape[0]
    prime = plan.prime or [REST]
    enc.context = DrumContext(origin=plan.start - len(prime), style=plan.style,
                              bars=plan.bars, bar_steps=plan.bar_steps,
                              onsets=plan.seed_onsets)
    logits, state = model.prime(prime, rows)
    sampler = Sampler(settings.temperature, settings.top_p, rng)
    draw = sampler if plan.steering is None else plan.steering.drawing(sampler)
    mask = Sampler.mask(np.ones(enc.vocab_size, bool))
    out = np.empty((rows, plan.steps), dtype=np.int64)
    logp = np.zeros(rows)
    total = plan.steps + len(junction)
    memory = drum_memory(model, settings, rows, plan.prime, plan.start, plan.steps,
                         plan.bars, plan.bar_steps, junction, plan.start + plan.steps)
    inputs = plan.conditionings(plan.start + 1, max(0, total - 1))
    nats = groove_nats(settings, drum_jobs.GROOVE_MEMORY if memory is None
                       else drum_jobs.GROOVE_MEMORY_WITH_MEMORY)
    where = None if plan.prior is None else \
        places(positions_at(plan.start, plan.steps, plan.bars, plan.bar_steps))
    groove = plan.groove
    if groove is not None:
        groove = PlainGrooveTake(groove, rng)  # a generation's take on the seed's groove
    try:
        for i in range(total):
            if i < plan.steps:
                mixed = logits if memory is None else memory(logits)
                if where is not None:
                    mixed = mixed + plan.prior[where[i]]
                if groove is not None:
                    mixed = groove(mixed, plan.start + i)
                else:
                    mixed = mixed.astype(np.float64)
                    j = i - plan.bar_steps
                    if nats and plan.bar_steps > 0 and j >= -len(plan.prime):
                        before = out[:, j] if j >= 0 else \
                            np.full(rows, plan.prime[j], dtype=np.int64)
                        mixed[np.arange(rows), before] += nats
                tokens = draw(mixed, mask)
                if tokens is None:
                    raise AssertionError("the plain loop drew from invalid numbers")
                out[:, i] = tokens
                if memory is not None:
                    memory.update(tokens)
            else:
                tokens = np.full(rows, junction[i - plan.steps], dtype=np.int64)
                logp += token_log_probs(logits.astype(np.float64), tokens)
            if i + 1 < total:
                logits = model.step(tokens, state, copy=False, conditioning=inputs[i])
    finally:
        model.release(state)
    return out, logp


# ---- the bench ----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    from bench.drum_speed import DRUM_BARS, DRUM_SEED, add_drums_song
    from engine.formats import load_song
    from engine.generation import jobs
    from engine.generation.jobs import drums as drum_jobs
    from engine.generation.request import DRUMS, GenerationRequest, GenerationSettings
    from engine.models import ModelLibrary

    ap = common.parser(__doc__)
    common.add_out(ap, "drum_loop")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    args = ap.parse_args(argv)
    pinned = common.pinned_unless(args.no_pin)
    library = ModelLibrary([common.ROOT / "models"])
    name = drum_jobs.drum_model(library).name
    song, long_song = load_song(str(DRUM_SEED)), add_drums_song()
    cases = {}
    for k in (1, 4):
        for memory in (False, True):
            s = GenerationSettings(model=name, bars=DRUM_BARS, variations=k, memory=memory)
            cases[f"go on {DRUM_BARS} bars x{k}, memory {'on' if memory else 'off'}"] = (
                lambda s=s: drum_jobs.continue_drums(library, song, s,
                                                     start_tick=song.end_tick, new_notes=None))
    for k in (1, 4):
        request = GenerationRequest(DRUMS, GenerationSettings(model=name, variations=k,
                                                              key=None))
        cases[f"Add Drums 32 bars x{k}"] = lambda r=request: jobs.run(library, long_song, r)
    loops = {"before": plain_sample_drums, "after": drum_jobs.sample_drums}
    cpu = {(c, w): [] for c in cases for w in loops}
    load = common.load_averages()
    try:
        for fn in cases.values():
            fn()  # the sessions made
        for _ in range(args.repeats):
            for case, fn in cases.items():
                for which, loop in loops.items():
                    drum_jobs.sample_drums = loop
                    drum_jobs.clear_seed_styles()  # "auto" weighs every style: a cold cache
                    c0 = time.process_time()
                    fn()
                    cpu[(case, which)].append((time.process_time() - c0) * 1e3)
    finally:
        drum_jobs.sample_drums = loops["after"]
    rows = {}
    for case in cases:
        b, a = cpu[(case, "before")], cpu[(case, "after")]
        rows[case] = {"before_cpu_ms": round(min(b), 2), "after_cpu_ms": round(min(a), 2),
                      "before_median": round(statistics.median(b), 2),
                      "after_median": round(statistics.median(a), 2),
                      "after_over_before": round(min(a) / min(b), 3)}
    print(f"\ndrum loop: plain (before) and with the shortcuts (after), fastest of "
          f"{args.repeats} rounds, CPU ms, model {name}, {pinned}")
    common.print_table([("case", 30), ("before", 8), ("after", 8), ("after/before", 13)],
                       ([c, f"{r['before_cpu_ms']:.1f}", f"{r['after_cpu_ms']:.1f}",
                         f"{r['after_over_before']:.2f}"] for c, r in rows.items()))
    print()
    common.write_json(args.out, {"command": common.command_line("drum_loop", argv),
                                 "cpu": pinned, "date": time.strftime("%Y-%m-%d %H:%M"),
                                 "load_average_before": load,
                                 "load_average_after": common.load_averages(),
                                 "git": common.git_state("uncommitted_changes", "engine"),
                                 "repeats": args.repeats, "cases": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
