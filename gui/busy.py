"""Slow work off the GUI thread, while the window stays painted.

Reading a score goes through music21, which is pure Python and slow (an 83 KB kern
movement takes about 11 seconds).  :func:`run_busy` runs such work on a helper thread
and, if it is not done almost at once, shows a window-modal "Reading ..." dialog with
Cancel and spins a local event loop until the work ends, so the window repaints, timers
(autosave, playback) keep running and the person can give up.  A cancelled job cannot
be stopped from outside (music21 is not interruptible), so it finishes on its own
thread, bounded by the score readers' time budget, and its result is dropped.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Callable, TypeVar

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QProgressDialog, QWidget

T = TypeVar("T")

# work done within this long shows no dialog at all (a flash is worse than a pause)
QUICK_SECONDS = 0.15
POLL_MS = 20


class BusyCancelled(Exception):
    """The person cancelled the work; its result, when it comes, is dropped."""


def run_busy(parent: QWidget | None, text: str, fn: Callable[[], T]) -> T:
    """``fn()`` on a helper thread; its result, or its exception raised here.

    While it runs (after :data:`QUICK_SECONDS`) a window-modal dialog shows ``text``
    with a busy bar and Cancel; Cancel raises :class:`BusyCancelled`.
    """
    future: Future = Future()

    def work() -> None:
        try:
            future.set_result(fn())
        except BaseException as e:  # handed to the GUI thread, whatever it is
            future.set_exception(e)

    threading.Thread(target=work, name="continuo-busy", daemon=True).start()
    try:
        return future.result(timeout=QUICK_SECONDS)
    except TimeoutError:
        pass

    dialog = QProgressDialog(text, "Cancel", 0, 0, parent)
    dialog.setWindowTitle("Continuo")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    loop = QEventLoop()
    dialog.canceled.connect(loop.quit)
    timer = QTimer()
    timer.setInterval(POLL_MS)
    # the Cancel button emits canceled; cancel() called in code only sets the flag
    timer.timeout.connect(lambda: (future.done() or dialog.wasCanceled()) and loop.quit())
    timer.start()
    dialog.show()
    try:
        if not future.done():
            loop.exec()
    finally:
        timer.stop()
        cancelled = dialog.wasCanceled()
        dialog.hide()
        dialog.deleteLater()
    if cancelled:
        raise BusyCancelled(text)
    return future.result()
