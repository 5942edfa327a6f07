"""A helper process that runs ``engine.generation.generator.generate`` for the GUI's worker thread.

Why a process: sampling is Python and numpy code that holds the GIL for most of each
step.  On a busy machine the OS preempts the generating thread while it holds the GIL,
and the GUI thread then waits for the GIL, not for a CPU: stalls of 100-500 ms were
measured with an in-process thread (bench/gui_stall.py).  In its own process the
generator shares no GIL with the GUI, so the GUI thread only competes for a CPU.

The child is started as ``python -c "... main()"`` (see ``gui.worker``), not through
multiprocessing's spawn, which re-imports the parent's ``__main__``: a script without
an ``if __name__ == "__main__"`` guard would open another window in the child, which
would start another child, and so on.

Protocol: one JSON document per line on the child's stdin and on a private copy of its
stdout (the real fd 1 is pointed at stderr, so a stray print cannot corrupt the stream).
No pickle: the engine objects that travel (a Song, GenerationSettings, a
GenerationResult) are written as tagged JSON objects by :func:`_encode` and rebuilt by
:func:`_decode`; a Song travels as standard MIDI bytes, which round-trip exactly.

    parent -> child: ("warm", folders, names) | ("generate", job_id, folders, seed,
                     settings, track_index, start_tick) | ("cancel", job_id) | ("quit",)
    child -> parent: ("progress", job_id, done, total) | ("result", job_id, result) |
                     ("error", job_id, message) | ("cancelled", job_id) | ("warm", problems)

This module imports no Qt: the child imports only the engine.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import queue
import sys
import threading
import time
import traceback
from typing import Any, BinaryIO, Callable

PROGRESS_INTERVAL_S = 0.05


def _encode(value: Any) -> Any:
    """Engine objects -> JSON-able values, tagged so :func:`_decode` can rebuild them."""
    from engine.encodings import Key
    from engine.generation.generator import GenerationResult, GenerationSettings
    from engine.formats import song_to_midi_bytes
    from engine.song import Song

    if isinstance(value, Song):
        return {"$song": base64.b64encode(song_to_midi_bytes(value)).decode("ascii")}
    if isinstance(value, GenerationSettings):
        return {"$settings": dataclasses.asdict(value)}
    if isinstance(value, GenerationResult):
        return {"$result": {
            "variations": [[[n.pitch, n.start_tick, n.duration_ticks, n.velocity, n.channel]
                            for n in notes] for notes in value.variations],
            "start_tick": value.start_tick, "key": value.key.name,
            "messages": list(value.messages), "model": value.model, "steps": value.steps,
            "tokens": [[int(t) for t in row] for row in value.tokens]}}
    if isinstance(value, Key):
        return {"$key": value.name}
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict) or len(value) != 1:
        return value
    (tag, body), = value.items()
    if tag == "$song":
        from engine.formats import midi_file_to_song

        return midi_file_to_song(base64.b64decode(body), name="the seed")
    if tag == "$settings":
        from engine.generation.generator import GenerationSettings

        return GenerationSettings(**body)
    if tag == "$key":
        from engine.encodings import Key

        return Key.parse(body)
    if tag == "$result":
        from engine.encodings import Key
        from engine.generation.generator import GenerationResult
        from engine.song import Note

        return GenerationResult(
            variations=[[Note(*n) for n in notes] for notes in body["variations"]],
            start_tick=body["start_tick"], key=Key.parse(body["key"]),
            messages=body["messages"], model=body["model"], steps=body["steps"],
            tokens=body["tokens"])
    return value


def write_message(stream: BinaryIO, message: tuple) -> None:
    stream.write(json.dumps(_encode(message)).encode("utf-8") + b"\n")
    stream.flush()


def read_message(stream: BinaryIO) -> tuple:
    """The next message; EOFError when the other end has gone."""
    line = stream.readline()
    if not line:
        raise EOFError("the other end of the generator pipe has gone")
    return tuple(_decode(json.loads(line)))


class _Requests:
    """Reads requests on a thread, so that a cancel is seen while a job runs."""

    def __init__(self, stream: BinaryIO) -> None:
        self.queue: queue.Queue[tuple] = queue.Queue()
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
                self.queue.put(("quit",))
                return
            if message[0] == "cancel":
                self.cancelled.add(message[1])
            else:
                self.queue.put(message)


def _library(cache: dict, folders: tuple[str, ...]) -> Any:
    from engine.models import ModelLibrary

    lib = cache.get(folders)
    if lib is None:
        lib = cache[folders] = ModelLibrary(list(folders))
    else:
        lib.refresh()  # a model added or retrained since: pick it up, keep sessions
    return lib


def serve(requests: _Requests, send: Callable[[tuple], None]) -> None:
    """The child's loop: one request at a time until "quit" or the parent goes."""
    from engine.generation import generator
    from engine.errors import ContinuoError

    libraries: dict = {}
    while True:
        request = requests.queue.get()
        kind = request[0]
        if kind == "quit":
            return
        if kind == "warm":
            _, folders, names = request
            lib = _library(libraries, tuple(folders))
            for name in names:
                try:
                    lib.get(name)  # create the onnxruntime session now, not on Generate
                except ContinuoError:
                    pass
            send(("warm", list(lib.problems)))
            continue
        _, job_id, folders, seed, settings, track_index, start_tick = request
        last = [0.0]

        def is_cancelled() -> bool:
            return job_id in requests.cancelled or requests.parent_gone.is_set()

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if done >= total or now - last[0] >= PROGRESS_INTERVAL_S:
                last[0] = now
                send(("progress", job_id, int(done), int(total)))

        try:
            lib = _library(libraries, tuple(folders))
            result = generator.generate(lib, seed, settings, track_index=track_index,
                                        start_tick=start_tick, progress=progress,
                                        is_cancelled=is_cancelled)
        except generator.GenerationCancelled:
            send(("cancelled", job_id))
        except ContinuoError as e:
            send(("error", job_id, str(e)))
        except Exception as e:  # a bug: a sentence for the user, the trace for us
            traceback.print_exc()
            send(("error", job_id, f"Generation stopped because of an internal error "
                                   f"({type(e).__name__}: {e})."))
        else:
            result.logits = None  # never asked for; keep the pipe light
            result.tokens = []  # model-space tokens: the GUI needs only the notes
            send(("result", job_id, result))
        requests.cancelled.discard(job_id)


def main() -> None:
    """Entry point of the child process."""
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to stderr
    lock = threading.Lock()

    def send(message: tuple) -> None:
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


if __name__ == "__main__":
    main()
