"""A helper process that runs ``engine.generator.generate`` for the GUI's worker thread.

Why a process: sampling is Python and numpy code that holds the GIL for most of each
step.  On a busy machine the OS preempts the generating thread while it holds the GIL,
and the GUI thread then waits for the GIL, not for a CPU: stalls of 100-500 ms were
measured with an in-process thread (bench/gui_stall.py).  In its own process the
generator shares no GIL with the GUI, so the GUI thread only competes for a CPU.

The protocol is plain tuples over a multiprocessing Pipe (everything in them is a
picklable engine dataclass):

    parent -> child: ("warm", folders, names) | ("generate", folders, seed, settings,
                     track_index, start_tick) | ("cancel",) | ("quit",)
    child -> parent: ("progress", done, total) | ("result", GenerationResult) |
                     ("error", message) | ("cancelled",) | ("warm", problems)

This module imports no Qt: the child imports only the engine.
"""

from __future__ import annotations

import time
import traceback
from multiprocessing.connection import Connection

PROGRESS_INTERVAL_S = 0.05


def _library(cache: dict, folders: tuple[str, ...]):
    from engine.models import ModelLibrary

    lib = cache.get(folders)
    if lib is None:
        lib = cache[folders] = ModelLibrary(list(folders))
    else:
        lib.refresh()  # a model added or retrained since: pick it up, keep sessions
    return lib


def serve(conn: Connection) -> None:
    """The child's loop: one request at a time until "quit" or the pipe closes."""
    from engine import generator
    from engine.errors import ContinuoError

    libraries: dict = {}
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        kind = request[0]
        if kind == "quit":
            return
        if kind == "cancel":
            continue  # a cancel that arrived after its job ended
        if kind == "warm":
            _, folders, names = request
            lib = _library(libraries, tuple(folders))
            for name in names:
                try:
                    lib.get(name)  # create the onnxruntime session now, not on Generate
                except ContinuoError:
                    pass
            conn.send(("warm", list(lib.problems)))
            continue
        _, folders, seed, settings, track_index, start_tick = request
        cancelled = False
        last = [0.0]

        def is_cancelled() -> bool:
            nonlocal cancelled
            while not cancelled and conn.poll():
                if conn.recv()[0] == "cancel":
                    cancelled = True
            return cancelled

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if done >= total or now - last[0] >= PROGRESS_INTERVAL_S:
                last[0] = now
                conn.send(("progress", int(done), int(total)))

        try:
            lib = _library(libraries, tuple(folders))
            result = generator.generate(lib, seed, settings, track_index=track_index,
                                        start_tick=start_tick, progress=progress,
                                        is_cancelled=is_cancelled)
        except generator.GenerationCancelled:
            conn.send(("cancelled",))
        except ContinuoError as e:
            conn.send(("error", str(e)))
        except Exception as e:  # a bug: a sentence for the user, the trace for us
            traceback.print_exc()
            conn.send(("error", f"Generation stopped because of an internal error "
                                f"({type(e).__name__}: {e})."))
        else:
            result.logits = None  # never asked for; keep the pipe light
            conn.send(("result", result))
