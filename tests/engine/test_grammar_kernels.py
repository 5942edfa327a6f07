"""The part grammar's compiled steps (engine/encodings/grammar_kernels.py) against the
numpy code they replaced (tests/engine/grammar_reference.py, commit 3302c5b): on
grammars of random rules (parts that cross or keep their order, comping parts, pitch
classes, forced parts and forced notes outside them, notes held from before, a
longest hold, with and without the voice leading), batches of one and several rows and
every shape of allowed mask, each call's mask, each token's part and the whole state
after it must be the reference's exactly; and the beat-parallels rule's narrowing and
its beat tops too.  Tokens are drawn from the mask, with now and then a token it did
not offer (fed, as a fill's junction or a melody is) or a part given by the caller."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engine.encodings.polyphony import POLYPHONY_ENCODING, STEP, PartGrammar, PartRules
from engine.generation.constraints import StepContext
from engine.generation.constraints.parallels import BeatParallels
from engine.generation.jobs.regenerate import FixedParallels
from tests.engine.grammar_reference import (ReferenceBeatParallels, ReferenceFixedParallels,
                                           ReferenceGrammar)

E = POLYPHONY_ENCODING
STATE = ("prev", "cur", "cur_new", "held", "count", "closed", "below", "steps", "cur_top",
         "prev_top", "centre", "part_of")


def random_rules(rng: np.random.Generator) -> PartRules:
    P = int(rng.integers(1, 6))
    T = int(rng.integers(1, 14))
    n = E.pitches
    capacity = rng.integers(1, 4, P).astype(np.int64)
    least = np.minimum(rng.integers(1, 4, P), capacity).astype(np.int64)
    # ranges top down, some of them overlapping, now and then an empty or odd one
    centres = np.sort(rng.integers(26, 92, P))[::-1]
    floor = centres - rng.integers(0, 14, P)
    ceiling = centres + rng.integers(-2, 14, P)
    crosses = np.triu(rng.random((P, P)) < 0.3, 1)
    crosses = crosses | crosses.T
    must = rng.random((T, P)) < 0.5
    attack = rng.choice(np.array([-1, 0, 0, 1], np.int8), (T, P))
    pcs = None if rng.random() < 0.5 else rng.random((T, P, 12)) < 0.8
    forced = forced_part = None
    if rng.random() < 0.5:
        forced = np.zeros((T, P, n), np.int8)
        forced_part = np.zeros((T, P), bool)
        for t in range(T):
            for j in range(P):
                if rng.random() < 0.35:
                    forced_part[t, j] = True
                    lo = max(0, int(floor[j]) - E.min_pitch)
                    hi = min(n - 1, max(lo, int(ceiling[j]) - E.min_pitch))
                    for q in rng.integers(lo, hi + 1, int(rng.integers(0, 3))):
                        forced[t, j, q] = rng.choice([1, 2])
                elif rng.random() < 0.05:  # a forced note outside the forced parts
                    forced[t, j, rng.integers(0, n)] = 1
    start_prev = None if rng.random() < 0.5 else rng.random((P, n)) < 0.03
    start_top = np.where(rng.random(P) < 0.7, centres + rng.integers(-3, 4, P), -1)
    return PartRules(capacity=capacity, least=least, floor=floor.astype(np.int64),
                     ceiling=ceiling.astype(np.int64), crosses=crosses, must=must,
                     attack=attack, centre=centres + rng.normal(0, 2, P),
                     start_top=start_top.astype(np.int64), pitch_classes=pcs, forced=forced,
                     forced_part=forced_part, start_prev=start_prev)


def random_allowed(rng: np.random.Generator, batch: int) -> np.ndarray:
    kind = rng.integers(0, 4)
    if kind == 0:
        return np.ones(E.vocab_size, bool)
    if kind == 1:
        return rng.random(E.vocab_size) < 0.8
    if kind == 2:
        return np.broadcast_to(rng.random(E.vocab_size) < 0.9, (batch, E.vocab_size))
    return rng.random((batch, E.vocab_size)) < 0.85


def draw(rng: np.random.Generator, mask: np.ndarray, feed: bool) -> np.ndarray:
    tokens = np.empty(len(mask), np.int64)
    for r, row in enumerate(mask):
        allowed = np.flatnonzero(row)
        if (feed and rng.random() < 0.08) or not len(allowed):
            tokens[r] = rng.integers(0, E.vocab_size)  # fed, not offered
        else:
            tokens[r] = rng.choice(allowed)
    return tokens


def assert_same_state(mine, theirs, where: str) -> None:
    for name in STATE:
        np.testing.assert_array_equal(getattr(mine, name), getattr(theirs, name),
                                      err_msg=f"{name} {where}")


@pytest.mark.parametrize("seed", range(80))
def test_the_compiled_grammar_masks_and_follows_as_the_numpy_one(seed):
    rng = np.random.default_rng(seed)
    rules = random_rules(rng)
    batch = int(rng.choice([1, 1, 2, 3]))
    max_hold = None if rng.random() < 0.4 else int(rng.integers(1, 5))
    voice_leading = bool(rng.random() < 0.8)
    mine = PartGrammar(E, batch, rules, max_hold=max_hold, voice_leading=voice_leading)
    theirs = ReferenceGrammar(E, batch, rules, max_hold=max_hold,
                              voice_leading=voice_leading)
    beat = int(rng.integers(1, 5))
    start = int(rng.integers(0, 4))
    ctx = StepContext(SimpleNamespace(name="toy", encoding=E), settings=None, rows=batch)
    my_rule = SimpleNamespace(grammar=mine, done=np.zeros(batch, bool), context=ctx)
    their_rule = SimpleNamespace(grammar=theirs, done=np.zeros(batch, bool))
    my_beats = BeatParallels(ctx, my_rule, start, beat)
    their_beats = ReferenceBeatParallels(their_rule, start, beat)
    steps_wanted = rules.must.shape[0] + 3
    # now and then a token the mask did not offer, or a part given (then the forced
    # notes read ahead may not be what was written: forced_next is not asked)
    feed = bool(rng.random() < 0.5)
    for call in range(12 * steps_wanted):
        where = f"(seed {seed}, call {call})"
        done = rng.random(batch) < 0.1
        for a, b in (() if feed else ((mine.forced_next(done), theirs.forced_next(done)),
                                      (mine.forced_next(), theirs.forced_next()))):
            assert (a is None) == (b is None), where
            if a is not None:
                np.testing.assert_array_equal(a[0], b[0], err_msg=where)
                np.testing.assert_array_equal(a[1], b[1], err_msg=where)
        allowed = random_allowed(rng, batch)
        mask = mine.mask(allowed)
        np.testing.assert_array_equal(mask, theirs.mask(allowed), err_msg=f"mask {where}")
        my_rule.done = their_rule.done = done
        narrowed = my_beats.narrow(call, mask)
        np.testing.assert_array_equal(narrowed, their_beats.narrow(call, mask.copy()),
                                      err_msg=f"beats {where}")
        tokens = draw(rng, narrowed, feed)
        parts = None
        if feed and rng.random() < 0.1:
            parts = rng.integers(0, rules.parts, batch)
        mine.push(tokens, parts)
        theirs.push(tokens, parts)
        my_beats.update(tokens)
        their_beats.update(tokens)
        assert_same_state(mine, theirs, where)
        np.testing.assert_array_equal(my_beats.beat_top, their_beats.beat_top, err_msg=where)
        if mine.steps.min() >= steps_wanted:
            break


def test_each_mask_is_its_own():
    # the constraints after the grammar narrow the mask they are given in place
    P, T = 2, 4
    rules = PartRules(capacity=np.ones(P, np.int64), least=np.ones(P, np.int64),
                      floor=np.array([60, 40]), ceiling=np.array([80, 62]),
                      crosses=np.zeros((P, P), bool), must=np.ones((T, P), bool),
                      attack=np.zeros((T, P), np.int8), centre=np.array([70.0, 50.0]),
                      start_top=np.array([72, 48]))
    mine, theirs = PartGrammar(E, 2, rules), ReferenceGrammar(E, 2, rules)
    allowed = np.ones(E.vocab_size, bool)
    first = mine.mask(allowed)
    first[:] = False
    np.testing.assert_array_equal(mine.mask(allowed), theirs.mask(allowed))
    tokens = np.array([E.new(61), E.new(75)])
    mine.push(tokens)
    theirs.push(tokens)
    assert_same_state(mine, theirs, "after one note a row")


def two_parts(must_lower: bool, start_prev=None) -> PartRules:
    """An upper part (64-80) over a lower one that may only start D4 (attack 1) in its
    first step, the two a fifth apart before it (G4 over C4)."""
    P, T = 2, 3
    lo = E.min_pitch
    prev = np.zeros((P, E.pitches), bool)
    prev[0, 67 - lo] = prev[1, 60 - lo] = True
    must = np.zeros((T, P), bool)
    must[0, 1] = must_lower
    attack = np.zeros((T, P), np.int8)
    attack[0, 1] = 1
    return PartRules(capacity=np.ones(P, np.int64), least=np.ones(P, np.int64),
                     floor=np.array([64, 62]), ceiling=np.array([80, 62]),
                     crosses=np.zeros((P, P), bool), must=must, attack=attack,
                     centre=np.array([70.0, 61.0]), start_top=np.array([67, 60]),
                     start_prev=prev if start_prev is None else start_prev)


@pytest.mark.parametrize("must_lower", [True, False])
def test_a_part_that_must_sound_keeps_its_only_note_even_in_parallels(must_lower):
    rules = two_parts(must_lower)
    mine, theirs = PartGrammar(E, 1, rules), ReferenceGrammar(E, 1, rules)
    allowed = np.ones(E.vocab_size, bool)
    for g in (mine, theirs):
        g.mask(allowed)
        g.push(np.array([E.new(69)]))  # the upper part moves up a step: A4
    mask = mine.mask(allowed)
    np.testing.assert_array_equal(mask, theirs.mask(allowed))
    # D4 under A4 after C4 under G4 is a pair of parallel fifths: refused unless the
    # lower part must sound and has nothing else
    assert mask[0, E.new(62)] == must_lower


def test_a_fed_note_goes_to_the_part_that_sounded_it_before_the_nearest():
    prev = np.zeros((2, E.pitches), bool)
    prev[0, 64 - E.min_pitch] = prev[1, 60 - E.min_pitch] = True  # E4 over C4
    rules = two_parts(False, start_prev=prev)
    mine, theirs = PartGrammar(E, 1, rules), ReferenceGrammar(E, 1, rules)
    no_holds = np.ones(E.vocab_size, bool)
    no_holds[1 + E.pitches:] = False
    for g in (mine, theirs):
        g.mask(no_holds)
        # not offered; the upper part sounded it, the lower one's centre lies nearer
        g.push(np.array([E.hold(64)]))
    assert_same_state(mine, theirs, "after a fed HOLD")
    assert mine.part_of[0] == 0


@pytest.mark.parametrize("seed", range(40))
def test_the_compiled_fixed_parallels_narrow_as_the_numpy_ones(seed):
    # Regenerate Part's rule: one free part among forced ones
    rng = np.random.default_rng(1000 + seed)
    P, T, n = int(rng.integers(2, 5)), int(rng.integers(2, 16)), E.pitches
    batch = int(rng.choice([1, 2, 4]))
    target = int(rng.integers(0, P))
    forced = np.zeros((T, P, n), np.int8)
    forced_part = np.ones((T, P), bool)
    forced_part[:, target] = rng.random(T) < 0.15  # now and then the part itself
    centres = np.sort(rng.integers(36, 84, P))[::-1]
    for t in range(T):
        for j in range(P):
            if forced_part[t, j] and rng.random() < 0.8:
                q = int(np.clip(centres[j] + rng.integers(-5, 6), E.min_pitch, E.max_pitch))
                forced[t, j, q - E.min_pitch] = 1 if t == 0 or rng.random() < 0.6 else 2
    start_top = np.where(rng.random(P) < 0.8, centres, -1).astype(np.int64)
    rules = PartRules(capacity=np.ones(P, np.int64), least=np.ones(P, np.int64),
                      floor=centres - 12, ceiling=centres + 12,
                      crosses=np.zeros((P, P), bool), must=rng.random((T, P)) < 0.5,
                      attack=np.zeros((T, P), np.int8), centre=centres.astype(float),
                      start_top=start_top, forced=forced, forced_part=forced_part)
    beats = None if rng.random() < 0.3 else (int(rng.integers(0, 4)), int(rng.integers(1, 5)))
    model = SimpleNamespace(name="toy", encoding=E)
    grammar = PartGrammar(E, batch, rules)
    rule = SimpleNamespace(grammar=grammar, done=np.zeros(batch, bool), known=None,
                           context=StepContext(model, settings=None, rows=batch))
    mine = FixedParallels.of(model, batch, forced, forced_part, target, start_top,
                             beats)(rule)
    theirs = ReferenceFixedParallels.of(model, batch, forced, forced_part, target,
                                        start_top, beats)(rule)
    allowed = np.ones(E.vocab_size, bool)
    for call in range(12 * (T + 2)):
        where = f"(seed {seed}, call {call})"
        rule.done = grammar.steps >= T + 1
        mask = grammar.mask(allowed)
        narrowed = mine.narrow(call, mask)
        np.testing.assert_array_equal(narrowed, theirs.narrow(call, mask.copy()),
                                      err_msg=where)
        tokens = draw(rng, narrowed, False)
        grammar.push(tokens)
        mine.update(tokens)
        theirs.update(tokens)
        np.testing.assert_array_equal(mine.hist, theirs.hist, err_msg=where)
        if rule.done.all():
            break
