"""The split rule every corpus shares: a piece's split follows from its id alone
(``zlib.crc32(id) % 20``: 0 test, 1 validation, else train), so a piece keeps its split
whatever else is added to or dropped from its collection."""

from __future__ import annotations

import zlib

SPLIT_NAMES = ("test", "validation", "train")


def split_of(tune_id: str) -> str:
    """The fixed split of a tune: crc32 of its id mod 20 (0 test, 1 validation)."""
    r = zlib.crc32(tune_id.encode("utf-8")) % 20
    return "test" if r == 0 else "validation" if r == 1 else "train"


def id_sort_key(tune_id: str) -> tuple[str, int]:
    """Corpus order: by file, then by the tune's index in it (``<file>#<index>``)."""
    name, _, idx = tune_id.rpartition("#")
    return (name, int(idx)) if idx.isdigit() else (tune_id, 0)
