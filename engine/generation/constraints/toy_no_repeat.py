"""A toy constraint (issue 22's proof that a constraint is one new file): no row starts
the same note on two steps in a row.  Try it with ``settings.constraints``
(``["toy-no-repeat"]``)."""

from __future__ import annotations

import numpy as np

from engine.generation.constraints import Constraint, register


@register
class NoRepeat(Constraint):
    name = "toy-no-repeat"
    last: np.ndarray | None = None

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        if self.last is None:
            return allowed
        onsets = self.context.model.encoding.onset_mask
        out = np.array(np.broadcast_to(allowed, (len(self.last), allowed.shape[-1])))
        rows = np.flatnonzero(onsets[self.last])
        out[rows, self.last[rows]] = False
        return out

    def update(self, tokens: np.ndarray) -> None:
        self.last = np.asarray(tokens, dtype=np.int64)
