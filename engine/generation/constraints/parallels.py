"""No parallel fifths or octaves from beat to beat between a part model's lines.

The part grammar (:class:`engine.encodings.polyphony.PartGrammar`, ``voice_leading``)
already keeps two parts out of parallel fifths and octaves from one sixteenth to the
next.  The ear, and ``bench/chorales.py``, also hear them from beat to beat, through
the passing notes between: the soprano on C then D a beat later over a bass on F then
G is a pair of parallel fifths whatever happened on the sixteenths between.  This rule
(not in the registry: a part job adds it after the grammar, :func:`beat_parallels`)
bans, on each beat, the first note of a part that would move in parallel fifths or
octaves (unisons and compound intervals too) with a part already written in the step,
counted from the two parts' highest notes on the beat before: the two a perfect interval
apart (mod 12) then, the other part moved, this one moving the same way into the same
interval.  A pitch's part is the one the grammar would most likely give it (the open
part whose recent centre lies nearest); forced notes (a melody, kept notes) are never
banned, and a row the rule would leave with no note to write is not narrowed.
"""

from __future__ import annotations

import numpy as np

from engine.encodings.polyphony import STEP
from engine.generation.constraints import Constraint

__all__ = ["BeatParallels", "beat_parallels", "steps_per_beat", "ENABLED"]

# engine.encodings.grammar_kernels, imported with the first rule made (numba's import)
_grammar_kernels = None
_NO_FORCED = np.zeros((1, 1), bool)


def _kernels():
    global _grammar_kernels
    if _grammar_kernels is None:
        from engine.encodings import grammar_kernels

        _grammar_kernels = grammar_kernels
    return _grammar_kernels

#: whether part jobs keep the rule (bench/chorales.py --no-beat-parallels measures the
#: music without it)
ENABLED = True


def steps_per_beat(enc, song) -> int:
    """The grid steps of a beat of ``song``'s first metre (a quarter in 4/4, an eighth
    in 6/8: the beat bench/chorales.py counts); 4 steps a quarter without a song."""
    ts = song.time_signatures[0] if song is not None and song.time_signatures else None
    return max(1, enc.steps_per_quarter * 4 // (ts.denominator if ts else 4))


def beat_parallels(song, start_step: int):
    """A maker of the rule for :func:`engine.generation.polyphony.sample_parts`'
    ``also`` (``start_step``: the grid step of the first token); with :data:`ENABLED`
    off, a rule that narrows nothing."""
    def make(rule):
        if not ENABLED:
            return Constraint(rule.context)
        enc = rule.context.model.encoding
        return BeatParallels(rule.context, rule, start_step, steps_per_beat(enc, song))
    return make


class BeatParallels(Constraint):
    """See the module.  ``rule``: the part grammar's constraint, heard first."""

    name = "beat-parallels"

    def __init__(self, context, rule, start_step: int, beat: int) -> None:
        super().__init__(context)
        self.rule, self.start, self.beat = rule, int(start_step), int(beat)
        g = rule.grammar
        self.n = g.n
        # each row's parts' highest notes on the last beat step closed (-1: silent)
        self.beat_top = np.full((g.batch, g.P), -1, np.int64)
        forced = g.rules.forced
        self.forced_at = None if forced is None else \
            np.ascontiguousarray((forced > 0).any(axis=1))  # [T, n]

    def _on_beat(self, steps: np.ndarray) -> np.ndarray:
        return (self.start + steps) % self.beat == 0

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        g = self.rule.grammar
        mask = np.array(allowed, dtype=bool, order="C", copy=True)
        forced = self.forced_at is not None
        # one compiled call for every row (engine.encodings.grammar_kernels.beat_bans)
        if _kernels().beat_bans(self.start, self.beat, self.rule.done, g.cur_top,
                                self.beat_top, g.count, g.closed, g.centre, forced,
                                self.forced_at if forced else _NO_FORCED, g.steps, mask):
            return mask
        return allowed

    def update(self, tokens: np.ndarray) -> None:
        # heard after the grammar: a row that closed a beat step keeps its parts' tops
        g = self.rule.grammar
        rows = np.nonzero(np.asarray(tokens) == STEP)[0]
        if rows.size:
            closed = rows[self._on_beat(g.steps[rows] - 1)]
            self.beat_top[closed] = g.prev_top[closed]
