"""The engine's generation service: a helper process that runs the jobs the GUI asks
for (continue, fill, harmonise: :func:`engine.generation.jobs.run` chooses), and the
client that starts it and talks to it.

Why a process: sampling is Python and numpy code that holds the GIL for most of each
step.  On a busy machine the OS preempts the generating thread while it holds the GIL,
and the GUI thread then waits for the GIL, not for a CPU: stalls of 100-500 ms were
measured with an in-process thread (bench/gui_stall.py).  In its own process the
generator shares no GIL with the GUI, so the GUI thread only competes for a CPU.  Every
generation the GUI asks for (the Generate panel, call-and-response) goes through here.

The child is started as ``python -c "... main()"`` (:class:`GenerationService`), not
through multiprocessing's spawn, which re-imports the parent's ``__main__``: a script
without an ``if __name__ == "__main__"`` guard would open another window in the child,
which would start another child, and so on.

Protocol: one JSON object per line on the child's stdin and on a private copy of its
stdout (the real fd 1 is pointed at stderr, so a stray print cannot corrupt the stream).
Each message is one of the dataclasses below; its ``kind`` tag names the class, and its
fields are written by :func:`encode` and rebuilt by :func:`decode` from their declared
types: a Song as base64 standard MIDI bytes (which round-trip exactly), any dataclass
(GenerationSettings, GenerationResult, Note, Key) field by field, lists item by item.
Nothing is pickled.

    parent -> child: Warm | Generate | Cancel | Quit
    child -> parent: Warmed | Progress, then one of Result | Error | Cancelled per job

A generation's outcome (Result, Error or Cancelled) is made by :func:`generate_outcome`,
in the child, or in the caller's thread where no child can run.

This module imports no Qt: the child imports only the engine.
"""

from __future__ import annotations

import atexit
import base64
import dataclasses
import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
import traceback
import types
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, BinaryIO, Callable, ClassVar, Union

from engine.errors import ContinuoError
from engine.encodings import CONTINUE, FILL, HARMONISE
from engine.generation.request import GenerationRequest, GenerationSettings
from engine.generation.sampling import GenerationCancelled, GenerationResult
from engine.song import Song

PROGRESS_INTERVAL_S = 0.05
SEED_NAME = "the seed"
# a job that has not answered Cancel this long after it was sent is stopped by killing
# the helper process (the next job starts a new one)
CANCEL_GRACE_S = 1.0
# the watchdog: a job may use this much CPU time in the child, plus so much per step
# of each variation (about 10x what the slowest shipped model needs: bench/generation.py)
# and per seed step heard, before it is stopped with a sentence
WATCHDOG_FLOOR_S = 5.0
WATCHDOG_PER_STEP_S = 0.02
WATCHDOG_PER_SEED_STEP_S = 0.002


# ---------------------------------------------------------------------------------------
# messages
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Warm:
    """Load these models now, so that the first Generate does not wait for sessions."""

    kind: ClassVar[str] = "warm"
    folders: list[str]
    names: list[str]


@dataclass(frozen=True)
class Generate:
    """Continue ``seed`` with ``settings`` (the arguments of ``generate``); with an
    ``end_tick``, fill the gap ``[start_tick, end_tick)`` of the track instead
    (:func:`engine.generation.fill.fill`; with a polyphonic model, of every part,
    whatever ``polyphonic`` and ``track_index`` say).  ``polyphonic``: continue every part with a
    polyphonic model (:func:`engine.generation.polyphony.generate_polyphony`, from
    ``start_tick``; ``track_index`` is not used), or with a ``harmonise_track``, write
    the voices beneath that track's melody."""

    kind: ClassVar[str] = "generate"
    job_id: int
    folders: list[str]
    seed: Song | None
    settings: GenerationSettings
    track_index: int | None = None
    start_tick: int | None = None
    end_tick: int | None = None
    polyphonic: bool = False
    harmonise_track: int | None = None
    # the engine's request itself (engine.generation.request), which the fields above
    # describe for the callers that do not build one; when given, it is what is done
    request: GenerationRequest | None = None


@dataclass(frozen=True)
class Cancel:
    kind: ClassVar[str] = "cancel"
    job_id: int


@dataclass(frozen=True)
class Quit:
    kind: ClassVar[str] = "quit"


@dataclass(frozen=True)
class Warmed:
    kind: ClassVar[str] = "warmed"
    problems: list[str]
    pid: int


@dataclass(frozen=True)
class Progress:
    kind: ClassVar[str] = "progress"
    job_id: int
    done: int
    total: int


@dataclass(frozen=True)
class Result:
    """The job's notes; ``pid`` is the process that generated them."""

    kind: ClassVar[str] = "result"
    job_id: int
    result: GenerationResult
    pid: int


@dataclass(frozen=True)
class Error:
    """A sentence for the user (never a traceback)."""

    kind: ClassVar[str] = "error"
    job_id: int
    message: str


@dataclass(frozen=True)
class Cancelled:
    """The job was cancelled; ``restarted`` when it did not stop within
    CANCEL_GRACE_S and the helper process was killed (the next job starts another)."""

    kind: ClassVar[str] = "cancelled"
    job_id: int
    restarted: bool = False


Outcome = Union[Result, Error, Cancelled]
MESSAGES: dict[str, type] = {cls.kind: cls for cls in (
    Warm, Generate, Cancel, Quit, Warmed, Progress, Result, Error, Cancelled)}


# ---------------------------------------------------------------------------------------
# one encoder and one decoder for every message
# ---------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A field's value as JSON-able data, by its type."""
    if isinstance(value, Song):
        from engine.formats import song_to_midi_bytes

        return base64.b64encode(song_to_midi_bytes(value)).decode("ascii")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _scalar(value: Any) -> Any:
    """json's fallback: numpy scalars become Python numbers; anything else is refused."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    raise TypeError(f"a {type(value).__name__} cannot travel to the generator process")


def encode(message: Any) -> bytes:
    """One message -> one JSON line."""
    body = {"kind": message.kind, **_plain(message)}
    return json.dumps(body, default=_scalar).encode("utf-8") + b"\n"


@lru_cache(maxsize=None)
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _rebuild(kind: Any, data: Any) -> Any:
    """``data`` (from JSON) as a value of the declared type ``kind``."""
    if data is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        return _rebuild(options[0], data) if len(options) == 1 else data
    if origin in (list, tuple):
        args = typing.get_args(kind)
        items = [_rebuild(args[0] if args else Any, v) for v in data]
        return items if origin is list else tuple(items)
    if kind is Song:
        from engine.formats import midi_file_to_song

        return midi_file_to_song(base64.b64decode(data), name=SEED_NAME)
    if dataclasses.is_dataclass(kind):
        types_of = _field_types(kind)
        return kind(**{name: _rebuild(types_of[name], value) for name, value in data.items()})
    return data


def decode(line: bytes) -> Any:
    """One JSON line -> the message it holds."""
    body = json.loads(line)
    return _rebuild(MESSAGES[body.pop("kind")], body)


def write_message(stream: BinaryIO, message: Any) -> None:
    stream.write(encode(message))
    stream.flush()


def read_message(stream: BinaryIO) -> Any:
    """The next message; EOFError when the other end has gone."""
    line = stream.readline()
    if not line:
        raise EOFError("the other end of the generator pipe has gone")
    return decode(line)


# ---------------------------------------------------------------------------------------
# one generation -> its outcome (in the child, or in the caller's thread)
# ---------------------------------------------------------------------------------------
def throttled(progress: Callable[[int, int], None] | None,
              interval_s: float = PROGRESS_INTERVAL_S) -> Callable[[int, int], None]:
    """``progress`` called at most every ``interval_s`` (and always for the last step):
    a run takes hundreds of steps, and a message per step tells the user nothing more."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if progress is not None and (done >= total or now - last[0] >= interval_s):
            last[0] = now
            progress(int(done), int(total))

    return report


def request_of(message: Generate) -> GenerationRequest:
    """The engine's request that a Generate message carries, validated (a
    GenerationError with a sentence when something is wrong): a fill when it has an
    ``end_tick`` (and no ``harmonise_track``), a harmonisation with a
    ``harmonise_track``, else a continuation, of every part when ``polyphonic``; or the ``request``
    the message carries."""
    if message.request is not None:
        return message.request
    if message.end_tick is not None and message.harmonise_track is None:
        return GenerationRequest(FILL, message.settings, message.track_index,
                                 message.start_tick or 0, message.end_tick)
    if message.harmonise_track is not None:
        return GenerationRequest(HARMONISE, message.settings, message.harmonise_track,
                                 message.start_tick)
    return GenerationRequest(CONTINUE, message.settings,
                             None if message.polyphonic else message.track_index,
                             message.start_tick, parts=message.polyphonic)


def generate_outcome(library: Any, request: Generate,
                     progress: Callable[[int, int], None] | None = None,
                     is_cancelled: Callable[[], bool] | None = None) -> Outcome:
    """Run the job ``request`` asks for (:func:`engine.generation.jobs.run` chooses it);
    its Result, Error (a sentence) or Cancelled."""
    from engine.generation import jobs

    try:
        result = jobs.run(library, request.seed, request_of(request),
                          progress=throttled(progress), is_cancelled=is_cancelled)
    except GenerationCancelled:
        return Cancelled(request.job_id)
    except ContinuoError as e:
        return Error(request.job_id, str(e))
    except Exception as e:  # a bug: a sentence for the user, the trace for us
        traceback.print_exc()
        return Error(request.job_id, f"Generation stopped because of an internal error "
                                     f"({type(e).__name__}: {e}).")
    return Result(request.job_id, result, os.getpid())


# ---------------------------------------------------------------------------------------
# the child
# ---------------------------------------------------------------------------------------
class _Requests:
    """Reads requests on a thread, so that a cancel is seen while a job runs."""

    def __init__(self, stream: BinaryIO) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()
        self.cancelled: set[int] = set()
        self.parent_gone = threading.Event()
        self._stream = stream
        threading.Thread(target=self._read, name="requests", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message = read_message(self._stream)
            except Exception:  # EOF or a broken pipe: the parent has gone
                self.parent_gone.set()
                self.queue.put(Quit())
                return
            if isinstance(message, Cancel):
                self.cancelled.add(message.job_id)
            else:
                self.queue.put(message)


def work_budget(request: Generate) -> float:
    """The CPU seconds a job may take in the child before the watchdog stops it: a
    floor, and an allowance per generated step of each variation and per step of the
    seed (a long seed is encoded, primed and, for a harmonisation, walked)."""
    settings = request.settings
    steps = settings.steps if settings.steps is not None else 16 * int(settings.bars)
    seed_steps = 0
    if request.seed is not None:
        seed_steps = request.seed.end_tick * 4 // max(1, request.seed.ppq)
    return (WATCHDOG_FLOOR_S + WATCHDOG_PER_STEP_S * steps * int(settings.variations)
            + WATCHDOG_PER_SEED_STEP_S * seed_steps * int(settings.variations))


def _too_big(request: Generate, budget: float) -> str:
    settings = request.settings
    size = f"{settings.steps} steps" if settings.steps is not None else \
        f"{settings.bars} bar{'s' if settings.bars != 1 else ''}"
    return (f"The generation was stopped after {budget:.0f} s of work, far longer than "
            f"{size} x {settings.variations} variation"
            f"{'s' if settings.variations != 1 else ''} should take; the seed is probably "
            f"too big or too unusual (a very long note or song): try a shorter part of it.")


def _library(cache: dict, folders: tuple[str, ...]) -> Any:
    from engine.models import ModelLibrary

    lib = cache.get(folders)
    if lib is None:
        lib = cache[folders] = ModelLibrary(list(folders))
    else:
        lib.refresh()  # a model added or retrained since: pick it up, keep sessions
    return lib


def _warm_grammar() -> None:
    from engine.encodings import grammar_kernels

    grammar_kernels.warm()


def serve(requests: _Requests, send: Callable[[Any], None]) -> None:
    """The child's loop: one request at a time until Quit or the parent goes."""
    from engine.generation.memory import warm_in_background

    # the motif memory's compiled steps, compiled or loaded from numba's cache while the
    # child waits for its first request (seconds the first time, a fraction after), not
    # on a user's first Generate
    warm_in_background()
    # the part grammar's, likewise (numba imported in the thread too)
    threading.Thread(target=_warm_grammar, name="grammar-warm", daemon=True).start()
    libraries: dict = {}
    while True:
        request = requests.queue.get()
        if isinstance(request, Quit):
            return
        if isinstance(request, Warm):
            lib = _library(libraries, tuple(request.folders))
            for name in request.names:
                try:
                    lib.get(name)  # create the onnxruntime session now, not on Generate
                except ContinuoError:
                    pass
            send(Warmed(list(lib.problems), os.getpid()))
            continue
        job_id = request.job_id
        budget = work_budget(request)
        started = time.process_time()
        overrun = threading.Event()

        def is_cancelled() -> bool:
            if time.process_time() - started > budget:
                overrun.set()
            return job_id in requests.cancelled or requests.parent_gone.is_set() \
                or overrun.is_set()

        def progress(done: int, total: int) -> None:
            send(Progress(job_id, done, total))

        outcome = generate_outcome(_library(libraries, tuple(request.folders)), request,
                                   progress, is_cancelled)
        if overrun.is_set() and job_id not in requests.cancelled:
            outcome = Error(job_id, _too_big(request, budget))
        if isinstance(outcome, Result):
            # the GUI needs only the notes: no logits, no model-space tokens
            outcome = dataclasses.replace(outcome, result=dataclasses.replace(
                outcome.result, logits=None, tokens=[]))
        send(outcome)
        requests.cancelled.discard(job_id)


def main() -> None:
    """Entry point of the child process."""
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to stderr
    lock = threading.Lock()

    def send(message: Any) -> None:
        with lock:
            try:
                write_message(protocol_out, message)
            except (BrokenPipeError, OSError):
                pass  # the parent has gone; the reader thread notices too

    serve(_Requests(sys.stdin.buffer), send)
    # the reader thread may sit in a blocking read of stdin; an ordinary interpreter
    # shutdown would then abort on stdin's lock, so leave at once (nothing to flush:
    # every message was flushed when sent)
    sys.stderr.flush()
    os._exit(0)


# ---------------------------------------------------------------------------------------
# the client
# ---------------------------------------------------------------------------------------
class GenerationService:
    """The helper process and its pipes; one per app (:func:`shared_service`).

    :meth:`run` is called on a worker thread and blocks on the pipe, which releases the
    GIL; :meth:`cancel` may be called from any thread while a job runs.
    """

    def __init__(self) -> None:
        from engine import resources

        root = str(resources.code_root())
        code = (f"import sys; sys.path.insert(0, {root!r}); "
                f"from engine.generation.service import main; main()")
        self._proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE)  # buffered: messages
        # are lines, and an unbuffered readline makes one read call per byte
        self._send_lock = threading.Lock()  # cancels are sent mid-job from other threads
        self._job_lock = threading.Lock()  # one job at a time on the pipe
        self._job_ids = itertools.count(1)
        self._broken = False
        self._state_lock = threading.Lock()
        self._running_job: int | None = None  # the job being read from the pipe
        self._killed_job: int | None = None  # the job whose cancel killed the child

    @property
    def pid(self) -> int:
        return self._proc.pid

    def alive(self) -> bool:
        return not self._broken and self._proc.poll() is None

    def send(self, message: Any) -> None:
        with self._send_lock:
            write_message(self._proc.stdin, message)

    def warm(self, folders: list[str], names: list[str]) -> None:
        """Let the child load the models now (its answer is skipped by the next job)."""
        self.send(Warm(folders, names))

    def cancel(self, job_id: int, grace_s: float | None = CANCEL_GRACE_S) -> None:
        """Ask the child to stop ``job_id``; if the job is still running ``grace_s``
        later, kill the child (its :meth:`run` then returns ``Cancelled`` with
        ``restarted``, and :func:`shared_service` starts a new one for the next job)."""
        try:
            self.send(Cancel(job_id))
        except OSError:
            pass  # the child has gone: the job's reader sees EOF
        if grace_s is not None:
            timer = threading.Timer(grace_s, self._kill_if_running, (job_id,))
            timer.daemon = True
            timer.start()

    def _kill_if_running(self, job_id: int) -> None:
        with self._state_lock:
            if self._running_job != job_id:
                return  # it answered in time
            self._killed_job = job_id
            self._broken = True
        try:
            self._proc.kill()
        except OSError:
            pass

    def run(self, folders: list[str], seed: Song | None, settings: GenerationSettings,
            track_index: int | None = None, start_tick: int | None = None,
            progress: Callable[[int, int], None] | None = None,
            sent: Callable[[int], None] | None = None,
            end_tick: int | None = None, polyphonic: bool = False,
            harmonise_track: int | None = None,
            request: GenerationRequest | None = None) -> Outcome:
        """Generate in the child (fill ``[start_tick, end_tick)`` when ``end_tick`` is
        given; every part with a polyphonic model when ``polyphonic``, or the voices
        beneath ``harmonise_track``; or the ``request`` given, which is what is done);
        returns the outcome when the job has ended.

        ``sent(job_id)`` is called once the request is in the child (from then on
        :meth:`cancel` reaches it).  EOFError or OSError: the child died.
        """
        with self._job_lock:
            job_id = next(self._job_ids)
            with self._state_lock:
                self._running_job = job_id
            try:
                self.send(Generate(job_id, [str(f) for f in folders], seed, settings,
                                   track_index, start_tick, end_tick, polyphonic,
                                   harmonise_track, request))
                if sent is not None:
                    sent(job_id)
                while True:
                    message = read_message(self._proc.stdout)
                    if isinstance(message, Warmed) or message.job_id != job_id:
                        continue  # a warm-up answer, or the tail of an abandoned job
                    if isinstance(message, Progress):
                        if progress is not None:
                            progress(message.done, message.total)
                        continue
                    return message
            except (EOFError, OSError, ValueError):
                self._broken = True
                if self._killed_job == job_id:
                    return Cancelled(job_id, restarted=True)
                raise
            finally:
                with self._state_lock:
                    self._running_job = None

    def close(self) -> None:
        try:
            self.send(Quit())
            self._proc.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            self._proc.wait(2)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(2)


_service: GenerationService | None = None
_service_failed = False
_service_guard = threading.Lock()


def shared_service() -> GenerationService | None:
    """The app's helper process (restarted if it died); None where it cannot start."""
    global _service, _service_failed
    with _service_guard:
        if _service is not None and _service.alive():
            return _service
        if _service_failed:
            return None
        if _service is not None:
            _service.close()  # reap the dead child
        try:
            _service = GenerationService()
        except Exception:  # no child processes here (a frozen build, a sandbox)
            traceback.print_exc()
            _service_failed = True
            _service = None
            return None
        return _service


def warm_up(library: Any) -> None:
    """Start the helper process and load the library's models in it, in the background,
    so that the first generation does not wait for imports and sessions."""
    if getattr(library, "folders", None) is None:
        return

    def start() -> None:
        service = shared_service()
        if service is not None:
            try:
                service.warm([str(f) for f in library.folders], list(library.names))
            except OSError:
                pass  # the next job finds it dead and starts another

    threading.Thread(target=start, name="continuo-warm-up", daemon=True).start()


@atexit.register
def _stop_service() -> None:
    if _service is not None:
        _service.close()


if __name__ == "__main__":
    main()
