"""The ensemble: two exported models combined into one pair of ONNX graphs and a card
that the engine loads like any other model."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import onnxruntime as ort
import pytest

from engine.errors import ContinuoError
from engine.generation.generator import GenerationSettings, generate
from engine.models import ModelLibrary
from engine.song import Note, melody_song
from training.ensemble import build_ensemble, choose_weight, member_log_probs
from training.scoring import log_softmax, score_onnx
from training.export import step_onnx


@pytest.fixture(scope="module")
def duet_dir(tiny_models_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("duet")
    for f in tiny_models_dir.iterdir():
        if f.is_file():
            shutil.copy(f, out / f.name)
    tunes = [np.random.default_rng(k).integers(0, 38, 60).astype(np.int8) for k in range(6)]
    build_ensemble([out / "lstm.json", out / "wavenet.json"], "duet", out, validation=tunes)
    return out


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _members_logp(folder, tokens):
    return [log_softmax(_session(folder / f"{m}.seq.onnx").run(["logits"],
                                                                 {"tokens": tokens})[0])
            for m in ("lstm", "wavenet")]


def test_sequence_graph_is_the_weighted_sum_of_the_members_log_probabilities(duet_dir):
    card = json.loads((duet_dir / "duet.json").read_text())
    w = card["hyperparameters"]["weights"]
    assert card["architecture"] == "ensemble" and math.isclose(sum(w), 1.0)
    tokens = np.random.default_rng(7).integers(0, 38, (2, 50)).astype(np.int32)
    a, b = _members_logp(duet_dir, tokens)
    got = _session(duet_dir / "duet.seq.onnx").run(["logits"], {"tokens": tokens})[0]
    np.testing.assert_allclose(log_softmax(got), log_softmax(w[0] * a + w[1] * b), atol=1e-4)


def test_step_graph_matches_the_sequence_graph(duet_dir):
    card = json.loads((duet_dir / "duet.json").read_text())
    tokens = np.random.default_rng(3).integers(0, 38, (3, 70)).astype(np.int32)
    stepped = step_onnx(_session(duet_dir / "duet.onnx"), card, tokens)
    whole = _session(duet_dir / "duet.seq.onnx").run(["logits"], {"tokens": tokens})[0]
    assert np.abs(stepped - whole).max() <= 1e-4
    # every member state is there, under its member's prefix, with its delay
    delays = {s["input"]: s["delay"] for s in card["step_model"]["states"]}
    assert delays["lstm.h_0"] == 1 and max(delays.values()) == 16
    assert card["receptive_field_steps"] is None  # the LSTM member sees everything
    # the vocabulary stays visible in the graph, so a card that lies about it is caught
    assert _session(duet_dir / "duet.onnx").get_outputs()[0].shape[-1] == 38


def test_the_ensemble_is_primed_from_its_sequence_graph_like_stepping(duet_dir):
    """Both members' state outputs come through under their prefixes, so one
    sequence-graph call leaves the state that stepping every seed token does."""
    card = json.loads((duet_dir / "duet.json").read_text())
    tails = card["sequence_model"]["state_outputs"]
    assert tails[0] == "lstm.h_0_out_tail" and tails[-1] == "wavenet.present_5_tail"
    model = ModelLibrary([duet_dir]).get("duet")
    seed = np.random.default_rng(11).integers(2, 38, 45).tolist()
    fast_logits, fast = model.prime(seed, batch=2)
    slow_logits, slow = model.prime(seed, batch=2, stepwise=True)
    assert np.abs(fast_logits - slow_logits).max() <= 1e-5
    for tok in (5, 0, 1, 9, 0, 0, 12):
        tokens = np.full(2, tok, np.int32)
        assert np.abs(model.step(tokens, fast) - model.step(tokens, slow)).max() <= 1e-5


def test_the_chosen_weight_is_the_best_on_the_given_tunes(duet_dir):
    tunes = [np.random.default_rng(k).integers(0, 38, 60).astype(np.int8) for k in range(6)]
    a = member_log_probs(duet_dir / "lstm.seq.onnx", tunes)
    b = member_log_probs(duet_dir / "wavenet.seq.onnx", tunes)
    best, by_weight = choose_weight(a, b, tunes)
    card = json.loads((duet_dir / "duet.json").read_text())
    assert card["hyperparameters"]["weights"][0] == best
    assert by_weight[best] == min(by_weight.values())
    # and the score of the built graph is the score the choice was made on
    scored = score_onnx(duet_dir / "duet.seq.onnx", tunes)
    assert scored["bits_per_note"] == pytest.approx(by_weight[best], abs=1e-3)


def test_the_engine_generates_with_the_ensemble(duet_dir):
    library = ModelLibrary([duet_dir])
    assert not library.problems
    model = library.get("duet")
    assert model.info.architecture == "ensemble"
    seed = melody_song([Note(60 + (i % 5), i * 240, 200) for i in range(12)])
    settings = GenerationSettings(model="duet", bars=2, variations=3, rng_seed=5)
    result = generate(library, seed, settings)
    assert len(result.variations) == 3 and all(result.variations)
    assert generate(library, seed, settings).variations == result.variations


def test_an_ensemble_needs_two_different_existing_cards(tiny_models_dir, tmp_path):
    with pytest.raises(ContinuoError, match="exactly two"):
        build_ensemble([tiny_models_dir / "lstm.json"], "x", tmp_path, weight=0.5)
    with pytest.raises(ContinuoError, match="different models"):
        build_ensemble([tiny_models_dir / "lstm.json"] * 2, "x", tmp_path, weight=0.5)
    with pytest.raises(ContinuoError, match="no such model card"):
        build_ensemble([tiny_models_dir / "lstm.json", tmp_path / "nope.json"], "x", tmp_path,
                       weight=0.5)
    (tmp_path / "broken.json").write_text("{ not json")
    with pytest.raises(ContinuoError, match="broken.json: the model card cannot be read"):
        build_ensemble([tiny_models_dir / "lstm.json", tmp_path / "broken.json"], "x",
                       tmp_path, weight=0.5)
    with pytest.raises(ContinuoError, match="between 0 and 1"):
        build_ensemble([tiny_models_dir / "lstm.json", tiny_models_dir / "wavenet.json"], "x",
                       tmp_path, weight=1.5)
