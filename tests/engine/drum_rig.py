"""What the drum tests share: the shipped models' library (the tests skip where no
drum model ships), mma's four-bar swing groove, and a song's drum or pitched tracks
alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.formats import load_song
from engine.generation.jobs.drums import drum_model_names
from engine.models import ModelLibrary
from engine.song import Song

ROOT = Path(__file__).resolve().parents[2]
# four bars of an mma swing groove: drums, two chord tracks and a bass, in 4/4
GROOVE = ROOT / "tests" / "data" / "drums" / "swing-tiny.mid"


@pytest.fixture(scope="module")
def library() -> ModelLibrary:
    lib = ModelLibrary([ROOT / "models"])
    if not drum_model_names(lib):
        pytest.skip("no drum model in models/")
    return lib


@pytest.fixture(scope="module")
def groove() -> Song:
    """Four bars of mma's swing: a drum track, two chord tracks and a bass, in 4/4."""
    return load_song(str(GROOVE))


def without_drums(song: Song) -> Song:
    """A copy of ``song`` with its pitched tracks only."""
    out = song.copy()
    out.tracks[:] = [t for t in out.tracks if not t.is_drum]
    return out


def only_drums(song: Song) -> Song:
    """A copy of ``song`` with its drum tracks only."""
    out = song.copy()
    out.tracks[:] = [t for t in out.tracks if t.is_drum]
    return out
