"""The motif memory as a mixer: the network mixed with what the seed (and, for a fill,
the music after the gap) has already played (:class:`engine.generation.memory.MemoryMixer`),
its contexts in the song's metre.  It is the first of a chain: it mixes the network's
own logits.  The repeat control (``settings.repeat``) scales the memory's share."""

from __future__ import annotations

from engine.generation.memory import REPEAT_SHARES, MemoryMixer, mixing_for
from engine.generation.mixers import MixContext, register


@register("memory")
def memory(context: MixContext, inner=None) -> MemoryMixer:
    model = context.model
    enc = model.encoding
    mixing = mixing_for(model.name).in_metre(context.song, enc.steps_per_quarter)
    share = REPEAT_SHARES[int(getattr(context.settings, "repeat", 0))]
    return MemoryMixer(enc.vocab_size, context.rows, context.prefix, mixing,
                       share=share, **context.memory_options)
