"""One capability query (issue 22): an encoding, a model, its card and its card's JSON
all answer "what can this model do" the same way, the way the jobs decide it."""

import pytest

from engine.encodings import (CAPABILITIES, CONTINUE, FILL, HARMONISE, PARTS, MelodyEncoding,
                              capabilities_of)
from engine.models import ModelLibrary

EXPECTED = {
    "lstm": {CONTINUE}, "wavenet": {CONTINUE}, "duet": {CONTINUE},
    "lstm-fill": {CONTINUE, FILL}, "wavenet-fill": {CONTINUE, FILL},
    "transformer-fill": {CONTINUE, FILL},
    "poly-lstm": {CONTINUE, FILL, HARMONISE, PARTS},
    "poly-wavenet": {CONTINUE, FILL, HARMONISE, PARTS},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_model_its_card_and_its_json_agree(name):
    library = ModelLibrary()
    if name not in library.names:
        pytest.skip(f"{name} is not installed")
    info = library.info(name)
    answers = {capabilities_of(library.get(name)), capabilities_of(info),
               capabilities_of(info.card)}
    assert answers == {frozenset(EXPECTED[name])}
    assert capabilities_of(info) <= set(CAPABILITIES)
    # the encoding alone says what its models can be trained to do: a superset
    assert capabilities_of(info.encoding) >= capabilities_of(info)


def test_a_melody_card_fills_only_when_its_jobs_say_so():
    section = MelodyEncoding().card()
    assert capabilities_of({"encoding": section}) == {CONTINUE}
    fim = dict(section, name="melody-fim-16th")
    assert capabilities_of({"encoding": fim, "jobs": ["continue"]}) == {CONTINUE}
    assert capabilities_of({"encoding": fim, "jobs": ["continue", "fill"]}) == {CONTINUE, FILL}


def test_a_card_in_an_unknown_encoding_can_do_nothing():
    assert capabilities_of({"encoding": {"name": "drums-9", "version": 7}}) == frozenset()
    assert capabilities_of({}) == frozenset()
    with pytest.raises(TypeError):
        capabilities_of(42)
