"""A step model with a conditioning input, end to end (issue 22, point 4): a tiny Keras
network that reads a ``style`` besides the token is trained for a few steps, exported
to ONNX with a card that declares the input, read and checked by the engine, and
generates through the engine's generate(), its encoding supplying the style at every
step of the seed and the continuation.  The style alone turns a climbing tune into a
falling one.  All of it lives in new files (tests/training/conditioned_toy.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import ModelError
from engine.generation.generator import GenerationSettings, generate
from engine.models import ModelLibrary, read_card
from engine.song import Song
from tests.engine.builders import make_track
from tests.training import conditioned_toy as toy


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    with toy.registered():
        out = tmp_path_factory.mktemp("conditioned")
        encoding = toy.StyledMelody()
        model = toy.build(encoding.vocab_size)
        assert toy.train(model, encoding) < 0.2
        card = toy.export(model, encoding, out, "toy-up")
        toy.card_with_style(out, "toy-down", card, 1.0)
        yield out


@pytest.fixture
def library(folder: Path):
    with toy.registered():
        yield ModelLibrary([folder])


def _seed() -> Song:
    """C, D, E, F as sixteenths (ppq 480: 120 ticks each), a beat in all."""
    song = Song(ppq=480)
    song.tracks.append(make_track([(60, 0, 120), (62, 120, 120), (64, 240, 120),
                                   (65, 360, 120)]))
    return song


def test_the_card_declares_the_input_and_the_engine_checks_it(library, folder) -> None:
    assert library.problems == []
    info = library.info("toy-up")
    (style,) = info.conditioning
    assert (style.input, style.shape, style.dtype) == ("style", (1,), "float32")
    assert "climbs" in style.meaning
    assert library.info("toy-down").encoding.style == 1.0


def test_a_card_that_leaves_the_input_out_is_refused(folder: Path, tmp_path: Path) -> None:
    import json
    import shutil

    for p in folder.glob("toy-up*"):
        shutil.copyfile(p, tmp_path / p.name)
    card = json.loads((tmp_path / "toy-up.json").read_text())
    del card["step_model"]["conditioning"]
    (tmp_path / "toy-up.json").write_text(json.dumps(card))
    with toy.registered(), pytest.raises(ModelError, match=r"has inputs the card does not "
                                                           r"describe \(style\)"):
        read_card(tmp_path / "toy-up.json")


def test_stepping_and_the_sequence_graph_agree_under_each_style(library) -> None:
    for name in ("toy-up", "toy-down"):
        model = library.get(name)
        tokens = np.array([2 + 12, 2 + 14, 2 + 16, 2 + 17], dtype=np.int32)
        whole = model.sequence_logits(tokens[None])[0]
        _, state = model.prime([], 1)
        stepped = np.stack([model.step(tokens[t:t + 1], state)[0] for t in range(len(tokens))])
        model.release(state)
        assert np.abs(whole - stepped).max() <= 1e-4


def test_the_caller_may_give_the_value_at_a_step(library) -> None:
    model = library.get("toy-up")
    _, state = model.prime([], 2)
    token = np.array([2 + 16, 2 + 16], dtype=np.int32)
    logits = model.step(token, state, conditioning={"style": [[0.0], [1.0]]})
    e, up, down = toy.StyledMelody(), 2 + 17, 2 + 14  # after E: F up, D down
    assert logits[0].argmax() == up and logits[1].argmax() == down
    assert e.token_pitch(up) == 65 and e.token_pitch(down) == 62
    with pytest.raises(ModelError, match="no conditioning input named colour"):
        model.step(token, state, conditioning={"colour": 1.0})
    model.release(state)


def test_the_style_the_encoding_supplies_turns_the_tune_around(library) -> None:
    """As users get it (key lock, motif memory): after C, D, E, F one note a sixteenth,
    each a step of C major's scale up, or down, by the style alone (the octave leap is
    the toy's wrap around its octave)."""
    pitches = {}
    for name in ("toy-up", "toy-down"):
        result = generate(library, _seed(), GenerationSettings(model=name, temperature=0.0,
                                                                steps=8))
        assert result.key_lock == "C"
        pitches[name] = [n.pitch for n in result.variations[0]]
    assert pitches["toy-up"] == [67, 69, 71, 72, 60, 62, 64, 65]
    assert pitches["toy-down"] == [64, 62, 60, 72, 71, 69, 67, 65]


def test_the_naive_runner_feeds_the_sequence_graph_the_same_values(library) -> None:
    settings = GenerationSettings(model="toy-down", temperature=0.0, steps=8)
    fast = generate(library, _seed(), settings)
    naive = generate(library, _seed(), settings, method="naive")
    assert naive.tokens == fast.tokens


def test_the_encoding_is_asked_for_every_step_of_the_seed_and_after(library,
                                                                     monkeypatch) -> None:
    from engine.models import StepModel

    info = library.info("toy-up")
    asked: list[int] = []
    monkeypatch.setattr(info.encoding, "conditioning",
                        lambda step: asked.append(step) or {"style": 0.0})
    model = StepModel(info)
    _, state = model.prime([2 + 12, 2 + 14, 2 + 16], 2)
    model.step(np.array([2 + 17, 2 + 17], dtype=np.int32), state)
    assert asked == [0, 1, 2, 3]
