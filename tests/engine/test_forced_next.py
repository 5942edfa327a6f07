"""PartGrammar.forced_next (engine/encodings/polyphony.py): a token it calls forced is the
only one the grammar's own mask allows, in the part the mask gives it, whether the
rules come whole (Regenerate Part's kept parts) or step by step (Live Harmonise's
melody, PartGrammar.set_step).  Random walks through hand-made rules of three parts,
each token drawn from the full mask, check it at every token; the walks must meet
forced tokens often (a forced note, a STEP nothing else may precede) for the check to
mean anything."""

from __future__ import annotations

import numpy as np
import pytest

from engine.encodings.polyphony import POLYPHONY_ENCODING, STEP, PartGrammar, PartRules

E = POLYPHONY_ENCODING
P = 3
FLOOR = np.array([60, 48, 36])
CEILING = np.array([84, 72, 60])


def forced_notes(rng: np.random.Generator, T: int, wide: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """[T, P, pitches] forced notes and [T, P] forced parts: in most steps the top part
    (a melody, sometimes resting), in some a lower part too, each below the ones
    above; ``wide``: the top part forced with a chord of two notes in some steps."""
    forced = np.zeros((T, P, E.pitches), np.int8)
    part = np.zeros((T, P), bool)
    last = np.full(P, -1)
    for t in range(T):
        top = CEILING[0] + 1
        for j in range(P):
            if rng.random() >= (0.8 if j == 0 else 0.25):
                last[j] = -1
                continue
            part[t, j] = True
            if rng.random() < 0.15:  # the forced part rests
                last[j] = -1
                continue
            high = min(CEILING[j], top - 1)
            if high < FLOOR[j]:
                part[t, j] = False
                continue
            if last[j] >= 0 and FLOOR[j] <= last[j] <= high and rng.random() < 0.3:
                p, kind = last[j], 2  # held on
            else:
                p, kind = int(rng.integers(FLOOR[j], high + 1)), 1
            forced[t, j, p - E.min_pitch] = kind
            last[j], top = p, p
            if wide and j == 0 and p - 3 >= FLOOR[0] and rng.random() < 0.3:
                forced[t, j, p - 3 - E.min_pitch] = 1
                last[j], top = -1, p - 3
    return forced, part


def rules(T: int, forced: np.ndarray | None, part: np.ndarray | None,
          capacity=(1, 1, 1)) -> PartRules:
    return PartRules(capacity=np.array(capacity), least=np.ones(P, np.int64),
                     floor=FLOOR, ceiling=CEILING, crosses=np.zeros((P, P), bool),
                     must=np.zeros((T, P), bool), attack=np.zeros((T, P), np.int8),
                     centre=(FLOOR + CEILING) / 2.0, start_top=np.full(P, -1, np.int64),
                     forced=forced, forced_part=part)


def check(g: PartGrammar, allowed: np.ndarray, rng: np.random.Generator,
          done: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """One token a row, drawn from the full mask, after checking forced_next against
    it; the tokens and whether they were forced."""
    forced = g.forced_next(done)
    mask = g.mask(allowed)
    if done is not None:
        mask[done] = False
        mask[done, STEP] = True
    tokens = np.array([rng.choice(np.flatnonzero(row)) for row in mask])
    if forced is not None:
        for r in range(g.batch):
            assert np.flatnonzero(mask[r]).tolist() == [forced[0][r]]
        tokens = forced[0].copy()
    g.push(tokens)
    if forced is not None:
        assert g.part_of.tolist() == forced[1].tolist()
    return tokens, forced is not None


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("capacity", [(1, 1, 1), (2, 1, 2)])
def test_rules_given_whole_force_only_the_masks_one_token(seed, capacity):
    rng = np.random.default_rng(seed)
    T, rows = 24, 3
    forced, part = forced_notes(rng, T)
    g = PartGrammar(E, rows, rules(T, forced, part, capacity), voice_leading=True)
    allowed = np.ones(E.vocab_size, bool)
    calls = forced_calls = 0
    while g.steps.min() < T:
        _, was = check(g, allowed, rng, done=g.steps >= T)
        calls += 1
        forced_calls += was
    assert forced_calls > calls // 10  # every row forced at once: rarer


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("wide", [False, True])
def test_rules_given_step_by_step_force_only_the_masks_one_token(seed, wide):
    """As Live Harmonise gives them: the grammar's rules grow as steps come; with
    ``wide``, a step may force more notes than any before it."""
    rng = np.random.default_rng(100 + seed)
    T = 40
    forced, part = forced_notes(rng, T, wide)
    g = PartGrammar(E, 1, rules(1, np.zeros((1, P, E.pitches), np.int8),
                                np.zeros((1, P), bool)), voice_leading=True)
    allowed = np.ones(E.vocab_size, bool)
    tokens = forced_tokens = 0
    for t in range(T):
        g.set_step(t, np.zeros(P, bool), forced[t], part[t])
        for _ in range(2 * P + 2):
            (tok,), was = check(g, allowed, rng)
            tokens += 1
            forced_tokens += was
            if tok == STEP:
                break
        assert g.steps[0] == t + 1
    assert forced_tokens > tokens // 3


def test_without_forced_notes_only_a_step_with_every_part_written_is_forced():
    g = PartGrammar(E, 1, rules(4, None, None), voice_leading=False)
    allowed = np.ones(E.vocab_size, bool)
    assert g.forced_next() is None
    for tok in (E.new(70), E.new(60)):
        g.push(np.array([tok]))
        assert g.forced_next() is None  # the lowest part may still write
    g.push(np.array([E.new(50)]))
    assert [a.tolist() for a in g.forced_next()] == [[STEP], [-1]]
    assert np.flatnonzero(g.mask(allowed)[0]).tolist() == [STEP]
