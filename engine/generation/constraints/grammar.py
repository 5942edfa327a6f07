"""The part music's grammar as a constraint: within a step pitches fall, a HOLD only for
a note that sounds, no more notes than the parts hold, and, with every part a line,
each part's range, rhythm and order (:class:`engine.encodings.polyphony.PolyGrammar`,
:class:`engine.encodings.polyphony.PartGrammar`).  The part jobs
(:mod:`engine.generation.polyphony`, :mod:`engine.generation.polyfill`) build it with
the seed's parts (:meth:`PartGrammarConstraint.voice_blind`,
:meth:`PartGrammarConstraint.lines`); named in a request (``"grammar"``) it is the
encoding's voice-blind grammar with nothing but the encoding's own limits."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.encodings import PARTS, capabilities_of
from engine.encodings.polyphony import PartGrammar, PartRules
from engine.errors import GenerationError
from engine.generation.constraints import Constraint, StepContext, register

VOICE_LEADING = True  # keep parts from moving in parallel fifths and octaves


@register
class PartGrammarConstraint(Constraint):
    """Narrows each row's next token to what the part grammar lets follow the row's
    tokens so far; ``grammar`` is the grammar it asks (its state: the steps written, the
    notes of the step so far, and with lines the part of each token)."""

    name = "grammar"

    def __init__(self, context: StepContext, grammar=None) -> None:
        super().__init__(context)
        if grammar is None:
            model = context.model
            if PARTS not in capabilities_of(model):
                raise GenerationError(f"the grammar constraint steers a model that writes "
                                      f"parts; {model.name} writes one line")
            grammar = model.encoding.grammar(context.rows, voice_leading=VOICE_LEADING)
        self.grammar = grammar

    @classmethod
    def voice_blind(cls, context: StepContext, max_notes: int | None = None,
                    ceilings: Sequence[int] | None = None,
                    max_hold: int | None = None) -> "PartGrammarConstraint":
        """The encoding's voice-blind grammar (:class:`PolyGrammar`): at most
        ``max_notes`` a step, the j-th note no higher than ``ceilings[j]``."""
        return cls(context, context.model.encoding.grammar(
            context.rows, max_notes, ceilings, voice_leading=VOICE_LEADING,
            max_hold=max_hold))

    @classmethod
    def lines(cls, context: StepContext, rules: PartRules,
              max_hold: int | None = None) -> "PartGrammarConstraint":
        """Every part a line (:class:`PartGrammar`) under ``rules``."""
        return cls(context, PartGrammar(context.model.encoding, context.rows, rules,
                                        max_hold=max_hold, voice_leading=VOICE_LEADING))

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        return self.grammar.mask(allowed)

    def update(self, tokens: np.ndarray) -> None:
        self.grammar.push(tokens)
