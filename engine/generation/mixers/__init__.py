"""Mixers: what reshapes the distribution of the next token, one file each, and their
registry.

A mixer takes the network's logits for every row and returns logits of its own (the
motif memory's mixture, a style's n-gram), and hears each drawn token
(:meth:`Mixer.update`).  Mixers chain: each is built around the one before it
(``inner``), which it consults first.  A mixer is registered under a name with
:func:`register`, as a factory ``(context, inner) -> Mixer``; the motif memory
(``memory``) and a style (``style``) ship.  Importing this package imports every module
in it, so a new mixer is one new file here, and a request names it in
``settings.mixers``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from engine.errors import GenerationError

__all__ = ["Mixer", "Chained", "MixContext", "MIXERS", "register", "chain"]


@dataclass(frozen=True)
class MixContext:
    """What a mixer is built from: the model, the user's settings, the rows sampled
    together, the tokens the generated ones follow (``prefix``), the song (its metre),
    what else the job tells the motif memory (``memory_options``: the music after a
    gap it has heard, ...), the cancel check, and the grid step of the first token the
    mixer is asked about (``start_step``; None: the prefix starts on step 0)."""

    model: Any
    settings: Any
    rows: int
    prefix: Sequence[int]
    song: Any = None
    memory_options: dict = field(default_factory=dict)
    is_cancelled: Callable[[], bool] | None = None
    start_step: int | None = None


class Mixer:
    """Reshapes each step's logits; hears each drawn token."""

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        return logits

    def update(self, tokens: np.ndarray) -> None:
        """The tokens just drawn, one per row."""

    def repeat_rows(self, times: int) -> None:
        """Every row becomes ``times`` rows side by side (a fill's candidates)."""


class Chained(Mixer):
    """A mixer around an ``inner`` one (None: the network's logits): ``inner`` reshapes
    the logits first, then :meth:`mix`; both hear every token."""

    def __init__(self, inner: Mixer | None) -> None:
        self.inner = inner

    def mix(self, logits: np.ndarray) -> np.ndarray:
        return logits

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        return self.mix(logits if self.inner is None else self.inner(logits))

    def update(self, tokens: np.ndarray) -> None:
        if self.inner is not None:
            self.inner.update(tokens)

    def repeat_rows(self, times: int) -> None:
        if self.inner is not None:
            self.inner.repeat_rows(times)


MixerFactory = Callable[[MixContext, Any], Any]
MIXERS: dict[str, MixerFactory] = {}


def register(name: str) -> Callable[[MixerFactory], MixerFactory]:
    """Function decorator: requests naming ``name`` get the mixer this factory builds
    from ``(context, inner)``."""
    def add(factory: MixerFactory) -> MixerFactory:
        if name in MIXERS and MIXERS[name] is not factory:
            raise ValueError(f"the mixer {name} is registered twice")
        MIXERS[name] = factory
        return factory
    return add


def chain(names: Iterable[str], context: MixContext) -> Any:
    """The mixers ``names``, each built around the one before; None for none."""
    mixer = None
    for name in names:
        factory = MIXERS.get(name)
        if factory is None:
            raise GenerationError(f"there is no mixer {name!r}; there are "
                                  f"{', '.join(sorted(MIXERS))}")
        mixer = factory(context, mixer)
    return mixer


for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
