"""Keep Python's ``None`` alive under PySide6 6.12 on Python 3.11.

PySide6/shiboken6 6.12.0, as installed here, returns ``None`` from every wrapped
C++ method that returns ``void`` (``QPainter.drawRects``, ``QWidget.update``,
``QScrollBar.setValue`` ...) without taking a new reference to it.  Each such call
lowers ``None``'s reference count by one; a process starts with a few thousand, and
a piano roll paints hundreds of calls per frame, so after some seconds of use the
interpreter aborts with "Fatal Python error: none_dealloc: deallocating None".
(Measured: ``sys.getrefcount(None)`` drops by exactly 1000 over 1000 calls of
``QWidget.update()``.)

Python 3.12 made ``None`` immortal (PEP 683), which hides the bug there.  On older
Pythons :func:`keep_none_alive` gives ``None`` the same property the crude way: it
raises ``None``'s count once by 2**40, which the leak can never use up.  It imports
no Qt and is safe to call more than once.
"""

from __future__ import annotations

import ctypes
import sys

_MARGIN = 1 << 40
_applied = False


def keep_none_alive() -> bool:
    """Make ``None`` effectively immortal on Python < 3.12; True if it did anything."""
    global _applied
    if _applied or sys.version_info >= (3, 12):
        return False
    # ob_refcnt is the first field of every object in CPython's release builds
    ctypes.c_ssize_t.from_address(id(None)).value += _MARGIN
    _applied = True
    return True
