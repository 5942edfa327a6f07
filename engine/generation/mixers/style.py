"""A style as a mixer: the style's n-gram (:class:`engine.generation.style.StyleMixer`)
mixed after the motif memory (``inner``), with the shares fitted beside this model."""

from __future__ import annotations

from engine.errors import Cancelled
from engine.generation.mixers import MixContext, register
from engine.generation.sampling import GenerationCancelled
from engine.generation.style import StyleMixer, resolve_style


@register("style")
def style(context: MixContext, inner=None) -> StyleMixer:
    model = context.model
    try:
        found = resolve_style(context.settings.style, model.encoding, context.is_cancelled)
        return StyleMixer(found, model, context.rows, context.prefix, inner)
    except Cancelled:
        raise GenerationCancelled("generation was cancelled") from None
