"""The MIDI loopback the live benchmarks share (midi_timing, midi_clock, accompanist).

A real MIDI system (JACK, else ALSA's sequencer): :func:`choose_api` picks it and says
what to start when none runs, :func:`sink` opens a virtual input that records what
arrives together with a real output connected to it, and :func:`jack_period_s` reads the
JACK period that bounds every arrival.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from typing import Callable

NO_MIDI_SYSTEM = ("No JACK server or ALSA sequencer is running; start one "
                  "(jackd -S --no-realtime -d dummy -r 48000 -p 256).")


def choose_api(wanted: str | None) -> str | None:
    """``wanted``, else JACK when it runs, else the first working MIDI system; None (with
    a line on stderr saying what to start) when none runs."""
    from engine.live.ports import working_apis

    apis = working_apis()
    api = wanted or ("jack" if "jack" in apis else apis[0] if apis else None)
    if api is None:
        print(NO_MIDI_SYSTEM, file=sys.stderr)
    return api


def jack_period_s() -> float | None:
    """The running JACK server's period in seconds (None where it cannot be read)."""
    try:
        rate = subprocess.run(["jack_samplerate"], capture_output=True, text=True, timeout=5)
        size = subprocess.run(["jack_bufsize"], capture_output=True, text=True, timeout=5)
        return int(size.stdout.split()[0]) / int(rate.stdout.split()[0])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def sink(system, prefix: str):
    """A virtual input named ``sink`` of a new client ``PREFIX`` + 6 hex digits, and a real
    output connected to it: (the input, the output, the list of (time, message) it
    receives)."""
    received: list = []
    client = f"{prefix}{uuid.uuid4().hex[:6]}"
    port = system.open_virtual_input("sink", client_name=client,
                                     callback=lambda m, t: received.append((t, m)))
    out = system.open_output(next(n for n in system.output_names() if client in n))
    return port, out, received


def drain(arrived: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait until ``arrived()`` says all that was sent has come in (at most ``timeout_s``;
    what is missing then counts as lost), and 0.2 s more."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if arrived():
            break
        time.sleep(0.05)
    time.sleep(0.2)
