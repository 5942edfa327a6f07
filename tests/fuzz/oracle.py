"""What a reader may do with any input: return a song (or model), or refuse it with a
``ContinuoError`` whose message names the file.  Anything else is a bug.

The oracle writes the input to a real file under the name a user would have given it
(readers take paths, and the score readers pick their parser by suffix), calls the
reader, and classifies the outcome.  Hangs and memory are policed by the caller (the
hypothesis deadline in CI, a subprocess with setrlimit and a timer in the long run).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from engine.errors import ContinuoError


class ReaderBug(AssertionError):
    """A reader let through an exception that is not a ContinuoError, or refused a
    file with a message that does not say which file."""


def _read_midi(path: Path) -> object:
    from engine.formats import midi_file_to_song

    return midi_file_to_song(path)


def _read_score(path: Path) -> object:
    from engine.formats import score_file_to_song

    return score_file_to_song(path)


def _with_model_files(folder: Path) -> None:
    """Put the shipped ONNX files beside the fuzzed card (hard links, once per folder),
    so that a card that survives its mutation is checked against real graphs."""
    from tests.fuzz.seeds import REPO

    for onnx in (REPO / "models").glob("*.onnx"):
        target = folder / onnx.name
        if not target.exists():
            try:
                os.link(onnx, target)
            except OSError:
                target.write_bytes(onnx.read_bytes())


def _read_card(path: Path) -> object:
    from engine.models import ModelLibrary, read_card

    _with_model_files(path.parent)
    info = read_card(path)
    # the library must list a good card too (it only catches ContinuoError per card)
    library = ModelLibrary([path.parent])
    if info.name not in library.names:
        raise ReaderBug(f"read_card accepted {path.name} but the library does not list it: "
                        f"{library.problems}")
    return info


READERS: dict[str, Callable[[Path], object]] = {
    "midi": _read_midi,
    "abc": _read_score,
    "musicxml": _read_score,
    "kern": _read_score,
    "card": _read_card,
}


def run_reader(reader: str, suffix: str, data: bytes, folder: Path,
               stem: str = "fuzzed") -> str:
    """Feed ``data`` to ``reader`` as ``folder/<stem><suffix>``; return "ok" or the
    name of the ContinuoError subclass; raise ReaderBug for anything else."""
    path = folder / f"{stem}{suffix}"
    path.write_bytes(data)
    try:
        READERS[reader](path)
    except ContinuoError as e:
        message = str(e)
        if path.name not in message:
            raise ReaderBug(f"{type(e).__name__} does not name the file: {message!r}") from e
        return type(e).__name__
    except Exception as e:  # the oracle's whole point: nothing else may escape
        raise ReaderBug(f"{reader} reader let {type(e).__name__} escape: {e!s:.300}") from e
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return "ok"
