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
# a.any(), .sum(), .max(), .min() without the methods' Python wrappers (asked every token)
_OR, _ADD, _MAX, _MIN = (np.logical_or.reduce, np.add.reduce, np.maximum.reduce,
                         np.minimum.reduce)


@register
class PartGrammarConstraint(Constraint):
    """Narrows each row's next token to what the part grammar lets follow the row's
    tokens so far; ``grammar`` is the grammar it asks (its state: the steps written, the
    notes of the step so far, and with lines the part of each token).  After
    :meth:`count_steps`, a row that has written its steps may only close steps."""

    name = "grammar"
    steps: int | None = None  # the steps each row writes (None: not counted)
    since: np.ndarray | int = 0  # the grammar's steps when counting began
    ahead: "ForcedAhead | None" = None  # the forced notes read ahead (plan_forced)
    # when the last narrow found every row's next token forced: those tokens (nothing
    # to draw, and the rules after the grammar have nothing to narrow), else None
    known: np.ndarray | None = None
    _known_parts: np.ndarray | None = None

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

    @property
    def at(self) -> np.ndarray:
        """[rows]: the steps each row has written since counting began."""
        return self.grammar.steps - self.since

    @property
    def done(self) -> np.ndarray:
        """[rows]: whether each row has written its steps."""
        return self.at >= self.steps

    def plan_forced(self) -> None:
        """Read the rules' forced notes ahead (:class:`ForcedAhead`), once, for a job whose
        rules stay as they are (not one that gives steps as they are played): a call
        where each row's next token is forced then needs no mask of the grammar, nor
        the parts' search of :meth:`PartGrammar.push`."""
        self.ahead = ForcedAhead(self.grammar)

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        done = self.done if self.steps is not None else None
        known = None if self.ahead is None else self.ahead.next_tokens(self.grammar, done)
        if known is not None:
            self.known, self._known_parts = known
            mask = np.zeros((len(self.known), self.context.model.encoding.vocab_size), bool)
            mask[np.arange(len(self.known)), self.known] = True
            return mask
        self.known = None
        mask = self.grammar.mask(allowed)
        if done is not None:
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


class ForcedAhead:
    """A part grammar's forced notes (:class:`PartRules`' ``forced``), read once: per
    step, top down, each note's token and part, and which parts a pending forced note
    keeps from writing.  When every row's next token is forced (or a STEP, nothing
    else being able to come), :meth:`next_tokens` says which, in a few operations on
    ``[rows, parts]`` arrays instead of the grammar's mask over ``[rows, parts,
    pitches]``.  Rules given step by step (:meth:`PartGrammar.set_step`) are not read
    ahead.

    The grammar offers the highest forced note not yet written, as given, and besides
    it only notes of the parts not forced in the step (free), above it and below the
    step's last note; a free part writes none when it is closed, full, kept out by a
    forced part above it still to come (whose notes come first), or left no pitch of
    its range in that window.  Every free part writing none, the forced note is the
    one token (with none pending, STEP is).  Anything else (a free part that might
    write) leaves the call to the grammar's own mask."""

    def __init__(self, grammar: PartGrammar) -> None:
        rules, enc = grammar.rules, grammar.enc
        if rules.forced is None:
            raise ValueError("ForcedAhead reads rules made with forced notes")
        forced = np.asarray(rules.forced)
        if ((forced > 0).any(axis=2) & ~np.asarray(rules.forced_part, bool)).any():
            raise ValueError("ForcedAhead reads rules whose forced notes are all of "
                             "forced parts")
        T, P, n = forced.shape
        parts = np.arange(P)
        above = (parts[:, None] < parts[None, :]) & ~np.asarray(rules.crosses, bool)
        # every forced note, step by step and top down (the grammar's order: pitch
        # down, then part up), and its place w among its step's
        t, j, q = np.nonzero(forced)
        order = np.lexsort((j, -q, t))
        t, j, q = t[order], j[order], q[order]
        counts = np.bincount(t, minlength=T)
        starts = np.cumsum(counts) - counts
        w = np.arange(len(t)) - starts[t]
        most = int(counts.max(initial=0))
        # [T, w]: with w forced notes of the step written, the next one's token (STEP
        # when none is left; -1 past them), part (-1: STEP) and pitch index (-1: none);
        # [T, w, P]: the parts it or a forced note after it keeps from writing
        self.token = np.full((T, most + 2), -1, np.int64)
        self.part = np.full((T, most + 2), -1, np.int64)
        high = np.full((T, most + 2), -1, np.int64)
        self.token[t, w] = np.where(forced[t, j, q] == 1, 1 + q, 1 + n + q)
        self.token[np.arange(T), counts] = STEP
        self.part[t, w], high[t, w] = j, q
        # the parts above each note's or a later one's of its step: sums from the end
        after = np.concatenate([np.cumsum(above[j][::-1], axis=0)[::-1],
                                np.zeros((1, P), np.int64)])
        blocked = np.zeros((T, most + 2, P), bool)
        blocked[t, w] = after[:-1] > after[(starts + counts)[t]]
        forced_part = np.asarray(rules.forced_part, bool)
        floor = np.clip(np.asarray(rules.floor) - enc.min_pitch, 0, n - 1)
        # [T, w, P]: the lowest pitch index each part might write before that forced
        # note (above it; n + 1 for a part that may not: forced, or kept out)
        lowest = np.maximum(high[:, :, None] + 1, floor[None, None, :])
        self.lowest = np.where(forced_part[:, None, :] | blocked, n + 1, lowest)
        # one above the highest each part may write
        self.over = np.clip(np.asarray(rules.ceiling) - enc.min_pitch, -1, n - 1) + 1
        self.forced_part = forced_part.astype(np.int64)  # [T, P], to count with
        self.capacity = np.asarray(rules.capacity, np.int64)
        self.T = T

    def next_tokens(self, grammar: PartGrammar, done: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Each row's next token and its part (-1 for STEP) when no row has a choice
        (a ``done`` row: STEP), else None."""
        t = grammar.steps
        if _MAX(t) >= self.T:  # past the rules: only a done row may be
            if done is None or (t[~done] >= self.T).any():
                return None
            t = np.minimum(t, self.T - 1)
        count = grammar.count
        w = _ADD(count * self.forced_part[t], 1)  # the step's forced notes written
        token = self.token[t, w]
        # a part may write when it has a pitch of its range between the forced note and
        # the step's last note, and is neither closed nor full
        may = (self.lowest[t, w] < np.minimum(grammar.below[:, None], self.over)) & \
            ((count < self.capacity) > grammar.closed)
        part = None
        if done is not None and _OR(done):
            may[done] = False
            token = np.where(done, STEP, token)
            part = np.where(done, -1, self.part[t, w])
        if _MIN(token) < 0 or _OR(may, None):
            return None
        return token, self.part[t, w] if part is None else part


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
