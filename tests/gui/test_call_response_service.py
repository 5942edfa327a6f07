"""Call-and-response generates through the generation service, as the Generate panel does,
and the GUI thread's event loop keeps running while it answers, as while the panel
generates.

Real Qt event loop, real models, real helper process.  No MIDI system is needed: the
phrase is handed to the bridge's input callback, as rtmidi would hand it.  No clock and
no count of timer ticks decides anything (a busy machine decides those): what is
asserted is where the work ran (the helper process) and that the GUI thread turned
while it was under way (:class:`Turning`).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import mido
import pytest
from PySide6.QtCore import QTimer

from engine.song import melody_song

TICK_MS = 5
ROUNDS = 2


class Turning:
    """Proves that the GUI thread's event loop runs while a job is in the helper
    process: the generation service's ``run`` is watched (the real one runs), and at the
    job's first progress report the thread waiting on the helper process waits until a
    QTimer on the GUI thread has fired while the job was under way.  A job that held
    the GUI thread could never see that (it would wait the full WAIT_S and the round
    counts as not proved)."""

    WAIT_S = 60.0

    def __init__(self, monkeypatch) -> None:
        from engine.generation.service import GenerationService

        run = GenerationService.run
        self.in_flight, self.turned = threading.Event(), threading.Event()
        self.proved: list[bool] = []

        def watched(service, *args, progress=None, **kwargs):
            self.in_flight.set()

            def on_progress(done: int, total: int) -> None:
                if progress is not None:
                    progress(done, total)
                self.turned.wait(self.WAIT_S)  # the GUI thread turns meanwhile

            try:
                return run(service, *args, progress=on_progress, **kwargs)
            finally:
                self.in_flight.clear()

        monkeypatch.setattr(GenerationService, "run", watched)
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.in_flight.is_set() and self.turned.set())

    @contextmanager
    def watching(self):
        self.turned.clear()
        self.timer.start()
        try:
            yield self
        finally:
            self.timer.stop()
            self.proved.append(self.turned.is_set())


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
def test_call_and_response_answers_from_the_helper_process_while_the_gui_turns(
        qtbot, doc, library, isolated_settings, bridge, monkeypatch):
    from engine.generation import jobs as engine_jobs
    from engine.generation.service import shared_service
    from gui.panels.generate import GeneratePanel
    from gui.playback import generator_responder

    # every job of the engine runs through its registry (engine.generation.jobs.run
    # looks it up there): a job run in this process is seen here
    in_this_process: list[tuple] = []

    def watched(key, job):
        def run_here(*args, **kwargs):
            in_this_process.append(key)
            return job(*args, **kwargs)
        return run_here

    for key, job in list(engine_jobs.JOBS.items()):
        monkeypatch.setitem(engine_jobs.JOBS, key, watched(key, job))

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
    turning = Turning(monkeypatch)

    def panel_run() -> None:
        with turning.watching():
            with qtbot.waitSignal(panel.generation_finished, timeout=120000):
                assert panel.generate()
            qtbot.wait(100)  # the results are shown
        assert panel.result is not None, panel.messages.text()

    def call_run() -> None:
        bridge.start_call_response(song.tempo_map, 120, 0, respond, gap_s=0.2)
        with turning.watching():
            with qtbot.waitSignal(bridge.response_ready, timeout=120000):
                play_phrase(bridge)
            qtbot.wait(100)  # the answer starts playing
        bridge.stop_call_response()
        bridge.stop()

    panel_run(), call_run()  # the first: the helper process and the sessions start
    for _ in range(ROUNDS):
        panel_run()
        call_run()

    # every answer came from the helper process; nothing generated in this one
    service = shared_service()
    assert service is not None
    assert len(jobs) == len(exchanges) == ROUNDS + 1
    assert [job.pid for job in jobs] == [service.pid] * len(jobs)
    assert service.pid != os.getpid()
    assert in_this_process == []
    assert all(e.answer for e in exchanges)
    # the GUI thread's event loop ran while every job, the panel's and every answer,
    # was under way in the helper process
    assert turning.proved == [True] * (2 * (ROUNDS + 1))
