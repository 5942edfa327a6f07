"""The pitch range: only notes between the settings' lowest and highest pitch (moved
into the model's key by ``transpose``); no narrowing when neither is set."""

from __future__ import annotations

import numpy as np

from engine.generation.constraints import Constraint, register


@register
class PitchRange(Constraint):
    name = "range"

    def allowed(self) -> np.ndarray | None:
        c = self.context
        s = c.settings
        if s.min_pitch is None and s.max_pitch is None:
            return None
        lo = None if s.min_pitch is None else s.min_pitch + c.transpose
        hi = None if s.max_pitch is None else s.max_pitch + c.transpose
        return c.model.encoding.allowed_tokens(None, lo, hi)
