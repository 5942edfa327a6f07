"""Encodings: music <-> tokens, behind one interface (:mod:`engine.encodings.base`),
with the keys every encoding transposes by (:mod:`engine.encodings.keys`).

Importing this package registers every encoding in it: each module of this folder is
imported, and each registers its classes with ``@register``, so a new encoding is one
new file here (``melody-16th`` v1, :mod:`engine.encodings.melody`, ships).  A model
card's ``encoding`` section is turned into an encoding by :func:`encoding_from_card`.
"""

import importlib
import pkgutil

from engine.encodings.base import (CAPABILITIES, CONTINUE, ENCODINGS, FILL, HARMONISE, PARTS,
                                   Encoded, Encoding, EncodingReport, capabilities_of,
                                   encoding_from_card, known_encodings, register)
from engine.encodings.keys import C_MAJOR, Key, estimate_key, estimate_song_key
from engine.encodings.melody import DEFAULT_ENCODING, MelodyEncoding

__all__ = ["CAPABILITIES", "CONTINUE", "FILL", "HARMONISE", "PARTS", "capabilities_of",
           "ENCODINGS", "Encoded", "Encoding", "EncodingReport", "encoding_from_card",
           "known_encodings", "register", "C_MAJOR", "Key", "estimate_key",
           "estimate_song_key", "DEFAULT_ENCODING", "MelodyEncoding"]

_SUPPORT = {"base", "keys"}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _SUPPORT and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
