"""The drum step loop's shortcuts (engine/generation/drum_steps.py, StepModel.stepper,
Sampler.ahead, GrooveTake's bar at a time) give the very tokens of the plain loop
(bench/drum_loop.py's plain_sample_drums), every piece called step by step:
each drum job (drums that go on, Add Drums, a fill, a drum track going on with the other
parts) with the loop as it is and with the plain one, on the shipped drum model and mma's
swing groove, token for token."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.drum_loop import PlainGrooveTake, plain_sample_drums
from engine.encodings import CONTINUE, FILL
from engine.errors import GenerationError, ModelError
from engine.generation import drum_memory, jobs
from engine.generation.drum_memory import seed_groove
from engine.generation.jobs import drums as drum_jobs
from engine.generation.request import DRUMS, GenerationRequest, GenerationSettings
from engine.generation.sampler import GumbelRun, Sampler
from engine.song import Note
from tests.engine.drum_rig import groove, library, only_drums, without_drums  # noqa: F401


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


def _repeating(song):
    """``song``'s drums alone, its third bar played as its first: mma's swing groove
    varies every bar (its hits are humanised), so its new bars are drawn step by step;
    this seed repeats one bar of three, so some new bars are taken whole."""
    out = only_drums(song)
    bar = song.ticks_per_bar_at(0)
    for t in out.tracks:
        first = [n for n in t.notes if n.start_tick < bar]
        t.notes = sorted([n for n in t.notes if not 2 * bar <= n.start_tick < 3 * bar] +
                         [Note(n.pitch, n.start_tick + 2 * bar, n.duration_ticks, n.velocity,
                               n.channel) for n in first], key=Note.sort_key)
    return out


@pytest.mark.parametrize("kw", [{"memory": True, "variations": 4, "bars": 6},
                                {"rng_seed": 8, "bars": 5}])
def test_drums_after_a_seed_that_repeats_a_bar_are_the_plain_loops(library, groove,
                                                               monkeypatch, kw):
    song = _repeating(groove)
    went = []
    real_take = drum_memory.GrooveTake.__init__

    def noting(self, g, rng):  # the seed's groove, as the job reads it
        went.append(g.whole)
        real_take(self, g, rng)

    monkeypatch.setattr(drum_memory.GrooveTake, "__init__", noting)
    fast, plain = _both(monkeypatch, lambda: jobs.run(
        library, song, GenerationRequest(CONTINUE, _settings(**kw))))
    assert went and went[0] == pytest.approx(1 / 3)  # some bars whole, some not
    assert _notes(fast.variations) == _notes(plain.variations)


def test_a_groove_taken_a_bar_at_a_time_is_the_plain_take():
    """GrooveTake picks a whole bar's tokens at its first step; PlainGrooveTake step by
    step: the same log-probabilities and draws, and none between the steps it says."""
    rng = np.random.default_rng(4)
    bar, vocab, rows = 12, 9, 5
    bars = [list(rng.integers(0, vocab, bar) * (rng.random(bar) < 0.6)) for _ in range(4)]
    bars[1][:3] = [0, 0, 0]  # places where some bars are silent
    seed = bars[0] + bars[1] + bars[0] + bars[2] + bars[3]
    for whole in (None, 1.0, 0.0, 0.5):
        groove = seed_groove(seed, 60, [0, 12, 24, 36, 48, 60], bar, vocab, share=0.9)
        if whole is not None:
            groove = dataclasses.replace(groove, whole=whole)
        for first in (60, 65):  # from a bar line, and from inside a bar
            mine = drum_memory.GrooveTake(groove, np.random.default_rng(7))
            theirs = PlainGrooveTake(groove, np.random.default_rng(7))
            quiet = None
            for step in range(first, first + 8 * bar):
                logits = rng.normal(0, 2, (rows, vocab))
                before = mine.rng.bit_generator.state
                a, b = mine(logits, step), theirs(logits, step)
                assert np.array_equal(a, b)
                if quiet is not None and step < quiet:
                    assert mine.rng.bit_generator.state == before  # drew nothing
                quiet = mine.quiet_until(step)
                assert quiet is not None and quiet > step
            assert mine.rng.random() == theirs.rng.random()
    plain = dataclasses.replace(groove, window=None, sources=None)
    assert drum_memory.GrooveTake(plain, np.random.default_rng()).quiet_until(60) is None
