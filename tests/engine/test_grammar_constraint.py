"""The part grammar is a registered constraint (issue 22): named ``grammar``, it narrows
each step as the encoding's grammar does, and it refuses a model that writes one line.
No model weights are needed: a model here is its encoding and a name."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engine.encodings.melody import MelodyEncoding
from engine.encodings.polyphony import POLYPHONY_ENCODING, STEP, PartRules
from engine.errors import GenerationError
from engine.generation.constraints import CONSTRAINTS, StepContext, build
from engine.generation.constraints.grammar import (VOICE_LEADING, FullTexture, HeldNotes,
                                                   PartGrammarConstraint)

E = POLYPHONY_ENCODING


def context(encoding, rows: int = 2) -> StepContext:
    return StepContext(SimpleNamespace(name="toy", encoding=encoding), settings=None,
                       rows=rows)


def drive(rule, grammar, tokens_per_call):
    """Feed both the same tokens; every call's masks must agree."""
    allowed = np.ones((2, E.vocab_size), bool)
    for call, tokens in enumerate(tokens_per_call):
        np.testing.assert_array_equal(rule.narrow(call, allowed), grammar.mask(allowed))
        rule.update(np.array(tokens, dtype=np.int64))
        grammar.push(np.array(tokens, dtype=np.int64))


# two rows: a chord of two notes held on; a note held on
CALLS = [[E.new(72), E.new(67)], [E.new(60), STEP], [STEP, E.hold(67)], [E.hold(72), STEP],
         [E.hold(60), E.new(62)]]


def test_the_grammar_is_registered_and_built_by_name_for_a_part_model():
    assert CONSTRAINTS["grammar"] is PartGrammarConstraint
    [rule] = build(["grammar"], context(E))
    assert isinstance(rule, PartGrammarConstraint)
    drive(rule, E.grammar(2, voice_leading=VOICE_LEADING), CALLS)


def test_the_voice_blind_grammar_masks_as_the_encodings_grammar():
    rule = PartGrammarConstraint.voice_blind(context(E), max_notes=2, ceilings=[80, 70],
                                             max_hold=4)
    drive(rule, E.grammar(2, 2, [80, 70], voice_leading=VOICE_LEADING, max_hold=4), CALLS)


def test_the_lines_grammar_masks_as_the_part_grammar():
    from engine.encodings.polyphony import PartGrammar

    P, T = 2, 8
    rules = PartRules(capacity=np.ones(P, np.int64), least=np.ones(P, np.int64),
                      floor=np.array([50, 36]), ceiling=np.array([80, 60]),
                      crosses=np.zeros((P, P), bool), must=np.zeros((T, P), bool),
                      attack=np.zeros((T, P), np.int8), centre=np.array([70.0, 48.0]),
                      start_top=np.full(P, -1, np.int64))
    rule = PartGrammarConstraint.lines(context(E), rules, max_hold=4)
    grammar = PartGrammar(E, 2, rules, max_hold=4, voice_leading=VOICE_LEADING)
    allowed = np.ones((2, E.vocab_size), bool)
    for call in range(6):
        mask = rule.narrow(call, allowed)
        np.testing.assert_array_equal(mask, grammar.mask(allowed))
        tokens = np.array([np.flatnonzero(row)[-1] for row in mask], dtype=np.int64)
        rule.update(tokens)
        grammar.push(tokens)
        np.testing.assert_array_equal(rule.grammar.part_of, grammar.part_of)


def test_a_model_that_writes_one_line_is_refused_with_a_sentence():
    with pytest.raises(GenerationError, match="toy writes one line"):
        build(["grammar"], context(MelodyEncoding()))


def test_a_row_that_has_written_its_steps_may_only_close_steps():
    rule = PartGrammarConstraint.voice_blind(context(E))
    rule.count_steps(1)
    allowed = np.ones((2, E.vocab_size), bool)
    rule.update(np.array([E.new(72), STEP], dtype=np.int64))  # row 1 has written its step
    mask = rule.narrow(0, allowed)
    assert list(rule.done) == [False, True]
    assert mask[0].sum() > 1 and mask[1].sum() == 1 and mask[1, STEP]


def test_a_full_texture_keeps_the_beat_sounding_and_a_held_note_is_held():
    rule = PartGrammarConstraint.voice_blind(context(E, rows=1))
    rule.count_steps(4)
    allowed = np.ones((1, E.vocab_size), bool)
    texture = FullTexture(rule.context, rule, beat_notes=2, grid=(0, 4), floors=None)
    mask = texture.narrow(0, rule.narrow(0, allowed))
    assert not mask[0, STEP]  # on the beat, fewer than two notes: the step may not end
    held = np.zeros((4, E.pitches), bool)
    held[:, 60 - E.min_pitch] = True  # a kept note sounds through the gap
    mask = HeldNotes(rule.context, rule, held).narrow(0, rule.narrow(0, allowed))
    assert mask[0, E.hold(60)] and not mask[0, STEP]  # held, not ended
    assert not mask[0, [E.new(p) for p in range(E.min_pitch, 61)]].any()  # nor re-attacked
    assert mask[0, E.new(67)]  # a note above it may come first
