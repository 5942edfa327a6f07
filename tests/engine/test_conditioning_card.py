"""A card may declare its step model's conditioning inputs (issue 22, point 4); a
declaration that is incomplete, or that its graph does not take, refuses the card in a
sentence, and a card without one reads and runs as before.  The end-to-end test with a
trained conditioned model is tests/training/test_conditioned_toy.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.encodings import DEFAULT_ENCODING
from engine.errors import ModelError
from engine.models import ModelLibrary, read_card
from engine.models.card import make_card
from engine.models.conditioning import ConditioningInput, conditioning_input
from tests.engine.shipped_copies import SHIPPED, copy_shipped

STYLE = {"input": "style", "shape": [1], "dtype": "float32", "meaning": "a style id"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return copy_shipped(tmp_path, "lstm")


def _with(folder: Path, conditioning) -> Path:
    path = folder / "lstm.json"
    card = json.loads(path.read_text())
    card["step_model"]["conditioning"] = conditioning
    path.write_text(json.dumps(card))
    return path


@pytest.mark.parametrize("conditioning, message", [
    ({"style": 1}, "lstm.json: the step model's 'conditioning' must list its inputs"),
    (["style"], "lstm.json: conditioning input 1 of the step model is not a table"),
    ([{**STYLE, "input": ""}], "lstm.json: conditioning input 1 needs an input name"),
    ([{**STYLE, "shape": [0]}], "lstm.json: conditioning input 1 'style' needs a shape of "
                                "positive sizes (at most 65536 values a step)"),
    ([{**STYLE, "shape": "1"}], "lstm.json: conditioning input 1 'style' needs a shape of "
                                "positive sizes (at most 65536 values a step)"),
    ([{**STYLE, "dtype": "float64"}], "lstm.json: conditioning input 1 'style' has dtype "
                                      "'float64'; a conditioning input is float32 or int32"),
    ([{**STYLE, "meaning": " "}], "lstm.json: conditioning input 1 'style' does not say what "
                                  "its values mean ('meaning')"),
    ([{**STYLE, "default": [1, 2]}], "lstm.json: conditioning input 1 'style': its default "
                                     "must be 1 number(s)"),
    ([{**STYLE, "dtype": "int32", "default": 0.5}], "lstm.json: conditioning input 1 "
                                                    "'style': its default must be 1 whole "
                                                    "number(s)"),
    ([{**STYLE, "input": "h_0"}], "lstm.json: conditioning input 'h_0' has the name of "
                                  "another input"),
    ([STYLE, STYLE], "lstm.json: conditioning input 'style' has the name of another input"),
    ([STYLE], "lstm.json: lstm.onnx has no input named 'style' (it has c_0, c_1, h_0, h_1, "
              "token)"),
])
def test_a_bad_declaration_refuses_the_card_in_a_sentence(folder: Path, conditioning,
                                                          message: str) -> None:
    path = _with(folder, conditioning)
    with pytest.raises(ModelError) as info:
        read_card(path)
    assert str(info.value) == message
    assert ModelLibrary([folder]).problems == [message]


def test_an_empty_declaration_is_a_model_without_conditioning(folder: Path) -> None:
    info = read_card(_with(folder, []))
    assert info.conditioning == ()
    model = ModelLibrary([folder]).get("lstm")
    _, state = model.prime([2, 0, 0], 1)
    token = np.array([1], dtype=np.int32)
    # a model without conditioning inputs ignores the argument
    assert np.array_equal(model.step(token, state, conditioning={"x": 1}).shape, (1, 38))
    assert state.conditioning == []


def test_make_card_writes_the_declaration_that_read_card_reads(tmp_path: Path) -> None:
    shutil.copyfile(SHIPPED / "lstm.onnx", tmp_path / "lstm.onnx")
    chord = conditioning_input("chord", (12,), "int32", "pitch classes sounding", default=0)
    lean = conditioning_input("lean", (2,), "float32", "a direction", default=[0.5, -1])
    card = make_card("x", "lstm", "d", {"step": "lstm.onnx"}, tmp_path, DEFAULT_ENCODING, [],
                     conditioning=[chord, lean])
    assert card["step_model"]["conditioning"] == [
        {"input": "chord", "shape": [12], "dtype": "int32", "meaning": "pitch classes sounding"},
        {"input": "lean", "shape": [2], "dtype": "float32", "meaning": "a direction",
         "default": [0.5, -1.0]}]
    assert "conditioning" not in make_card("x", "lstm", "d", {"step": "lstm.onnx"}, tmp_path,
                                           DEFAULT_ENCODING, [])["step_model"]
    assert lean.default_value().tolist() == [0.5, -1.0]
    assert chord.default_value().dtype == np.int32 and chord.default_value().shape == (12,)
    assert isinstance(chord, ConditioningInput) and chord.onnx_type == 6


def test_only_the_shipped_drum_models_declare_conditioning() -> None:
    """The melody and part models take tokens alone; a drum model also hears the style,
    the place in the bar and the other parts' onsets at every step."""
    for info in ModelLibrary([SHIPPED]).models:
        names = [c.input for c in info.conditioning]
        if info.encoding.name == "drums-12th":
            assert names == ["style", "position", "onsets"], info.name
        else:
            assert names == [], info.name
