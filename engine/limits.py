"""Limits on the inputs Continuo reads through music21, and a time budget for parsers.

Each limit is set well above what real music needs and well below what makes a reader
hang or eat all memory, so that a damaged or hostile file is refused with a
:class:`~engine.errors.LimitError` that says which limit it broke, instead of freezing
the app.  The figures behind the choices are in issue 7's notes (music21 reads about
500 notes a second; mido about 200,000 MIDI events a second of CPU).
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Any, Callable, TypeVar

# The MIDI reader's limits (MAX_FILE_BYTES 32 MB, MAX_NOTES, MAX_EVENTS, ...) live in
# engine/formats/ and the model cards' in engine/models.py, beside the code they
# guard; these are the ones the score readers added.

# ABC, kern and MusicXML go through music21, which is pure Python and slow: a 250 KB
# multi-tune ABC book takes 30 s.  A score on disk (compressed .mxl included) may be this
# big ...
MAX_SCORE_BYTES = 8 * 2**20
# ... and a compressed MusicXML file may unpack to at most this much: a zip bomb
# (a few hundred KB that inflate to gigabytes) is refused before music21 sees it.
MAX_SCORE_UNPACKED_BYTES = 32 * 2**20
MAX_ARCHIVE_MEMBERS = 1_000

# The length of a score in quarter notes: a damaged score may claim a note that lasts
# a million years; 100,000 quarter notes is more than 13 hours at 120 BPM.
MAX_SCORE_QUARTERS = 100_000


# What one generation may ask for (engine.generation.request checks them; the GUI's
# controls read them): the temperature's top, bars, steps and variations.
MAX_TEMPERATURE = 2.0
MAX_BARS = 32
MAX_STEPS = 2048
MAX_VARIATIONS = 8


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

# music21 reads ~500 notes a second and some damaged files make it crawl for minutes (a
# 5.6 KB jig whose lines all end in a continuation backslash: 112 s).  Real files: an
# 83 KB kern movement takes ~11 s; a 370 KB .mxl string quartet 41 s (refused at 30 s).
SCORE_PARSE_SECONDS = 30.0


def score_parse_seconds() -> float:
    """The score-reading budget; CONTINUO_SCORE_SECONDS overrides it (the fuzzer and
    the tests set a short one)."""
    try:
        value = float(os.environ.get("CONTINUO_SCORE_SECONDS", SCORE_PARSE_SECONDS))
    except ValueError:
        return SCORE_PARSE_SECONDS
    return value if value > 0 else SCORE_PARSE_SECONDS


T = TypeVar("T")


class ParseTimeout(BaseException):
    """Raised inside a parser that ran out of time.  A BaseException, so that the
    parser's own ``except Exception`` blocks cannot swallow it."""


_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int


class _QuietThread(threading.Thread):
    """A helper thread that ends silently when a ParseTimeout arrives after its work
    is done (Thread would print it as an unhandled exception)."""

    def run(self) -> None:
        try:
            super().run()
        except ParseTimeout:
            pass


def run_with_time_budget(fn: Callable[[], T], seconds: float) -> T:
    """``fn()``, or :class:`ParseTimeout` once ``seconds`` have passed.

    Why this shape: signals only reach the main thread, and the app reads files in
    worker threads; a subprocess per file costs a second of music21 import.  So ``fn``
    runs in a disposable helper thread while the caller waits with a timeout.  When
    time is up, CPython is asked to raise ParseTimeout inside the helper at its next
    bytecode (``PyThreadState_SetAsyncExc``), which stops any pure-Python loop, and
    the caller gets ParseTimeout at once.  The asynchronous exception only ever
    targets the helper, so it can never land in the caller's own code, however the
    timing falls (a first version raised it in the caller and, rarely, it arrived just
    after the parse had finished).
    """
    outcome: dict[str, Any] = {}

    def helper() -> None:
        try:
            try:
                outcome["value"] = fn()
            except BaseException as e:  # handed to the caller, whatever it is
                outcome["error"] = e
        except BaseException:  # a ParseTimeout that arrived after fn was done
            pass

    thread = _QuietThread(target=helper, name="continuo-time-budget", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for _ in range(50):  # repeated, in case the parser swallows one
            if not thread.is_alive() or outcome:
                break  # over, or finishing: no exception to land in thread teardown
            _set_async_exc(thread.ident, ParseTimeout)
            thread.join(0.1)
        raise ParseTimeout()
    error = outcome.get("error")
    if error is not None:
        if isinstance(error, ParseTimeout):
            raise ParseTimeout()
        raise error
    return outcome["value"]


# ---------------------------------------------------------------------------------------
# Ctrl+C on the command line
# ---------------------------------------------------------------------------------------

# what stop_on_interrupt installed: the command's name, whether its line was written,
# whether Ctrl+C was pressed, and whether the job has begun (the handler then raises)
_interrupt: dict[str, Any] = {}


def say_stopped(command: str | None = None) -> None:
    """Write "continuo COMMAND: stopped" on stderr, once however often it is asked."""
    import sys

    if _interrupt.get("said"):
        return
    _interrupt["said"] = True
    name = command or _interrupt.get("command") or "job"
    try:
        sys.stderr.write(f"continuo {name}: stopped\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed: the exit status still says it
        pass


def interrupted() -> bool:
    """Whether Ctrl+C was pressed during this command-line job."""
    return bool(_interrupt.get("pressed"))


def job_begins() -> None:
    """From now on Ctrl+C raises KeyboardInterrupt in the job (see stop_on_interrupt)."""
    _interrupt["job"] = True


def stop_on_interrupt(command: str, grace: float = 0.8) -> None:
    """Make Ctrl+C (SIGINT) end a command-line job within a second: one line,
    "continuo COMMAND: stopped", exit status 130, never a traceback.

    Called first thing, before the heavy imports.  While modules load, Ctrl+C ends the
    process at once (nothing is written yet, and an exception raised inside an import
    can come out as an ImportError).  Once the job begins (:func:`job_begins`), it raises
    KeyboardInterrupt, so that the job's ``finally`` blocks run (a file half written is
    removed) and the command's wrapper returns 130; whatever then reaches the top level
    is told by ``sys.excepthook`` in the same one line.  A timer ends the process
    ``grace`` seconds after the Ctrl+C if it has not ended by then (the main thread
    waiting in C code), and a second Ctrl+C ends it at once.
    """
    import signal
    import sys

    _interrupt.update(command=command, said=False, pressed=False, job=False)

    def give_up() -> None:
        say_stopped()
        os._exit(130)

    def on_sigint(_signum, _frame) -> None:
        if _interrupt["pressed"] or not _interrupt["job"]:
            _interrupt["pressed"] = True
            give_up()
        _interrupt["pressed"] = True
        timer = threading.Timer(grace, give_up)
        timer.daemon = True
        timer.start()
        raise KeyboardInterrupt

    previous_hook = _interrupt.setdefault("excepthook", sys.excepthook)  # once per process

    def excepthook(kind, value, traceback) -> None:  # noqa: ANN001 - sys.excepthook's
        if issubclass(kind, KeyboardInterrupt) or _interrupt["pressed"]:
            give_up()  # as the command's own wrapper exits (Python would say -2)
        previous_hook(kind, value, traceback)

    signal.signal(signal.SIGINT, on_sigint)
    sys.excepthook = excepthook
