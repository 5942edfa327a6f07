"""How big an input Continuo is willing to handle, in one place.

Each limit is set well above what real music needs and well below what makes a reader
hang or eat all memory, so that a damaged or hostile file is refused with a
:class:`~engine.errors.LimitError` that says which limit it broke, instead of freezing
the app.  The figures behind the choices are in issue 7's notes (music21 reads about
500 notes a second; mido about 150,000 MIDI events a second).
"""

from __future__ import annotations

import ctypes
import os
import threading
from contextlib import contextmanager
from typing import Iterator

# MIDI: the largest real MIDI files (orchestral scores, piano-roll archives) are under
# 2 MB; mido parses ~1 MB of densely packed events in about 2.5 s.
MAX_MIDI_BYTES = 16 * 2**20

# ABC, kern and MusicXML go through music21, which is pure Python and slow: a 250 KB
# multi-tune ABC book takes 30 s.  A score on disk (compressed .mxl included) may be this
# big ...
MAX_SCORE_BYTES = 8 * 2**20
# ... and a compressed MusicXML file may unpack to at most this much: a zip bomb
# (a few hundred KB that inflate to gigabytes) is refused before music21 sees it.
MAX_SCORE_UNPACKED_BYTES = 32 * 2**20
MAX_ARCHIVE_MEMBERS = 1_000

# Any song, from any reader: the number of notes, and the length in quarter notes
# (a score may claim a note that lasts a million years; 100,000 quarter notes is
# more than 13 hours at 120 BPM).
MAX_NOTES = 500_000
MAX_SCORE_QUARTERS = 100_000

# Model cards are small JSON files; anything bigger is not a card.
MAX_CARD_BYTES = 1 * 2**20


def describe_bytes(n: int) -> str:
    """A size as a person reads it ("64 MB", "900 KB")."""
    if n >= 2**20:
        return f"{n / 2**20:.0f} MB"
    if n >= 2**10:
        return f"{n / 2**10:.0f} KB"
    return f"{n} bytes"


# ---------------------------------------------------------------------------------------
# a time budget for pure-Python parsers (music21)
# ---------------------------------------------------------------------------------------

# music21 reads ~500 notes a second and some damaged files make it loop for minutes
# (100 key changes in a 5 KB ABC tune: 112 s); a real 80 KB kern file takes ~11 s.
SCORE_PARSE_SECONDS = 30.0


def score_parse_seconds() -> float:
    """The score-reading budget; CONTINUO_SCORE_SECONDS overrides it (the fuzzer and
    the tests set a short one)."""
    try:
        value = float(os.environ.get("CONTINUO_SCORE_SECONDS", SCORE_PARSE_SECONDS))
    except ValueError:
        return SCORE_PARSE_SECONDS
    return value if value > 0 else SCORE_PARSE_SECONDS


class ParseTimeout(BaseException):
    """Raised inside a parser that ran out of time.  A BaseException, so that the
    parser's own ``except Exception`` blocks cannot swallow it."""


_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Interrupt the body with :class:`ParseTimeout` once ``seconds`` have passed.

    Why not a signal or a subprocess: signals only reach the main thread, and the app
    reads files in worker threads; a subprocess per file costs a second of music21
    import.  CPython can raise an exception in another thread at its next bytecode
    (``PyThreadState_SetAsyncExc``), which stops any pure-Python loop.  The watchdog
    repeats the exception every half second in case the parser swallows it.

    An exception sent just as the body ends must not leak into the caller's later code:
    the body's end is marked with a plain store (which nothing can interrupt), the
    watchdog sends nothing once it sees the mark, and the one it may have sent before
    seeing it is caught while joining the watchdog, which is stopped first.
    """
    target = threading.get_ident()
    body_over = [False]
    stop = threading.Event()

    def watch() -> None:
        wait = seconds
        while not stop.wait(wait):
            if body_over[0]:
                return
            _set_async_exc(target, ParseTimeout)
            wait = 0.5

    watchdog = threading.Thread(target=watch, name="continuo-time-budget", daemon=True)
    watchdog.start()
    try:
        yield
    finally:
        body_over[0] = True
        while True:
            try:
                stop.set()
                watchdog.join()
                break
            except ParseTimeout:
                continue  # sent after the body ended: the body is over, drop it
