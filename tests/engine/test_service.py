"""The generation service: its typed messages travel as JSON lines and come back equal,
and the helper process generates what this process would."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest

from engine.encodings import Key
from engine.formats import song_to_midi_bytes
from engine.generation.generator import GenerationResult, GenerationSettings
from engine.generation.service import (MESSAGES, Cancel, Cancelled, Error, Generate,
                                       GenerationService, Progress, Quit, Result, Warm,
                                       Warmed, decode, encode, generate_outcome)
from engine.song import Note, melody_song


@pytest.fixture(scope="module")
def library(request):
    """The shipped models when there are any, else the tiny exported ones."""
    from engine.models import ModelLibrary

    shipped = ModelLibrary()
    if any(m.name == "lstm" for m in shipped.models):
        return shipped
    return ModelLibrary([request.getfixturevalue("tiny_models_dir")])


def test_every_message_comes_back_equal_from_one_json_line():
    seed = melody_song([Note(60, 0, 480), Note(64, 480, 240, 70), Note(67, 720, 960)],
                       bpm=97, time_signature=(3, 4))
    settings = GenerationSettings(model="wavenet", temperature=0.25, top_p=0.9, bars=3,
                                  variations=2, rng_seed=7, key=None, min_pitch=40)
    result = GenerationResult(variations=[[Note(62, 1440, 120, 90)], []], start_tick=1440,
                              key=Key(9, True), messages=["a sentence"], model="wavenet",
                              steps=16, tokens=[[1, 2], [3]])
    messages = [Warm(["/models"], ["lstm", "wavenet"]),
                Generate(4, ["/models"], seed, settings, 0, 1440),
                Generate(5, [], None, GenerationSettings()),
                Cancel(4), Quit(), Warmed(["refused.json: no"], 99), Progress(4, 3, 16),
                Result(4, result, 99), Error(4, "No model."), Cancelled(4)]
    assert {type(m) for m in messages} == set(MESSAGES.values())
    for message in messages:
        line = encode(message)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        back = decode(line)
        if isinstance(message, Generate) and message.seed is not None:
            # a song travels as MIDI bytes: the same bytes come back
            assert song_to_midi_bytes(back.seed) == song_to_midi_bytes(message.seed)
            back, message = replace(back, seed=None), replace(message, seed=None)
        assert back == message


def test_numpy_scalars_become_numbers_and_arrays_are_refused():
    result = GenerationResult(variations=[], start_tick=np.int64(3), key=Key(0),
                              steps=np.int32(2))
    assert decode(encode(Result(1, result, 1))).result.start_tick == 3
    result.logits = np.zeros((1, 2, 3))
    with pytest.raises(TypeError, match="ndarray"):
        encode(Result(1, result, 1))


@pytest.mark.slow
def test_the_helper_process_generates_what_this_process_generates(library):
    seed = melody_song([Note(60 + 2 * i, 240 * i, 240) for i in range(8)])
    settings = GenerationSettings(model="lstm", bars=2, variations=2, rng_seed=11)
    here = generate_outcome(library, Generate(0, [], seed, settings))
    assert isinstance(here, Result) and here.pid == os.getpid()
    service = GenerationService()
    try:
        progress: list[tuple[int, int]] = []
        sent: list[int] = []
        there = service.run(library.folders, seed, settings, progress=lambda d, t:
                            progress.append((d, t)), sent=sent.append)
        failed = service.run(library.folders, seed, GenerationSettings(model="no such"))
    finally:
        service.close()
    assert isinstance(there, Result) and there.job_id == sent[0]
    assert there.pid == service.pid != os.getpid()
    assert there.result.variations == here.result.variations
    assert there.result.key == here.result.key and there.result.start_tick == here.result.start_tick
    assert there.result.tokens == [] and there.result.logits is None  # kept out of the pipe
    assert progress and progress[-1][0] == progress[-1][1]
    assert isinstance(failed, Error) and "no such" in failed.message


@pytest.mark.slow
def test_a_helper_that_does_not_answer_cancel_is_killed_and_the_next_job_works(library):
    """A child that cannot answer (stopped by SIGSTOP: as stuck as a loop that never
    checks for cancellation) is killed CANCEL_GRACE_S after Cancel; the job ends as
    cancelled with ``restarted``, and the next job runs in a new child."""
    import signal
    import threading

    from engine.generation.service import _stop_service, shared_service

    seed = melody_song([Note(60 + 2 * i, 240 * i, 240) for i in range(8)])
    settings = GenerationSettings(model="lstm", bars=32, variations=8, rng_seed=3)
    service = shared_service()
    assert service is not None
    first_pid = service.pid
    outcome: list = []

    def stop_then_cancel(job_id: int) -> None:
        os.kill(first_pid, signal.SIGSTOP)
        threading.Thread(target=service.cancel, args=(job_id,), daemon=True).start()

    try:
        outcome.append(service.run(library.folders, seed, settings, sent=stop_then_cancel))
        assert isinstance(outcome[0], Cancelled) and outcome[0].restarted
        assert not service.alive()
        again = shared_service()
        assert again is not None and again.pid != first_pid
        short = replace(settings, bars=1, variations=1)
        assert isinstance(again.run(library.folders, seed, short), Result)
    finally:
        try:
            os.kill(first_pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        _stop_service()


def test_the_watchdog_budget_grows_with_the_job_and_its_message_names_the_size():
    from engine.generation.service import WATCHDOG_FLOOR_S, _too_big, work_budget

    seed = melody_song([Note(60, 0, 480)])
    small = Generate(1, [], seed, GenerationSettings(bars=1, variations=1))
    big = Generate(2, [], seed, GenerationSettings(bars=32, variations=8))
    assert WATCHDOG_FLOOR_S < work_budget(small) < work_budget(big)
    long_seed = Generate(3, [], melody_song([Note(60, 0, 480 * 4000)]),
                         GenerationSettings(bars=1, variations=1))
    assert work_budget(long_seed) > work_budget(small)
    message = _too_big(big, work_budget(big))
    assert "32 bars x 8 variations" in message and "stopped" in message


def test_a_job_past_its_budget_is_stopped_with_a_sentence(library, monkeypatch):
    """The child's loop (serve) on real pipes, with the floor taken away so that the
    budget is spent before the first step: the job ends in an Error naming its size."""
    import engine.generation.service as service_module
    from engine.generation.service import _Requests, serve, write_message

    monkeypatch.setattr(service_module, "WATCHDOG_FLOOR_S", -60.0)
    seed = melody_song([Note(60 + 2 * i, 240 * i, 240) for i in range(8)])
    settings = GenerationSettings(model="lstm", bars=2, variations=1, rng_seed=1)
    r, w = os.pipe()
    with os.fdopen(r, "rb") as requests_in, os.fdopen(w, "wb") as requests_out:
        write_message(requests_out, Generate(7, [str(f) for f in library.folders], seed,
                                             settings))
        sent: list = []

        def send(message) -> None:
            sent.append(message)
            if isinstance(message, (Result, Error, Cancelled)):
                write_message(requests_out, Quit())

        serve(_Requests(requests_in), send)
    outcome = [m for m in sent if not isinstance(m, Progress)]
    assert len(outcome) == 1 and isinstance(outcome[0], Error)
    assert "2 bars x 1 variation" in outcome[0].message
    assert "was stopped" in outcome[0].message
