"""Generation off the GUI thread.

A :class:`GenerationJob` is a QObject that lives on the GUI thread; its ``run`` is
executed by a QRunnable in the global QThreadPool.  Signals emitted from the pool thread
reach GUI-thread slots through queued connections, so the panel never touches the
model while it runs and the GUI thread never waits for it.  Progress is throttled: a
32-bar x 8-variation run takes hundreds of steps, and a queued signal per step would
only make the event loop busier without telling the user more.

The pool thread hands the work to one long-lived helper process
(:mod:`engine.generation.service`) and waits on its pipe, which releases the GIL: sampling
holds the GIL for most of each step, and a generating *thread* that the OS preempts
while holding it stalled the GUI thread by up to half a second on a loaded machine.
Where the process cannot be started, the job runs ``generate`` in the pool thread.
"""

from __future__ import annotations

import atexit
import itertools
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.errors import ContinuoError
from engine.song import Song

PROGRESS_INTERVAL_S = 0.05


class GeneratorProcess:
    """The helper process and its pipes; one per app, started on first use."""

    def __init__(self) -> None:
        from engine.generation.service import read_message, write_message

        self._read, self._write = read_message, write_message
        root = str(Path(__file__).resolve().parent.parent)
        code = (f"import sys; sys.path.insert(0, {root!r}); "
                f"from engine.generation.service import main; main()")
        self._proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE)  # buffered: messages
        # are lines, and an unbuffered readline makes one read call per byte
        self._send_lock = threading.Lock()  # the GUI thread sends cancels mid-job
        self.lock = threading.Lock()  # one job at a time on the pipe
        self._job_ids = itertools.count(1)
        self.answered = False  # has the child ever sent a message?

    def alive(self) -> bool:
        return self._proc.poll() is None

    def send(self, message: tuple) -> None:
        with self._send_lock:
            self._write(self._proc.stdin, message)

    def warm(self, folders: list[str], names: list[str]) -> None:
        """Let the child load the models now (its answer is skipped by the next job)."""
        self.send(("warm", folders, names))

    def cancel(self, job_id: int) -> None:
        try:
            self.send(("cancel", job_id))
        except OSError:
            pass  # the child has gone: the job's reader sees EOF

    def run(self, job: "GenerationJob") -> None:
        """Send ``job`` and relay what comes back as the job's signals; returns when
        the job has ended.  Called on a pool thread; the blocking reads release the GIL."""
        with self.lock:
            job_id = next(self._job_ids)
            self.send(("generate", job_id, [str(f) for f in job.library.folders], job.seed,
                       job.settings, job.track_index, job.start_tick))
            job._attach(self, job_id)
            while True:
                message = self._read(self._proc.stdout)  # EOFError if the child died
                self.answered = True
                kind = message[0]
                if kind == "warm" or message[1] != job_id:
                    continue  # a warm-up answer, or the tail of an abandoned job
                if kind == "progress":
                    job.progress.emit(message[2], message[3])
                elif kind == "result":
                    if job._cancel.is_set():
                        job.cancelled.emit()
                    else:
                        job.succeeded.emit(message[2])
                    return
                elif kind == "error":
                    job.failed.emit(message[2])
                    return
                elif kind == "cancelled":
                    job.cancelled.emit()
                    return

    def close(self) -> None:
        try:
            self.send(("quit",))
            self._proc.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            self._proc.wait(2)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(2)


_process: GeneratorProcess | None = None
_process_failed = False
_process_guard = threading.Lock()


def generator_process() -> GeneratorProcess | None:
    """The shared helper process (restarted if it died); None where it cannot start."""
    global _process, _process_failed
    with _process_guard:
        if _process is not None and _process.alive():
            return _process
        if _process_failed:
            return None
        try:
            _process = GeneratorProcess()
        except Exception:  # no child processes here (a frozen build, a sandbox)
            traceback.print_exc()
            _process_failed = True
            return None
        return _process


def _give_up_on_process() -> None:
    global _process_failed
    with _process_guard:
        _process_failed = True


def warm_up(library: Any) -> None:
    """Start the helper process and load the library's models in it, in the background,
    so that the first Generate does not wait for imports and sessions."""
    if getattr(library, "folders", None) is None:
        return

    def start() -> None:
        proc = generator_process()
        if proc is not None:
            proc.warm([str(f) for f in library.folders], list(library.names))

    threading.Thread(target=start, name="continuo-warm-up", daemon=True).start()


@atexit.register
def _stop_process() -> None:
    if _process is not None:
        _process.close()


class _Runnable(QRunnable):
    """Calls the job's run on a pool thread; the job (not this) owns the signals."""

    def __init__(self, job: "GenerationJob") -> None:
        super().__init__()
        self._job = job
        self.setAutoDelete(True)

    def run(self) -> None:  # noqa: D401 - Qt override
        self._job.run()


class GenerationJob(QObject):
    """One call of ``engine.generation.generator.generate`` on a worker thread.

    Exactly one of ``succeeded`` / ``failed`` / ``cancelled`` is emitted, then
    ``done``.  ``failed`` carries a sentence for the user: a ContinuoError's own
    message, or a short description of an unexpected error (never a traceback in the
    GUI; the traceback goes to stderr for us).
    """

    progress = Signal(int, int)  # done, total
    succeeded = Signal(object)  # engine.generation.generator.GenerationResult
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, library: Any, seed: Song, settings: Any, track_index: int | None = None,
                 start_tick: int | None = None, parent: QObject | None = None,
                 in_process: bool = True) -> None:
        super().__init__(parent)
        self.library = library
        self.seed = seed.copy()  # a snapshot: the user may edit while it runs
        self.settings = settings
        self.track_index = track_index
        self.start_tick = start_tick
        self._cancel = threading.Event()
        self._cancel_lock = threading.Lock()
        self._process: GeneratorProcess | None = None
        self._job_id = 0
        self._running = False
        self._last_progress = 0.0
        # the helper process needs the library's folders to build its own library
        self.in_process = in_process and getattr(library, "folders", None) is not None

    # ---- GUI thread ---------------------------------------------------------------------
    def start(self, pool: QThreadPool | None = None) -> None:
        self._running = True
        (pool or QThreadPool.globalInstance()).start(_Runnable(self))

    def cancel(self) -> None:
        with self._cancel_lock:
            self._cancel.set()
            if self._process is not None:
                self._process.cancel(self._job_id)

    def _attach(self, process: GeneratorProcess, job_id: int) -> None:
        """Called on the pool thread once the job is in the child: from now on a
        cancel goes to the child (one that came earlier is sent on at once)."""
        with self._cancel_lock:
            self._process, self._job_id = process, job_id
            if self._cancel.is_set():
                process.cancel(job_id)

    def is_running(self) -> bool:
        return self._running

    # ---- worker thread ------------------------------------------------------------------
    def _on_progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progress.emit(int(done), int(total))

    def run(self) -> None:
        try:
            proc = generator_process() if self.in_process else None
            if proc is not None:
                try:
                    proc.run(self)
                    return
                except (EOFError, OSError, ValueError):
                    traceback.print_exc()
                    self.failed.emit("The generator process stopped unexpectedly; "
                                     "press Generate to start it again.")
                    return
            self._run_here()
        finally:
            self._running = False
            self.done.emit()

    def _run_here(self) -> None:
        """Generate on this pool thread (where no helper process can run)."""
        from engine.generation import generator  # imported here so the GUI starts without onnxruntime

        try:
            result = generator.generate(
                self.library, self.seed, self.settings, track_index=self.track_index,
                start_tick=self.start_tick, progress=self._on_progress,
                is_cancelled=self._cancel.is_set)
        except generator.GenerationCancelled:
            self.cancelled.emit()
        except ContinuoError as e:
            self.failed.emit(str(e))
        except Exception as e:  # a bug: tell the user in a sentence, keep the trace for us
            traceback.print_exc()
            self.failed.emit(f"Generation stopped because of an internal error "
                             f"({type(e).__name__}: {e}).")
        else:
            if self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
