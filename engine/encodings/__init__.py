"""Encodings: music <-> tokens, behind one interface (:mod:`engine.encodings.base`),
with the keys every encoding transposes by (:mod:`engine.encodings.keys`).

Importing this package registers the encodings that ship: ``melody-16th`` v1
(:mod:`engine.encodings.melody`).  A model card's ``encoding`` section is turned into
an encoding by :func:`encoding_from_card`.
"""

from engine.encodings.base import (ENCODINGS, Encoded, Encoding, EncodingReport,
                                   encoding_from_card, known_encodings, register)
from engine.encodings.keys import C_MAJOR, Key, estimate_key, estimate_song_key
from engine.encodings.melody import DEFAULT_ENCODING, MelodyEncoding

__all__ = ["ENCODINGS", "Encoded", "Encoding", "EncodingReport", "encoding_from_card",
           "known_encodings", "register", "C_MAJOR", "Key", "estimate_key",
           "estimate_song_key", "DEFAULT_ENCODING", "MelodyEncoding"]
