"""One request (issue 22): validated where it is built, and one place that chooses the
job for it (engine.generation.jobs.run)."""

import pytest

from engine.encodings import CONTINUE, FILL, HARMONISE
from engine.errors import GenerationError
from engine.generation import jobs
from engine.generation.request import DRUMS, REGENERATE, GenerationRequest, GenerationSettings
from engine.generation.service import Generate, request_of
from engine.limits import MAX_BARS, MAX_TEMPERATURE, MAX_VARIATIONS


@pytest.mark.parametrize("fields, says", [
    (dict(job="sing"), "the job must be one of"),
    (dict(job=HARMONISE), "choose the track whose melody"),
    (dict(job=FILL, start_tick=0), "a fill needs the gap's end"),
    (dict(job=FILL, start_tick=0.5, end_tick=10), "whole ticks"),
    (dict(end_tick=10), "only a fill has a gap's end"),
    (dict(track="melody"), "the track must be a whole number"),
    (dict(settings=GenerationSettings(temperature=MAX_TEMPERATURE + 1)), "the temperature"),
    (dict(settings=GenerationSettings(bars=MAX_BARS + 1)), "the number of bars"),
    (dict(settings=GenerationSettings(variations=MAX_VARIATIONS + 1)), "variations"),
    (dict(settings={"model": "lstm"}), "GenerationSettings"),
])
def test_a_bad_request_is_refused_with_a_sentence_when_it_is_built(fields, says):
    with pytest.raises(GenerationError, match=says):
        GenerationRequest(**fields)


def test_a_good_request_says_its_gap():
    request = GenerationRequest(FILL, GenerationSettings(), 0, 480, 960)
    assert request.gap == (480, 960)
    assert GenerationRequest().gap is None and GenerationRequest().job == CONTINUE


def test_the_service_message_carries_one_request():
    settings = GenerationSettings()
    assert request_of(Generate(1, [], None, settings, 2, 0, 960)) == \
        GenerationRequest(FILL, settings, 2, 0, 960)
    assert request_of(Generate(1, [], None, settings, None, None, 960, False, 1)) == \
        GenerationRequest(HARMONISE, settings, 1, None)
    assert request_of(Generate(1, [], None, settings, 3, 480, None, True)) == \
        GenerationRequest(CONTINUE, settings, None, 480, parts=True)
    assert request_of(Generate(1, [], None, settings, 3)) == \
        GenerationRequest(CONTINUE, settings, 3)


def test_every_job_and_kind_of_model_has_one_registered_job():
    assert set(jobs.JOBS) == {(CONTINUE, False), (FILL, False), (CONTINUE, True),
                              (FILL, True), (HARMONISE, True), (REGENERATE, False),
                              (REGENERATE, True), (DRUMS, False), (DRUMS, True)}


def test_a_request_travels_to_the_helper_process_and_comes_back_equal():
    from engine.generation.service import decode, encode

    request = GenerationRequest(FILL, GenerationSettings(model="lstm-fill", mixers=(
        "toy-flatten",), constraints=("toy-no-repeat",)), 1, 480, 1920)
    message = decode(encode(Generate(3, [], None, request.settings, request=request)))
    assert message.request == request and request_of(message) == request


def test_the_built_in_steering_is_not_named_twice():
    with pytest.raises(GenerationError, match="the motif memory is the memory setting"):
        GenerationSettings(mixers=("memory",)).validate()
    with pytest.raises(GenerationError, match="the key lock is the key setting"):
        GenerationSettings(constraints=("key",)).validate()
    with pytest.raises(GenerationError, match="there is no mixer 'loud'"):
        GenerationSettings(mixers=("loud",)).validate()
