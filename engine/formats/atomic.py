"""Atomic file writes: a file is either the old one or the new one, never a torn mix.

Used for every file Continuo writes: MIDI, WAV, ONNX models, model cards, READMEs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from engine.errors import ContinuoError


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that the file is either the old one or the new one,
    never a torn mix: a temp file in the same folder, flushed, fsynced, renamed."""
    path = Path(os.path.realpath(path))  # a symlink stays a symlink: write its target
    try:
        mode = os.stat(path).st_mode & 0o7777  # an existing file keeps its permissions
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask  # a new file gets what open() would have given it
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def write_file(path: str | os.PathLike, data: bytes,
               error: type[ContinuoError] = ContinuoError) -> None:
    """:func:`write_bytes_atomic`, with ``error`` naming the file (instead of an OSError)
    when it cannot be written."""
    try:
        write_bytes_atomic(path, data)
    except OSError as e:
        raise error(f"{Path(path).name}: the file cannot be written "
                    f"({e.strerror or e})") from None
