"""What the part-music tests share: the folder of part models (``CONTINUO_POLY_MODELS``,
else models/), a library that skips a test when the model is not usable there, and
the settings they generate with (no motif memory, 4 bars)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
MODELS = Path(os.environ.get("CONTINUO_POLY_MODELS", REPO / "models"))


def part_library(model: str):
    """A library of MODELS holding ``model``; the test is skipped without it."""
    from engine.models import ModelLibrary

    lib = ModelLibrary([MODELS])
    if model not in lib.names:
        pytest.skip(f"{model} is not a usable card in {MODELS}: {lib.problems}")
    return lib


def part_settings(model: str, **kw):
    """Settings for ``model``: 4 bars, no motif memory, and ``kw``."""
    from engine.generation.request import GenerationSettings

    return GenerationSettings(**{"model": model, "bars": 4, "memory": False, **kw})


def chorale(name: str = "bach/bwv66.6.mxl"):
    """A Bach chorale of music21's corpus as a song; the test is skipped without
    music21 or the chorale."""
    music21 = pytest.importorskip("music21", reason="music21 reads the Bach chorales")
    from engine.formats.scores import score_file_to_song

    path = Path(music21.common.getCorpusFilePath()) / name
    if not path.exists():
        pytest.skip(f"music21's corpus has no {name}")
    return score_file_to_song(path)


def cut(song, end: int, tracks: list[int] | None = None):
    """A copy of ``song`` (only ``tracks``, when given) with the notes that start before
    ``end``, cut there."""
    from engine.song import Note

    out = song.copy()
    if tracks is not None:
        out.tracks = [out.tracks[i] for i in tracks]
    for t in out.tracks:
        t.notes = [n if n.end_tick <= end else
                   Note(n.pitch, n.start_tick, end - n.start_tick, n.velocity, n.channel)
                   for n in t.notes if n.start_tick < end]
    return out
