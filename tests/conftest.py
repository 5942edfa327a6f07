"""Shared fixtures.

``tiny_models_dir``: a folder with tiny, randomly initialised ``lstm`` and ``wavenet``
models written by the real export code (cards + step and sequence ONNX files + Keras
weights), so engine tests can load real ONNX files without the shipped models and
without training.  TensorFlow is imported inside the fixture only, so test runs that
never ask for it do not pay for it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_HYPERPARAMETERS = {
    "lstm": {"architecture": "lstm", "vocab_size": 38, "embed_dim": 8, "units": [16, 16],
             "dense_hidden": 0, "dropout": 0.0},
    # receptive field 1 + 1 + 31 = 33 steps: more than two bars of sixteenths
    "wavenet": {"architecture": "wavenet", "vocab_size": 38, "embed_dim": 8,
                "residual_channels": 8, "skip_channels": 8, "dilations": [1, 2, 4, 8, 16],
                "dropout": 0.0},
}


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    """A models folder holding tiny random ``lstm`` and ``wavenet`` cards and files."""
    import keras

    from training.export import export_model
    from training.models import build_model

    out = tmp_path_factory.mktemp("tiny_models")
    keras.utils.set_random_seed(1234)
    for name, hp in TINY_HYPERPARAMETERS.items():
        model = build_model(hp)
        export_model(model, hp, out, name, save_keras_weights=True,
                     description=f"tiny random {name} for tests")
    return out
