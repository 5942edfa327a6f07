"""Generation off the GUI thread: the Qt glue over :mod:`engine.generation.service`.

A :class:`GenerationJob` is a QObject that lives on the GUI thread; its ``run`` is
executed by a QRunnable in the global QThreadPool.  Signals emitted from the pool thread
reach GUI-thread slots through queued connections, so the GUI never touches the model
while it runs and the GUI thread never waits for it.  Both users of the generator, the
Generate panel and call-and-response (:func:`gui.playback.generator_responder`), run their
generations as jobs, so a job's outcome is turned into signals in one place
(:meth:`GenerationJob._report`).

The pool thread hands the work to the engine's generation service (one long-lived
helper process) and waits on its pipe, which releases the GIL: sampling holds the GIL
for most of each step, and a generating *thread* that the OS preempts while holding it
stalled the GUI thread by up to half a second on a loaded machine.  Where the process
cannot be started, the job generates in the pool thread.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import traceback
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.encodings import CONTINUE, PARTS, capabilities_of
from engine.errors import ContinuoError
from engine.generation.request import GenerationRequest, GenerationSettings
from engine.generation.service import (Cancelled, Error, GenerationService, Generate,
                                       Outcome, Result, generate_outcome, shared_service)
from engine.song import Song

__all__ = ["GenerationJob", "is_polyphonic_info", "is_polyphonic_model", "shared_service",
           "warm_up"]

PROCESS_DIED = ("The generator process stopped unexpectedly; it starts again with the "
                "next generation.")
RESTARTED = ("The generator did not stop within a second, so its process was stopped; a "
             "new one starts with the next generation.")


class _Runnable(QRunnable):
    """Calls the job's run on a pool thread; the job (not this) owns the signals."""

    def __init__(self, job: "GenerationJob") -> None:
        super().__init__()
        self._job = job
        self.setAutoDelete(True)

    def run(self) -> None:  # noqa: D401 - Qt override
        self._job.run()


def is_polyphonic_model(library: Any, name: Any) -> bool:
    """Whether the library's model ``name`` writes every part at once (its card says
    so); False for a name that is not there, or a library that cannot say."""
    try:
        from engine.generation.parts_song import is_polyphonic_name

        return isinstance(name, str) and is_polyphonic_name(library, name)
    except (AttributeError, ContinuoError):
        return False


def is_polyphonic_info(info: Any) -> bool:
    """Whether a library's model (its info) writes every part at once: the engine's one
    capability query says so."""
    try:
        return PARTS in capabilities_of(info)
    except (AttributeError, TypeError):  # not a model the engine can say anything about
        return False


class GenerationJob(QObject):
    """One engine request (:class:`~engine.generation.request.GenerationRequest`:
    continue, fill or harmonise, validated when it was built) done off the GUI thread;
    the engine chooses the job for it (:func:`engine.generation.jobs.run`).  Settings
    alone ask for a continuation of the seed's melody (call-and-response), or of every
    part with a model that writes them.

    Exactly one of ``succeeded`` / ``failed`` / ``cancelled`` is emitted, then
    ``done``.  ``failed`` carries a sentence for the user: a ContinuoError's own
    message, or a short description of an unexpected error (never a traceback in the
    GUI; the traceback goes to stderr for us).  ``use_helper_process``
    says whether to use the helper process; False generates in the pool thread.  After
    a success, ``pid`` is the process that generated.
    """

    progress = Signal(int, int)  # done, total
    succeeded = Signal(object)  # engine.generation.generator.GenerationResult
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, library: Any, seed: Song,
                 request: GenerationRequest | GenerationSettings,
                 parent: QObject | None = None, use_helper_process: bool = True) -> None:
        super().__init__(parent)
        self.library = library
        self.seed = seed.copy()  # a snapshot: the user may edit while it runs
        if isinstance(request, GenerationSettings):
            request = GenerationRequest(CONTINUE, request)
        self.request = request
        self.pid: int | None = None
        # after ``cancelled``: what the user should know beyond "cancelled" ("" if nothing)
        self.cancel_note = ""
        self._cancel = threading.Event()
        self._cancel_lock = threading.Lock()
        self._service: GenerationService | None = None
        self._job_id = 0
        self._running = False
        # the helper process needs the library's folders to build its own library
        self.use_helper_process = use_helper_process and getattr(library, "folders", None) is not None

    # ---- GUI thread ---------------------------------------------------------------------
    def start(self, pool: QThreadPool | None = None) -> None:
        self._running = True
        (pool or QThreadPool.globalInstance()).start(_Runnable(self))

    def cancel(self) -> None:
        with self._cancel_lock:
            self._cancel.set()
            if self._service is not None:
                self._service.cancel(self._job_id)

    def is_running(self) -> bool:
        return self._running

    # ---- worker thread ------------------------------------------------------------------
    def _attach(self, service: GenerationService, job_id: int) -> None:
        """Once the job is in the child, a cancel goes there (an earlier one at once)."""
        with self._cancel_lock:
            self._service, self._job_id = service, job_id
            if self._cancel.is_set():
                service.cancel(job_id)

    def run(self) -> None:
        try:
            self._report(self._outcome())
        finally:
            self._running = False
            self.done.emit()

    def _outcome(self) -> Outcome:
        service = shared_service() if self.use_helper_process else None
        request = self.request
        if service is None:
            return generate_outcome(
                self.library, Generate(0, [], self.seed, request.settings, request=request),
                self.progress.emit, self._cancel.is_set)
        try:
            return service.run(self.library.folders, self.seed, request.settings,
                               progress=self.progress.emit,
                               sent=lambda job_id: self._attach(service, job_id),
                               request=request)
        except (EOFError, OSError, ValueError):
            traceback.print_exc()
            return Error(0, PROCESS_DIED)

    def _report(self, outcome: Outcome) -> None:
        """The outcome as this job's signals: the one place both users rely on."""
        if isinstance(outcome, Result) and not self._cancel.is_set():
            self.pid = outcome.pid
            self.succeeded.emit(outcome.result)
        elif isinstance(outcome, Error):
            self.failed.emit(outcome.message)
        else:  # Cancelled, or a result that came after the user cancelled
            if isinstance(outcome, Cancelled) and outcome.restarted:
                self.cancel_note = RESTARTED
            self.cancelled.emit()


WARM_UP_BARS = 1  # the throwaway generation: short, with the panel's model and variations
WARM_OTHERS_AFTER_S = 5.0  # the other models load this long after the chosen one is ready


def _in_background(name: str, work) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except (ContinuoError, EOFError, OSError, ValueError):
            pass  # the next job finds the process dead and starts another

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def warm_up(library: Any, settings: Any = None,
            seed_path: str | os.PathLike | None = None) -> threading.Thread | None:
    """Get the helper process ready for the first Generate, in the background.

    It starts the process and runs one short throwaway generation there with
    ``settings`` (the panel's: the chosen model, its variations) from the seed file at
    ``seed_path``, which loads the chosen model and pays for its first runs in
    onnxruntime and the generator's first pass (they made the first Generate take about
    four times a later one's time: bench/first_generate.py); WARM_OTHERS_AFTER_S later
    it loads the library's other models, so that a Generate pressed as the window
    appears does not queue behind their loading.  Without settings (or a seed file) it
    only loads models.  A Generate pressed meanwhile waits for the step under way (one
    job at a time).  Last, in this process, it loads the part grammar's compiled kernels
    for the live accompanist.  Returns the thread (tests join it); None where there are
    no folders to hand the process."""
    folders = getattr(library, "folders", None)
    if folders is None:
        return None
    folders = [str(f) for f in folders]
    names = list(getattr(library, "names", []))
    chosen = getattr(settings, "model", None)

    def helper_process() -> None:
        service = shared_service()
        if service is None:
            return
        if chosen not in names:
            service.warm(folders, names)
            return
        if seed_path is not None:  # the run loads the model as any job does
            from engine.formats import load_song

            short = dataclasses.replace(settings, bars=WARM_UP_BARS, steps=None)
            service.run(folders, load_song(seed_path), short,
                        request=GenerationRequest(CONTINUE, short))
        else:
            service.warm(folders, [chosen])
        others = [n for n in names if n != chosen]
        if others:
            time.sleep(WARM_OTHERS_AFTER_S)
            service.warm(folders, others)

    def work() -> None:
        try:
            helper_process()
        finally:
            # the live accompanist runs in this process: its part grammar's compiled
            # kernels, loaded (or compiled, once per install) here, not when it starts
            from engine.encodings import grammar_kernels

            grammar_kernels.warm()

    return _in_background("continuo-warm-up", work)
