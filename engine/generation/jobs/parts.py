"""The part jobs: every part continued, the voices beneath a melody (harmonise), and
every part's gap filled, by a model that writes several parts
(:mod:`engine.generation.polyphony`, :mod:`engine.generation.polyfill`)."""

from __future__ import annotations

from engine.encodings import CONTINUE, FILL, HARMONISE
from engine.generation.jobs import register
from engine.generation.polyfill import fill_polyphony
from engine.generation.polyphony import generate_polyphony


@register(CONTINUE, parts=True)
def continue_parts(library, song, request, model, *, progress=None, is_cancelled=None,
                   method: str = "incremental", record_logits: bool = False):
    # (no logits are recorded for part music)
    return generate_polyphony(library, song, request.settings, start_tick=request.start_tick,
                              progress=progress, is_cancelled=is_cancelled, method=method)


@register(HARMONISE, parts=True)
def harmonise(library, song, request, model, *, progress=None, is_cancelled=None,
              method: str = "incremental"):
    return generate_polyphony(library, song, request.settings, start_tick=request.start_tick,
                              harmonise_track=request.track, progress=progress,
                              is_cancelled=is_cancelled, method=method)


@register(FILL, parts=True)
def fill_parts(library, song, request, model, *, progress=None, is_cancelled=None):
    start_tick, end_tick = request.gap
    return fill_polyphony(library, song, request.settings, start_tick=start_tick,
                          end_tick=end_tick, progress=progress, is_cancelled=is_cancelled)
