"""The drum step loop's shortcuts (engine/generation/drum_steps.py, StepModel.stepper,
Sampler.ahead) give the very tokens of the plain loop, every piece called step by step:
each drum job (drums that go on, Add Drums, a fill, a drum track going on with the other
parts) with the loop as it is and with the plain one, on the shipped drum model and mma's
swing groove, token for token."""

from __future__ import annotations

import numpy as np
import pytest

from engine.encodings import CONTINUE, FILL
from engine.encodings.drums import REST, DrumContext, positions_at
from engine.errors import GenerationError, ModelError
from engine.generation import jobs
from engine.generation.drum_memory import drum_memory
from engine.generation.drum_style import places
from engine.generation.jobs import drums as drum_jobs
from engine.generation.mixers.drum_controls import groove_nats
from engine.generation.request import DRUMS, GenerationRequest, GenerationSettings
from engine.generation.sampler import GumbelRun, Sampler, token_log_probs
from tests.engine.drum_rig import groove, library, only_drums, without_drums  # noqa: F401


def plain_sample_drums(plan, settings, rng, progress=None, is_cancelled=None, junction=()):
    """sample_drums before the shortcuts: the conditioning fed as a dict a step, every
    mixer making its own copy, a sampler call a step."""
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
    if groove is not None and hasattr(groove, "take"):
        groove = groove.take(rng)  # a generation's take on the seed's groove
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
                assert tokens is not None
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


def _settings(**kw) -> GenerationSettings:
    return GenerationSettings(**{"model": "drums-lstm", "variations": 3, "rng_seed": 5,
                                 "memory": False, "bars": 4, **kw})


def _both(monkeypatch, run):
    """``run()`` with the loop as it is, then with the plain one."""
    fast = run()
    with monkeypatch.context() as m:
        m.setattr(drum_jobs, "sample_drums", plain_sample_drums)
        plain = run()
    return fast, plain


def _notes(variations):
    return [[(n.pitch, n.start_tick, n.duration_ticks, n.velocity) for n in v]
            for v in variations]


CONTINUED = [
    {},  # the network alone, 3 variations, the seed's groove kept
    {"memory": True, "variations": 4},  # with the motif memory (the default)
    {"temperature": 1.8, "rng_seed": 11},  # the network heard beside the seed's groove
    {"temperature": 2.0, "memory": True},
    {"temperature": 0.0},  # the likeliest token: no draws
    {"top_p": 0.9},  # the nucleus: the inverse CDF, a draw a row
    {"density": 2, "syncopation": -1},  # the controls steer
    {"memory": True, "repeat": 1, "register": -2, "variations": 1, "bars": 9},
]


@pytest.mark.parametrize("kw", CONTINUED)
def test_drums_that_go_on_are_the_plain_loops(library, groove, monkeypatch, kw):
    song = only_drums(groove)
    fast, plain = _both(monkeypatch, lambda: jobs.run(
        library, song, GenerationRequest(CONTINUE, _settings(**kw))))
    assert _notes(fast.variations) == _notes(plain.variations)
    assert sum(map(len, fast.variations)) > 0


@pytest.mark.parametrize("style,kw", [("auto", {}), ("pop", {"variations": 5}),
                                      ("waltz", {"temperature": 1.3, "density": -1}),
                                      ("rock", {"top_p": 0.8, "variations": 1})])
def test_add_drums_is_the_plain_loops(library, groove, monkeypatch, style, kw):
    song = without_drums(groove)
    fast, plain = _both(monkeypatch, lambda: jobs.run(
        library, song, GenerationRequest(DRUMS, _settings(**kw), drum_style=style)))
    assert fast.tokens == plain.tokens and len(fast.tokens) == kw.get("variations", 3)


@pytest.mark.parametrize("kw", [{}, {"memory": True, "rng_seed": 2}])
def test_a_drum_fill_is_the_plain_loops(library, groove, monkeypatch, kw):
    drum = next(i for i, t in enumerate(groove.tracks) if t.is_drum)
    bar = groove.ticks_per_bar_at(0)
    fast, plain = _both(monkeypatch, lambda: jobs.run(
        library, groove, GenerationRequest(FILL, _settings(**kw), drum, bar + bar // 2,
                                           3 * bar)))
    assert fast.tokens == plain.tokens
    assert _notes(fast.variations) == _notes(plain.variations)


def test_drums_going_on_with_the_other_parts_are_the_plain_loops(library, groove,
                                                                 monkeypatch):
    if "lstm" not in library.names:
        pytest.skip("no lstm model")
    fast, plain = _both(monkeypatch, lambda: jobs.run(
        library, groove, GenerationRequest(CONTINUE, _settings(model="lstm", bars=2))))
    assert fast.drums and _notes(fast.drums) == _notes(plain.drums)


# ---- the pieces ---------------------------------------------------------------------------
def test_a_gumbel_run_draws_what_the_sampler_draws_step_by_step():
    rows, vocab, steps = 3, 50, 40
    logits = np.random.default_rng(1).normal(0, 3, (steps, rows, vocab))
    logits[7, 1, 4] = np.inf  # a top of +inf
    logits[9, 0] = -np.inf  # no finite logit
    logits[12, 2, 30] = np.nan
    logits[15, 0, :45] = -np.inf  # some tokens masked out: still drawn among the rest
    for temperature in (1.0, 0.6):
        for ahead in (0, 7 * rows * vocab, 10 ** 6):  # a step, 7 steps, all at once
            sampler = Sampler(temperature, 1.0, np.random.default_rng(9))
            run = GumbelRun(np.random.default_rng(9), temperature, steps, rows, vocab, ahead)
            nones = 0
            for z in logits:
                theirs = sampler(z, np.zeros(vocab))
                mine = run(z.copy())
                assert (theirs is None) == (mine is None)
                if mine is None:  # the run drew this step's noise all the same
                    sampler.skip((rows, vocab))
                    nones += 1
                else:
                    assert mine.tolist() == theirs.tolist()
            assert nones == 3
            # the generator is left where step-by-step draws leave it
            assert run.rng.random() == sampler.rng.random()
            with pytest.raises(GenerationError, match="more than its 40 steps"):
                run(logits[0].copy())
    assert Sampler(0.0, 1.0, np.random.default_rng()).ahead(3, 2, 4) is None
    assert Sampler(1.0, 0.9, np.random.default_rng()).ahead(3, 2, 4) is None


def test_a_stepper_feeds_what_step_feeds(library):
    model = library.get("drums-lstm")
    rng = np.random.default_rng(0)
    rows, steps = 3, 6
    tokens = rng.integers(0, model.encoding.vocab_size, (steps, rows))
    position = np.zeros((steps, 1, 20), np.float32)
    position[np.arange(steps), 0, np.arange(steps)] = 1.0
    position[:, 0, 12] = 1.0
    onsets = rng.integers(0, 2, (steps, rows, 2)).astype(np.float32)
    style = np.array([[2], [5], [9]], np.int32)
    a, b = model.initial_state(rows), model.initial_state(rows)
    try:
        step = model.stepper(b, steps, {"position": position, "onsets": onsets},
                             {"style": style})
        for t in range(steps):
            theirs = model.step(tokens[t], a, conditioning={
                "style": style, "position": position[t], "onsets": onsets[t]})
            assert np.array_equal(step(tokens[t]), theirs)
        with pytest.raises(ModelError, match="6 steps"):
            step(tokens[0])
        with pytest.raises(ModelError, match="no conditioning input named tempo"):
            model.stepper(b, 1, {"tempo": position})
        with pytest.raises(ModelError, match="'onsets' over 6 steps"):
            model.stepper(b, steps, {"onsets": onsets[:, :2]})
    finally:
        model.release(a)
        model.release(b)
