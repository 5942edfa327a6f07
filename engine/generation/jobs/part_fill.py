"""The fill of every part's gap at once, by a model that writes several parts
(:func:`engine.generation.polyfill.fill_polyphony`)."""

from __future__ import annotations

from engine.encodings import FILL
from engine.generation.jobs import register
from engine.generation.polyfill import fill_polyphony


@register(FILL, parts=True)
def fill_parts(library, song, request, model, *, progress=None, is_cancelled=None):
    start_tick, end_tick = request.gap
    return fill_polyphony(library, song, request.settings, start_tick=start_tick,
                          end_tick=end_tick, progress=progress, is_cancelled=is_cancelled)
