"""Real files to mutate: the fuzzer starts from what users actually open.

MIDI files come from music21's own MIDI test suite and from Continuo's default seed;
ABC, MusicXML and kern files from music21's corpus; model cards from ``models/``.
Small files are preferred: a mutation of a small real file exercises the same parser
paths as one of a big file, and music21 takes about 2 ms per note, so small seeds let
the long run feed tens of thousands of inputs to every reader.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# reader name -> (suffixes of its seed files, largest seed in bytes)
READERS: dict[str, tuple[tuple[str, ...], int]] = {
    "midi": ((".mid",), 70_000),
    "abc": ((".abc",), 1_500),
    "musicxml": ((".xml", ".mxl", ".musicxml"), 8_000),
    "kern": ((".krn",), 2_500),
    "card": ((".json",), 200_000),
}


@dataclass(frozen=True)
class Seed:
    """One real file: its name (for messages), suffix and bytes."""

    name: str
    suffix: str
    data: bytes


def _music21_root() -> Path:
    from music21 import common  # lazily: only the score seeds need music21

    return Path(common.getSourceFilePath())


def _candidate_paths(reader: str) -> list[Path]:
    if reader == "midi":
        root = _music21_root() / "midi" / "testPrimitive"
        return sorted(root.glob("*.mid")) + [REPO / "assets" / "default_seed.mid"]
    if reader == "card":
        return sorted((REPO / "models").glob("*.json"))
    suffixes, _ = READERS[reader]
    corpus = _music21_root() / "corpus"
    return sorted(p for s in suffixes for p in corpus.rglob(f"*{s}"))


@functools.cache
def seeds(reader: str, limit: int = 40) -> tuple[Seed, ...]:
    """Up to ``limit`` real seed files for ``reader``, spread over the corpus (not just
    the first folder), each no larger than the reader's cap."""
    _, max_bytes = READERS[reader]
    paths = [p for p in _candidate_paths(reader) if p.is_file() and p.stat().st_size <= max_bytes]
    if len(paths) > limit:  # an even spread keeps composers and encoders varied
        step = len(paths) / limit
        paths = [paths[int(i * step)] for i in range(limit)]
    return tuple(Seed(p.name, p.suffix.lower(), p.read_bytes()) for p in paths)
