"""The motif memory for a part model: the melody models' short-term model of the piece
(:class:`engine.generation.memory.MemoryMixer`, an online n-gram fed the seed and then
every token drawn) over the ``polyphony-16th`` tokens of every part together, mixed with
the network at every token of a part job (continue, harmonise, fill) before the part
controls move its logits.

Chosen on the part-music validation split (``python -m training
part-memory-sweep``): one memory over the joined tokens, its contexts
blind to the beat (a step is several tokens, so a token's index says nothing of where in
the beat it falls), its adaptive shares in each part model's card (``memory``).  The
repeat control scales its share as for a melody (:data:`REPEAT_SHARES`).  With the
memory off nothing here is built, so the music is byte for byte the network's.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.generation.memory import REPEAT_SHARES, MemoryMixer, mixing_for

__all__ = ["PartMixers", "part_memory", "with_memory"]


def part_memory(model, settings, rows: int, heard: Sequence[int] | None,
                steps: int) -> MemoryMixer | None:
    """The memory of ``rows`` rows that has heard ``heard`` (the tokens the first drawn
    one follows); None when the settings turn it off or ``heard`` is None (a job that
    takes no memory)."""
    if heard is None or not getattr(settings, "memory", False):
        return None
    share = REPEAT_SHARES[int(getattr(settings, "repeat", 0))]
    return MemoryMixer(model.encoding.vocab_size, rows, list(heard), mixing_for(model.name),
                       steps=steps, share=share)


class PartMixers:
    """The memory's mixture, then the part controls (a
    :class:`engine.generation.mixers.control.PartMixer`, or None) on it; both hear each
    drawn token."""

    def __init__(self, memory: MemoryMixer, controls=None) -> None:
        self.memory, self.controls = memory, controls

    def __call__(self, logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
        mixed = self.memory(logits)
        return mixed if self.controls is None else self.controls(mixed, mask)

    def update(self, tokens: np.ndarray) -> None:
        self.memory.update(tokens)
        if self.controls is not None:
            self.controls.update(tokens)


def with_memory(memory: MemoryMixer | None, controls):
    """What a part job's token loop calls: the controls alone without a memory (the
    music as it was), else both."""
    return controls if memory is None else PartMixers(memory, controls)
