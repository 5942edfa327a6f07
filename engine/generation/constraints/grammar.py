"""The part music's grammar and texture rules as constraints.

:class:`PartGrammarConstraint` (``"grammar"``): within a step pitches fall, a HOLD only
for a note that sounds, no more notes than the parts hold, and, with every part a
line, each part's range, rhythm and order
(:class:`engine.encodings.polyphony.PolyGrammar`,
:class:`engine.encodings.polyphony.PartGrammar`); once a row has written its steps
it may only close steps.  Beside it, for voice-blind writing, :class:`FullTexture`
keeps every part sounding on the beat, and :class:`HeldNotes` has a fill hold the
notes that sound into its gap.  The part jobs (:mod:`engine.generation.polyphony`,
:mod:`engine.generation.polyfill`) build them with the seed's parts
(:meth:`PartGrammarConstraint.voice_blind`, :meth:`PartGrammarConstraint.lines`);
named in a request, ``"grammar"`` is the encoding's voice-blind grammar with nothing
but the encoding's own limits."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.encodings import PARTS, capabilities_of
from engine.encodings.polyphony import STEP, PartGrammar, PartRules
from engine.errors import GenerationError
from engine.generation.constraints import Constraint, StepContext, register

VOICE_LEADING = True  # keep parts from moving in parallel fifths and octaves


@register
class PartGrammarConstraint(Constraint):
    """Narrows each row's next token to what the part grammar lets follow the row's
    tokens so far; ``grammar`` is the grammar it asks (its state: the steps written, the
    notes of the step so far, and with lines the part of each token).  After
    :meth:`count_steps`, a row that has written its steps may only close steps."""

    name = "grammar"
    steps: int | None = None  # the steps each row writes (None: not counted)
    since: np.ndarray | int = 0  # the grammar's steps when counting began
    ahead = False  # whether narrow asks the grammar for forced tokens (plan_forced)
    # when the last narrow found every row's next token forced: those tokens (nothing
    # to draw, and the rules after the grammar have nothing to narrow), else None
    known: np.ndarray | None = None
    _known_parts: np.ndarray | None = None
    _done: np.ndarray | None = None  # done, for the grammar's steps _done_key
    _done_key: bytes | None = None

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

    def count_steps(self, steps: int, since: np.ndarray | int = 0) -> None:
        """From now on each row writes ``steps`` steps beyond ``since`` (the steps the
        grammar had counted before: a forced first token's may or may not count)."""
        self.steps, self.since = steps, since
        self._done_key = None

    @property
    def at(self) -> np.ndarray:
        """[rows]: the steps each row has written since counting began."""
        return self.grammar.steps - self.since

    @property
    def done(self) -> np.ndarray:
        """[rows]: whether each row has written its steps (read-only: the same array
        until the grammar's steps change, as every rule after the grammar asks it each
        call)."""
        key = self.grammar.steps.tobytes()
        if key != self._done_key:
            done = self.at >= self.steps
            done.flags.writeable = False
            self._done, self._done_key = done, key
        return self._done

    def plan_forced(self) -> None:
        """Ask the grammar each call whether every row's next token is forced
        (:meth:`PartGrammar.forced_next`, which reads the rules' forced notes once): such
        a call needs no mask of the grammar, nor the parts' search of
        :meth:`PartGrammar.push`."""
        if not isinstance(self.grammar, PartGrammar):
            raise ValueError("plan_forced reads the forced notes of a PartGrammar's rules, "
                             f"not a {type(self.grammar).__name__}'s")
        self.ahead = True

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        done = self.done if self.steps is not None else None
        known = self.grammar.forced_next(done) if self.ahead else None
        if known is not None:
            self.known, self._known_parts = known
            mask = np.zeros((len(self.known), self.context.model.encoding.vocab_size), bool)
            mask[np.arange(len(self.known)), self.known] = True
            return mask
        self.known = None
        mask = self.grammar.mask(allowed)
        if done is not None and done.any():
            mask[done] = False
            mask[done, STEP] = True
        return mask

    def update(self, tokens: np.ndarray) -> None:
        if self.known is None:
            self.grammar.push(tokens)
            return
        if not np.array_equal(tokens, self.known):
            raise GenerationError("a token other than the forced one came after the part "
                                  "grammar's forced-only mask (a rule after the grammar "
                                  "changed it)")
        self.grammar.push(tokens, self._known_parts)


class FullTexture(Constraint):
    """A full texture for voice-blind writing: on each beat (``grid``: the first
    step's position and the steps of a beat), no step ends with fewer than
    ``beat_notes`` notes while one may still come, and each note of such a step keeps
    to its part's ``floors`` (per count of notes so far in the step); nothing without
    ``beat_notes``."""

    def __init__(self, context: StepContext, rule: PartGrammarConstraint,
                 beat_notes: int | None, grid: tuple[int, int],
                 floors: list[int] | None) -> None:
        super().__init__(context)
        self.rule, self.beat_notes, self.grid, self.floors = rule, beat_notes, grid, floors
        # per count of notes so far in a step: the tokens below the next part's floor
        # (past the parts: none)
        self.floor_of = np.array(list(floors or []) + [0], dtype=np.int64)
        self.below_floor = context.model.encoding.token_pitches[None, :] < \
            self.floor_of[:, None]
        self.below_floor[:, STEP] = False

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        if self.beat_notes is None:
            return allowed
        mask, grammar, done = allowed, self.rule.grammar, self.rule.done
        on_beat = (self.grid[0] + self.rule.at) % self.grid[1] == 0
        if self.floors is not None:  # each part's note in its own range
            low = self.below_floor[np.minimum(grammar.count, len(self.floor_of) - 1)]
            mask &= ~(on_beat[:, None] & low)
        thin = on_beat & ~done & (grammar.count < self.beat_notes) & mask[:, 1:].any(axis=1)
        mask[thin, STEP] = False
        return mask


class HeldNotes(Constraint):
    """A fill's kept notes that sound into its gap (``held``: [gap steps, pitches],
    model-space pitch indices): in each row's step the highest one not yet written must
    come next (as a HOLD, not a NEW), and a kept note that has just ended is not held
    on; nothing without ``held``."""

    def __init__(self, context: StepContext, rule: PartGrammarConstraint,
                 held: np.ndarray | None) -> None:
        super().__init__(context)
        self.rule, self.held = rule, held

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        if self.held is None:
            return allowed
        mask, held = allowed, self.held
        n = self.context.model.encoding.pitches
        at = np.minimum(self.rule.at, len(held) - 1)
        ended = np.zeros_like(held)
        ended[1:] = held[:-1] & ~held[1:]
        mask[:, 1 + n:] &= ~ended[at]
        must = held[at] & ~self.rule.grammar.cur & ~self.rule.done[:, None]
        rows = np.nonzero(must.any(axis=1))[0]
        if not rows.size:
            return mask
        top = n - 1 - np.argmax(must[rows, ::-1], axis=1)
        index = np.arange(n)[None, :]
        sub = mask[rows]
        sub[:, STEP] = False
        sub[:, 1:1 + n] &= index > top[:, None]
        sub[:, 1 + n:] &= index > top[:, None]
        sub[np.arange(len(rows)), 1 + n + top] = True
        mask[rows] = sub
        return mask
