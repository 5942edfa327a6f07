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
