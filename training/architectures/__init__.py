"""The architectures training builds, exports and describes, in one registry.

Each module of this folder registers one :class:`Architecture` with ``@register`` (its
name is what a card's ``architecture`` and ``--model`` say), so a new architecture is
one new file here: the command line's choices, export, evaluation and the README table
all read :data:`ARCHITECTURES`.  Shipped: ``lstm``, ``seed-lstm`` (the seed notebooks'
LSTM), ``wavenet`` and ``ensemble`` (two exported models run as one; not trained).
The engine does not read this registry: it accepts any architecture whose graphs keep
docs/model-contract.md.
"""

import importlib
import pkgutil

from training.architectures.base import (ARCHITECTURES, Architecture, Hyperparameters, get,
                                         names, register, tail_output)

__all__ = ["ARCHITECTURES", "Architecture", "Hyperparameters", "get", "names", "register",
           "tail_output"]

_SUPPORT = {"base", "layers"}  # helpers, not architectures (layers imports Keras)
for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _module.name not in _SUPPORT and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
