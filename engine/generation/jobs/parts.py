"""The continuation of every part: each playable track of the seed goes on from where
the music ends, by a model that writes several parts
(:func:`engine.generation.polyphony.generate_polyphony`)."""

from __future__ import annotations

from engine.encodings import CONTINUE
from engine.generation.jobs import register
from engine.generation.polyphony import generate_polyphony


@register(CONTINUE, parts=True)
def continue_parts(library, song, request, model, *, progress=None, is_cancelled=None,
                   method: str = "incremental", record_logits: bool = False):
    # (no logits are recorded for part music)
    return generate_polyphony(library, song, request.settings, start_tick=request.start_tick,
                              progress=progress, is_cancelled=is_cancelled, method=method)
