"""The live accompanist's test rig, shared by test_accompanist.py and
test_accompanist_drums.py: the shipped models, a real MIDI system (JACK, else ALSA's
sequencer; skipped with the reason where none runs), a keyboard and a sink on real
ports with the accompanist between them, keys played in real time, and what a synth
would still be sounding."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import mido
import numpy as np
import pytest

from engine.formats import midi_file_to_song
from engine.live.accompanist import Accompanist, StepClock, input_watch
from engine.live.ports import MidiSystem, compiled_apis, working_apis
from engine.models import ModelLibrary

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "assets" / "default_seed.mid"


@pytest.fixture(scope="module")
def library() -> ModelLibrary:
    return ModelLibrary([ROOT / "models"])


@pytest.fixture(scope="module")
def midi_system() -> MidiSystem:
    apis = working_apis()
    api = "jack" if "jack" in apis else "alsa" if "alsa" in apis else None
    if api is None:
        pytest.skip(f"no JACK server or ALSA sequencer is running (compiled APIs: "
                    f"{', '.join(compiled_apis()) or 'none'}); real-port tests need one")
    return MidiSystem(api)


def seed_melody() -> list[tuple[int, int, int]]:
    """The default seed's melody on the step grid: (start, end, pitch), each note
    shortened to whole steps, so its detached notes leave rests of a step."""
    song = midi_file_to_song(SEED)
    step = song.ppq // 4
    return [(n.start_tick // step, n.start_tick // step + max(1, n.duration_ticks // step),
             n.pitch) for n in song.tracks[0].notes]


def play(acc: Accompanist, grid: StepClock, melody, rng: np.random.Generator,
         jitter_s: float = 0.008, channel: int = 0) -> None:
    """Press and release ``melody``'s keys in real time, each within ``jitter_s`` of
    its step, feeding the accompanist as an input port's callback would."""
    events = []
    for s, e, p in melody:
        events.append((grid.time_of(s) + rng.uniform(-jitter_s, jitter_s), 1, p))
        events.append((grid.time_of(e) + rng.uniform(-jitter_s, jitter_s), 0, p))
    for t, on, p in sorted(events):
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        kind = "note_on" if on else "note_off"
        acc.feed(mido.Message(kind, note=p, velocity=90 if on else 0, channel=channel),
                 time.monotonic())


def balance(messages: list[mido.Message]) -> Counter:
    """(channel, pitch) -> note-ons less note-offs (a note-on of velocity 0 is a note-off)."""
    count: Counter = Counter()
    for m in messages:
        if m.type == "note_on" and m.velocity > 0:
            count[(m.channel, m.note)] += 1
        elif m.type in ("note_on", "note_off"):
            count[(m.channel, m.note)] -= 1
    return count


class Rig:
    """A keyboard (a virtual output the accompanist's input opens), a sink (a virtual
    input the accompanist plays into) and the accompanist between them, playing
    ``part`` (a LiveHarmony or LiveDrums) on a grid of ``bpm`` and ``steps_per_quarter``."""

    def __init__(self, system: MidiSystem, part, bpm: float = 480.0,
                 steps_per_quarter: int = 4, channel: int = 1, keyboard_channel: int = 0,
                 prefix: str = "Acc") -> None:
        tag = uuid.uuid4().hex[:6]
        self.system = system
        self.keyboard_channel = keyboard_channel
        self.received: list[mido.Message] = []
        self.lock = threading.Lock()
        self.sink = system.open_virtual_input("sink", client_name=f"{prefix}Sink{tag}",
                                              callback=self._got)
        self.keys = system.open_virtual_output("keys", client_name=f"{prefix}Keys{tag}")
        sink_name = next(n for n in system.output_names() if f"{prefix}Sink{tag}" in n)
        self.keys_name = next(n for n in system.input_names() if f"{prefix}Keys{tag}" in n)
        self.out = system.open_output(sink_name)
        self.errors: list[str] = []
        self.dropped: list[int] = []
        self.grid = StepClock.at_tempo(time.monotonic() + 0.2, bpm, steps_per_quarter)
        self.acc = Accompanist(part, self.out, self.grid, channel=channel,
                               late_window_s=0.01,
                               watch=[input_watch(system.input_names, self.keys_name)],
                               on_error=self.errors.append, on_dropped=self.dropped.append)
        self.input = system.open_input(self.keys_name, callback=self.acc.feed)
        self.acc.start()

    def _got(self, msg: mido.Message, t: float) -> None:
        with self.lock:
            self.received.append(msg)

    def press(self, pitch: int, on: bool) -> None:
        kind = "note_on" if on else "note_off"
        self.keys.send(mido.Message(kind, note=pitch, velocity=80 if on else 0,
                                    channel=self.keyboard_channel))

    def play_random(self, presses: int, pitches: np.ndarray, sizes: list[int],
                    rng: np.random.Generator) -> None:
        """Press ``presses`` random chords (of ``sizes`` keys, from ``pitches``), each
        held 5-120 ms, 0-30 ms apart, and release every key."""
        down: dict[int, float] = {}
        pressed = 0
        t = time.monotonic() + 0.25
        while pressed < presses or down:
            now = time.monotonic()
            for p in [p for p, until in down.items() if until <= now]:
                self.press(p, False)
                del down[p]
            if pressed < presses and now >= t:
                for p in rng.choice(pitches, size=int(rng.choice(sizes)), replace=False):
                    if int(p) not in down:
                        self.press(int(p), True)
                        down[int(p)] = now + rng.uniform(0.005, 0.12)
                pressed += 1
                t = now + rng.uniform(0.0, 0.03)
            time.sleep(0.002)

    def settle(self, timeout: float = 20.0) -> list[mido.Message]:
        """The sink's messages once nothing is left sounding and nothing more has come
        for a second, or after ``timeout``: on a loaded machine JACK's threads may wait
        seconds for a CPU, and the last note-offs with them."""
        last, deadline = -1, time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                got = list(self.received)
            if len(got) == last and not any(balance(got).values()):
                break
            last = len(got)
            time.sleep(1.0)
        with self.lock:
            return list(self.received)

    def close(self) -> None:
        self.acc.stop()
        for port in (self.input, self.out, self.keys, self.sink):
            port.close()
