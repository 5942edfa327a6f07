"""The key lock: only notes of the locked key's pitch classes (``scale``, moved into the
model's key by ``transpose``); no narrowing when there is no lock.

With follow chords on (loose or strict), the chord the user typed wins on its own span:
:class:`ChordKeyLock` lets a tone of the chord sounding at a step start there even
outside the key (a secondary dominant's leading tone: E7's G# under a lock on C), and
nowhere else.  Where every chord's tones lie in the key it is not built, so the lock is
the plain key lock and the music is the same as before.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.generation.constraints import Constraint, StepContext, register
from engine.generation.constraints.chords import ChordPlan, chord_plan, follows
from engine.song import Song


@register
class KeyLock(Constraint):
    name = "key"

    def allowed(self) -> np.ndarray | None:
        c = self.context
        if c.scale is None:
            return None
        pcs = {(pc + c.transpose) % 12 for pc in c.scale}
        return c.model.encoding.allowed_tokens(pcs, None, None)


class ChordKeyLock(Constraint):
    """The key lock under followed chords, on a melody model's tokens: :attr:`scale` (in
    the seed's key space, as :attr:`StepContext.scale`) is the key's pitch classes and
    every chord tone of the span, for the job's every-step mask (the ``key``
    constraint); :meth:`narrow` takes the tones outside the key back off each step
    whose chord does not hold them.  Built by the melody jobs (:meth:`for_melody`), not
    named in a request."""

    name = "key-chords"

    def __init__(self, context: StepContext, plan: ChordPlan, first_step: int) -> None:
        super().__init__(context)
        self.plan, self.first_step = plan, int(first_step)
        enc, transpose = context.model.encoding, context.transpose
        self.key = frozenset((pc + transpose) % 12 for pc in context.scale)  # model space
        self.outside = np.array([sorted(set(np.flatnonzero(row)) - self.key)
                                 for row in plan.tones], dtype=object)
        extra = set().union(*self.outside[plan.has]) if plan.has.any() else set()
        self.scale: list[int] = sorted(set(context.scale)
                                       | {(pc - transpose) % 12 for pc in extra})
        self._masks: dict[tuple[int, ...], np.ndarray] = {}
        self._encoding = enc

    @classmethod
    def for_melody(cls, context: StepContext, song: Song | None, start_step: int,
                   steps: int) -> "ChordKeyLock | None":
        """The lock for a melody job that samples ``steps`` tokens from grid step
        ``start_step`` under ``context``'s key lock; None where nothing changes: no
        lock, chords not followed, no chord over the span, or every chord tone in the
        key."""
        if context.scale is None or not follows(context.settings):
            return None
        plan = chord_plan(song, context.model.encoding, start_step, steps, context.transpose)
        if plan is None:
            return None
        lock = cls(context, plan, start_step)
        return lock if len(lock.scale) > len(set(context.scale)) else None

    def _mask(self, outside: Sequence[int]) -> np.ndarray:
        """The tokens of the key and of ``outside`` (model-space pitch classes)."""
        key = tuple(outside)
        if key not in self._masks:
            self._masks[key] = np.asarray(
                self._encoding.allowed_tokens(set(self.key) | set(outside), None, None), bool)
        return self._masks[key]

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        t, ok = self.plan.index(np.array([self.first_step + step]))
        out = allowed & self._mask(self.outside[t[0]] if ok[0] else ())
        if out.ndim == 2:  # a row left nothing keeps what it had (the chords' constraint)
            empty = ~out.any(axis=1)
            out[empty] = np.broadcast_to(allowed, out.shape)[empty]
        return out

    def advance(self, steps: int) -> None:
        """The next sampling starts ``steps`` grid steps later (a fill's second part)."""
        self.first_step += int(steps)

    def repeat_rows(self, times: int) -> None:
        """Every row becomes ``times`` rows: each step's mask is the same for all."""
