"""The key lock: only notes of the locked key's pitch classes (``scale``, moved into the
model's key by ``transpose``); no narrowing when there is no lock."""

from __future__ import annotations

import numpy as np

from engine.generation.constraints import Constraint, register


@register
class KeyLock(Constraint):
    name = "key"

    def allowed(self) -> np.ndarray | None:
        c = self.context
        if c.scale is None:
            return None
        pcs = {(pc + c.transpose) % 12 for pc in c.scale}
        return c.model.encoding.allowed_tokens(pcs, None, None)
