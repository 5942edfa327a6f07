"""Generation off the GUI thread.

A :class:`GenerationJob` is a QObject that lives on the GUI thread; its ``run`` is
executed by a QRunnable in the global QThreadPool.  Signals emitted from the pool thread
reach GUI-thread slots through queued connections, so the panel never touches the
model while it runs and the GUI thread never waits for it.  Progress is throttled: a
32-bar x 8-variation run takes hundreds of steps, and a queued signal per step would
only make the event loop busier without telling the user more.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.errors import ContinuoError
from engine.song import Song

PROGRESS_INTERVAL_S = 0.05


class _Runnable(QRunnable):
    """Calls the job's run on a pool thread; the job (not this) owns the signals."""

    def __init__(self, job: "GenerationJob") -> None:
        super().__init__()
        self._job = job
        self.setAutoDelete(True)

    def run(self) -> None:  # noqa: D401 - Qt override
        self._job.run()


class GenerationJob(QObject):
    """One call of ``engine.generator.generate`` on a worker thread.

    Exactly one of ``succeeded`` / ``failed`` / ``cancelled`` is emitted, then
    ``done``.  ``failed`` carries a sentence for the user: a ContinuoError's own
    message, or a short description of an unexpected error (never a traceback in the
    GUI; the traceback goes to stderr for us).
    """

    progress = Signal(int, int)  # done, total
    succeeded = Signal(object)  # engine.generator.GenerationResult
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, library: Any, seed: Song, settings: Any, track_index: int | None = None,
                 start_tick: int | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.seed = seed.copy()  # a snapshot: the user may edit while it runs
        self.settings = settings
        self.track_index = track_index
        self.start_tick = start_tick
        self._cancel = threading.Event()
        self._running = False
        self._last_progress = 0.0

    # ---- GUI thread ---------------------------------------------------------------------
    def start(self, pool: QThreadPool | None = None) -> None:
        self._running = True
        (pool or QThreadPool.globalInstance()).start(_Runnable(self))

    def cancel(self) -> None:
        self._cancel.set()

    def is_running(self) -> bool:
        return self._running

    # ---- worker thread ------------------------------------------------------------------
    def _on_progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progress.emit(int(done), int(total))

    def run(self) -> None:
        from engine import generator  # imported here so the GUI starts without onnxruntime

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
        finally:
            self._running = False
            self.done.emit()
