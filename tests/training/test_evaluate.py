"""Bits per note as docs/model-contract.md defines it, from the ONNX sequence model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.scoring import score_distributions, score_onnx


def _tunes(rng, lengths):
    return [rng.integers(0, 38, n).astype(np.int8) for n in lengths]


@pytest.mark.parametrize("name", ["lstm", "wavenet"])
def test_score_onnx_matches_the_definition_tune_by_tune(tiny_models_dir, name):
    from training.models import load_keras_model

    model = load_keras_model(tiny_models_dir / f"{name}.json")
    tunes = _tunes(np.random.default_rng(2), [5, 17, 40, 41, 90])
    bits, notes, correct, tokens = 0.0, 0, 0, 0
    for t in tunes:  # one tune at a time, no padding
        logits = np.asarray(model(t[None].astype(np.int32), training=False))[0, :-1]
        logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1,
                                                                               keepdims=True)) \
            - logits.max(-1, keepdims=True)
        targets = t[1:].astype(int)
        bits += -logp[np.arange(len(targets)), targets].sum() / math.log(2)
        notes += int((targets >= 2).sum())
        correct += int((logp.argmax(-1) == targets).sum())
        tokens += len(targets)
    # batched, padded, through onnxruntime
    got = score_onnx(tiny_models_dir / f"{name}.seq.onnx", tunes, batch_tokens=100)
    assert got["tokens"] == tokens and got["notes"] == notes
    assert got["bits_per_note"] == pytest.approx(bits / notes, abs=1e-3)
    assert got["accuracy"] == pytest.approx(correct / tokens, abs=1e-4)


def test_uniform_model_scores_log2_vocab_per_token():
    tunes = _tunes(np.random.default_rng(4), [30, 60])
    got = score_distributions(lambda t: np.full((len(t), 38), 1 / 38), tunes)
    targets = np.concatenate([t[1:] for t in tunes])
    expected = math.log2(38) * len(targets) / int((targets >= 2).sum())
    assert got["bits_per_note"] == pytest.approx(expected, abs=1e-3)
    assert got["tokens"] == len(targets)
