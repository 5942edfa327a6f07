"""Call-and-response generates through the generation service, as the Generate panel does,
and the GUI thread stalls no longer while it answers than while the panel generates.

Real Qt event loop, real models, real helper process.  No MIDI system is needed: the
phrase is handed to the bridge's input callback, as rtmidi would hand it.  Times are
never compared with fixed limits, only with the panel's, measured in the same run.
"""

from __future__ import annotations

import os
import statistics
from contextlib import contextmanager

import mido
import pytest
from PySide6.QtCore import QElapsedTimer, QTimer

from engine.song import melody_song

TICK_MS = 5
ROUNDS = 3


class Gaps:
    """The longest gap between the timeouts of a 5 ms timer on the GUI thread."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.clock = QElapsedTimer()
        self.longest_ms = 0.0
        self._last = 0

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed()
        self.longest_ms = max(self.longest_ms, (now - self._last) / 1e6)
        self._last = now

    @contextmanager
    def measuring(self):
        self.longest_ms = 0.0
        self.clock.start()
        self._last = self.clock.nsecsElapsed()
        self.timer.start()
        try:
            yield self
        finally:
            self._tick()  # the gap up to the end counts too
            self.timer.stop()


def play_phrase(bridge, pitches=(60, 64, 67, 72)) -> None:
    """A phrase that ended a moment ago, fed through the input callback."""
    t = bridge.clock() - 0.2 * len(pitches) - 0.3
    for i, pitch in enumerate(pitches):
        bridge._on_input(mido.Message("note_on", note=pitch, velocity=90), t + 0.2 * i)
        bridge._on_input(mido.Message("note_off", note=pitch), t + 0.2 * i + 0.1)


@pytest.fixture
def bridge(qtbot, monkeypatch):
    from gui.playback import PlayerBridge

    # no MIDI system: the built-in synth plays the answer
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "continuo-tests-nobody")
    monkeypatch.setenv("CONTINUO_MIDI_API", "jack")
    b = PlayerBridge()
    yield b
    b.close()


@pytest.mark.slow
def test_call_and_response_answers_from_the_helper_process_without_longer_stalls(
        qtbot, doc, library, isolated_settings, bridge, monkeypatch):
    from engine.generation import generator
    from engine.generation.service import shared_service
    from gui.panels.generate import GeneratePanel
    from gui.playback import generator_responder

    in_this_process: list[tuple] = []
    real_generate = generator.generate

    def generate_here(*args, **kwargs):
        in_this_process.append(args)
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(generator, "generate", generate_here)

    panel = GeneratePanel(doc, library)
    qtbot.addWidget(panel)
    panel.select_model("lstm" if "lstm" in library.names else library.names[0])
    panel.bars.setValue(32)
    panel.variations_spin.setValue(8)
    panel.rng_seed.setValue(5)
    responder = generator_responder(library, panel.settings())
    jobs = []

    def respond(phrase):
        job = responder(phrase)
        jobs.append(job)
        return job

    exchanges = []
    bridge.response_ready.connect(exchanges.append)
    song = melody_song([])
    gaps = Gaps()

    def panel_run() -> float:
        with gaps.measuring():
            with qtbot.waitSignal(panel.generation_finished, timeout=120000):
                assert panel.generate()
            qtbot.wait(100)  # the results are shown
        assert panel.result is not None, panel.messages.text()
        return gaps.longest_ms

    def call_run() -> float:
        bridge.start_call_response(song.tempo_map, 120, 0, respond, gap_s=0.2)
        with gaps.measuring():
            with qtbot.waitSignal(bridge.response_ready, timeout=120000):
                play_phrase(bridge)
            qtbot.wait(100)  # the answer starts playing
        bridge.stop_call_response()
        bridge.stop()
        return gaps.longest_ms

    panel_run(), call_run()  # untimed: the helper process and the sessions start
    panel_ms, call_ms = [], []
    for _ in range(ROUNDS):  # interleaved, so the machine's own hiccups hit both alike
        panel_ms.append(panel_run())
        call_ms.append(call_run())

    # every answer came from the helper process; nothing generated in this one
    service = shared_service()
    assert service is not None
    assert len(jobs) == len(exchanges) == ROUNDS + 1
    assert [job.pid for job in jobs] == [service.pid] * len(jobs)
    assert service.pid != os.getpid()
    assert in_this_process == []
    assert all(e.answer for e in exchanges)
    # a systematic stall shows in every round; one hiccup of the machine does not count
    assert statistics.median(call_ms) <= 2 * statistics.median(panel_ms) + 50, (call_ms,
                                                                               panel_ms)
