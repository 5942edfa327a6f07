"""The exported ONNX graphs compute what the Keras model computes.

Stepping the step model (with the ring-buffer state rule of docs/model-contract.md)
over random token sequences must give the logits of the Keras model run over the whole
sequence, and the sequence ONNX model must give them too (max abs diff <= 1e-4).
"""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from engine.models import sha256_file
from training.export import step_onnx

TOL = 1e-4


def _card(d, name):
    return json.loads((d / f"{name}.json").read_text())


@pytest.mark.parametrize("name", ["lstm", "wavenet"])
def test_onnx_step_and_sequence_equal_keras(tiny_models_dir, name):
    from training.models import load_keras_model

    card = _card(tiny_models_dir, name)
    model = load_keras_model(tiny_models_dir / f"{name}.json")
    rng = np.random.default_rng(7)
    tokens = rng.integers(0, card["encoding"]["vocab_size"], size=(3, 50)).astype(np.int32)
    keras_logits = np.asarray(model(tokens, training=False))

    step = ort.InferenceSession(str(tiny_models_dir / card["files"]["step"]))
    stepped = step_onnx(step, card, tokens)
    assert stepped.shape == keras_logits.shape == (3, 50, 38)
    assert np.abs(stepped - keras_logits).max() <= TOL

    seq = ort.InferenceSession(str(tiny_models_dir / card["files"]["sequence"]))
    whole = seq.run(["logits"], {"tokens": tokens})[0]
    assert np.abs(whole - keras_logits).max() <= TOL
    # causal: changing a later token leaves earlier logits alone
    changed = tokens.copy()
    changed[:, 30] = (changed[:, 30] + 1) % 38
    whole2 = seq.run(["logits"], {"tokens": changed})[0]
    assert np.abs(whole2[:, :30] - whole[:, :30]).max() <= TOL
    assert np.abs(whole2[:, 30:] - whole[:, 30:]).max() > 0


@pytest.mark.parametrize("name", ["lstm", "wavenet"])
def test_onnx_names_and_card_follow_the_contract(tiny_models_dir, name):
    card = _card(tiny_models_dir, name)
    assert card["format"] == "continuo-model-card" and card["card_version"] == 1
    assert card["files"] == {"step": f"{name}.onnx", "sequence": f"{name}.seq.onnx"}
    for f, digest in card["sha256"].items():
        assert sha256_file(tiny_models_dir / f) == digest
    step = ort.InferenceSession(str(tiny_models_dir / card["files"]["step"]))
    states = card["step_model"]["states"]
    ins = {i.name: i for i in step.get_inputs()}
    outs = {o.name: o for o in step.get_outputs()}
    assert set(ins) == {"token"} | {s["input"] for s in states}
    assert set(outs) == {"logits"} | {s["output"] for s in states}
    assert ins["token"].type == "tensor(int32)"
    for s in states:
        assert ins[s["input"]].type == "tensor(float)"
        assert list(ins[s["input"]].shape[1:]) == s["shape"]
    if name == "wavenet":
        assert card["receptive_field_steps"] >= 32
        assert sorted({s["delay"] for s in states}) == [1, 2, 4, 8, 16]
    else:
        assert card["receptive_field_steps"] is None
        assert all(s["delay"] == 1 for s in states)
    seq = ort.InferenceSession(str(tiny_models_dir / card["files"]["sequence"]))
    assert [i.name for i in seq.get_inputs()] == ["tokens"]
    # then one output per state, its last `delay` values, for priming in one call
    tails = card["sequence_model"]["state_outputs"]
    assert tails == [s["output"] + "_tail" for s in states]
    assert [o.name for o in seq.get_outputs()] == ["logits"] + tails
    for s, o in zip(states, seq.get_outputs()[1:]):
        assert list(o.shape[1:]) == [s["delay"], *s["shape"]]


def test_seed_lstm_exports_with_parity(tmp_path):
    """The seed notebooks' architecture (one-hot in, Dense relu before the logits)."""
    from training.export import export_model
    from training.models import build_model

    hp = {"architecture": "seed-lstm", "vocab_size": 38, "embed_dim": 0, "units": [12, 12],
          "dense_hidden": 24, "dropout": 0.0}
    model = build_model(hp)
    card = export_model(model, hp, tmp_path, "seed-lstm")
    tokens = np.random.default_rng(3).integers(0, 38, size=(2, 20)).astype(np.int32)
    ref = np.asarray(model(tokens, training=False))
    step = ort.InferenceSession(str(tmp_path / "seed-lstm.onnx"))
    assert np.abs(step_onnx(step, card, tokens) - ref).max() <= TOL
