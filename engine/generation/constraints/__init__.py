"""Constraints: what narrows the next token, one file each, and their registry.

A constraint is a :class:`Constraint` subclass registered under its ``name``.  Built
from a :class:`StepContext` (the model, the settings, the key it locks, the
transposition into the model's key, the rows sampled), it gives a mask over the
vocabulary (model space) that holds for every step (:meth:`Constraint.allowed`), and
may narrow each step's mask from what has been drawn so far (:meth:`Constraint.narrow`
and :meth:`Constraint.update`, which :func:`engine.generation.sampling.sample_loop`
calls).  The key lock (``key``) and the pitch range (``range``) ship; the part music's
grammar is one too.  Importing this package imports every module in it, so a new
constraint is one new file here, and a request names it in ``settings.constraints``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

import numpy as np

from engine.encodings import Key
from engine.errors import GenerationError

__all__ = ["Constraint", "StepContext", "CONSTRAINTS", "register", "build", "combined"]


@dataclass(frozen=True)
class StepContext:
    """What a constraint or a mixer is built from: the model, the user's settings, the
    key the lock uses (None: no lock) and its pitch classes (``scale``, the seed's key
    space), the semitones that move the seed into the model's key (``transpose``) and
    the rows sampled together (``rows``)."""

    model: Any
    settings: Any
    lock_key: Key | None = None
    scale: Iterable[int] | None = None
    transpose: int = 0
    rows: int = 1


class Constraint:
    """Narrows what may come next.  Subclasses set ``name`` and override what applies."""

    name: ClassVar[str]

    def __init__(self, context: StepContext) -> None:
        self.context = context

    def allowed(self) -> np.ndarray | None:
        """Boolean [vocab]: the tokens allowed at every step; None: no narrowing."""
        return None

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        """Boolean [rows, vocab]: ``allowed`` narrowed for step ``step`` (from 0) of the
        sampling; by default as it is."""
        return allowed

    def update(self, tokens: np.ndarray) -> None:
        """The tokens just drawn, one per row."""


CONSTRAINTS: dict[str, type[Constraint]] = {}


def register(cls: type[Constraint]) -> type[Constraint]:
    """Class decorator: requests naming ``cls.name`` get ``cls``."""
    if cls.name in CONSTRAINTS and CONSTRAINTS[cls.name] is not cls:
        raise ValueError(f"the constraint {cls.name} is registered twice")
    CONSTRAINTS[cls.name] = cls
    return cls


def build(names: Iterable[str], context: StepContext) -> list[Constraint]:
    """The constraints ``names`` for ``context``; a GenerationError for a name that
    none has."""
    out = []
    for name in names:
        cls = CONSTRAINTS.get(name)
        if cls is None:
            raise GenerationError(f"there is no constraint {name!r}; there are "
                                  f"{', '.join(sorted(CONSTRAINTS))}")
        out.append(cls(context))
    return out


def combined(constraints: Iterable[Constraint], encoding) -> np.ndarray:
    """The tokens every constraint allows at every step (boolean [vocab]), among those
    the ``encoding`` ever lets a sampler draw."""
    allowed = encoding.allowed_tokens(None, None, None)
    for c in constraints:
        mask = c.allowed()
        if mask is not None:
            allowed = allowed & mask
    return allowed


for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
