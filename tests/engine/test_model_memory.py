"""The motif memory's mixing lives with its model (issue 22, point 9): a card's
``memory`` section is the mixing ``mixing_for`` gives that model, a card without one
gets memory_mixing.json's default, and a bad section refuses the card in a sentence."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from engine.errors import ModelError
from engine.generation import memory as M
from engine.models import ModelLibrary, read_card
from engine.models.card import memory_section
from engine.models.library import card_named, memory_named
from tests.engine.shipped_copies import SHIPPED, copy_shipped



@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return copy_shipped(tmp_path / "models", "lstm")


def _edit_memory(folder: Path, memory) -> Path:
    path = folder / "lstm.json"
    card = json.loads(path.read_text())
    if memory is None:
        card.pop("memory", None)
    else:
        card["memory"] = memory
    card["name"] = "mine"
    path.write_text(json.dumps(card))
    return path


def test_the_shipped_models_carry_their_mixing_and_the_fill_models_the_default() -> None:
    default = json.loads(M.MIXING_FILE.read_text())["models"]
    assert list(default) == ["*"]
    library = ModelLibrary([SHIPPED])
    for name in library.names:
        info = library.info(name)
        # the melody models, the part models (part memory), the drum model (the groove
        # kept by the memory) and transformer-fill (on the validation split's gaps) carry
        # shares fitted on their own validation splits; lstm-fill and wavenet-fill the
        # default's, written down beside the phrase copy's boosts fitted for them
        if name in ("lstm", "wavenet", "duet", "transformer", "trio", "poly-lstm",
                    "poly-wavenet", "chorale-transformer", "poly-transformer", "poly-duo",
                    "drums-lstm", "transformer-fill", "lstm-fill", "wavenet-fill"):
            assert info.memory is not None and info.memory["method"] == "adaptive"
            assert M.mixing_for(info) == M.Mixing(**info.memory)
            if name.endswith("-fill"):
                assert len(info.memory["phrase"]) == 21
            if name in ("lstm-fill", "wavenet-fill"):
                assert M.mixing_for(info) == replace(M.mixing_for("no such model"),
                                                     phrase=info.memory["phrase"])
        else:
            assert info.memory is None
            assert M.mixing_for(info) == M.mixing_for("no such model") != M.FALLBACK_MIXING
        assert M.mixing_for(name) == M.mixing_for(info)  # by name: the shipped card


def test_a_new_models_card_chooses_its_mixing(folder: Path) -> None:
    _edit_memory(folder, {"method": "linear", "weight": 0.3, "max_order": 6,
                          "bits_per_note": 3.5, "command": "a study"})
    info = ModelLibrary([folder]).info("mine")
    assert info.memory == {"method": "linear", "weight": 0.3, "max_order": 6}
    mixing = M.mixing_for(info)
    assert mixing == M.Mixing("linear", weight=0.3, max_order=6)
    assert mixing.describe() == "linear, memory weight 0.3, orders up to 6"


def test_a_card_without_one_or_with_a_table_of_the_wrong_size_gets_the_default(
        folder: Path) -> None:
    default = M.mixing_for("no such model")
    _edit_memory(folder, None)
    assert M.mixing_for(ModelLibrary([folder]).info("mine")) == default
    _edit_memory(folder, {"method": "adaptive", "max_order": 16, "table": [0.1, 0.2]})
    assert M.mixing_for(ModelLibrary([folder]).info("mine")) == default


@pytest.mark.parametrize("memory, words", [
    ("adaptive", "needs a method and a max_order"),
    ({"method": "linear"}, "needs a method and a max_order"),
    ({"method": "linear", "max_order": 6.5}, "memory 'max_order' has a value of the wrong kind"),
    ({"method": "linear", "max_order": 6, "weight": "0.3"}, "memory 'weight'"),
    ({"method": "linear", "max_order": 6, "table": [0.1, True]}, "memory 'table'"),
    ({"method": "linear", "max_order": 6, "network_tokens": [1.5]}, "memory 'network_tokens'"),
])
def test_a_bad_memory_section_refuses_the_card_in_a_sentence(folder: Path, memory,
                                                             words: str) -> None:
    path = _edit_memory(folder, memory)
    with pytest.raises(ModelError, match=words):
        read_card(path)
    assert ModelLibrary([folder]).names == []


def test_memory_section_keeps_the_mixings_fields_typed() -> None:
    section = memory_section({"method": "adaptive", "max_order": 16, "weight": 1,
                              "table": [1, 0.5], "network_tokens": [1], "phase_period": 4,
                              "chosen_on": "validation"}, "x")
    assert section == {"method": "adaptive", "weight": 1.0, "max_order": 16,
                       "table": (1.0, 0.5), "network_tokens": (1,), "phase_period": 4}
    assert isinstance(section["weight"], float) and isinstance(section["table"][0], float)


def test_a_card_is_found_by_name_without_checking_its_files(folder: Path) -> None:
    _edit_memory(folder, {"method": "linear", "max_order": 6})
    (folder / "lstm.onnx").unlink()  # the cheap look-up reads JSON only
    assert card_named("mine", [folder])["name"] == "mine"
    assert card_named("other", [folder]) is None
    assert memory_named("no such model") is None


@pytest.mark.parametrize("field, value", [
    ("weight", 1.5), ("max_order", 1000000), ("phase_period", 0), ("table", [0.1, -0.2]),
    ("network_tokens", [38]), ("generation_power", 0), ("max_order", 10 ** 400)])
def test_a_memory_section_out_of_range_refuses_the_card(folder: Path, field: str,
                                                         value) -> None:
    path = _edit_memory(folder, {"method": "linear", "max_order": 6, field: value})
    with pytest.raises(ModelError, match=f"memory '{field}'"):
        read_card(path)
