"""Harmonise: the voices beneath the melody of the request's track, over its whole
length, by a model that writes several parts
(:func:`engine.generation.polyphony.generate_polyphony` with ``harmonise_track``)."""

from __future__ import annotations

from engine.encodings import HARMONISE
from engine.generation.jobs import register
from engine.generation.polyphony import generate_polyphony


@register(HARMONISE, parts=True)
def harmonise(library, song, request, model, *, progress=None, is_cancelled=None,
              method: str = "incremental"):
    return generate_polyphony(library, song, request.settings, start_tick=request.start_tick,
                              harmonise_track=request.track, progress=progress,
                              is_cancelled=is_cancelled, method=method)
