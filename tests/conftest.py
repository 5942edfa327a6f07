"""Shared fixtures.

``tiny_models_dir``: a folder with tiny, randomly initialised ``lstm`` and ``wavenet``
models written by the real export code (cards + step and sequence ONNX files + Keras
weights), so engine tests can load real ONNX files without the shipped models and
without training.  TensorFlow is imported inside the fixture only, so test runs that
never ask for it do not pay for it.

A temporary home for the whole session: before any test module is imported, the XDG
data, config and state folders point into a fresh temporary folder, and the variables
that name the user's models and recovery folders directly are dropped (so they follow
``XDG_DATA_HOME`` there).  No test, and no process a test starts (it inherits the
environment), reads or writes the user's models, styles, settings or autosaves: a style
learnt through ``--style`` in a test lands in the temporary home.  QSettings follows
``XDG_CONFIG_HOME``; once Qt is loaded its user paths are set there too.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

TEST_HOME = Path(tempfile.mkdtemp(prefix="continuo-test-home-"))
HOME_FOLDERS = {"XDG_DATA_HOME": "data", "XDG_CONFIG_HOME": "config",
                "XDG_STATE_HOME": "state"}
# these name a user folder directly; without them the code looks under XDG_DATA_HOME
USER_FOLDER_VARIABLES = ("CONTINUO_MODELS_DIR", "CONTINUO_RECOVERY_DIR")

for _variable, _folder in HOME_FOLDERS.items():
    (TEST_HOME / _folder).mkdir()
    os.environ[_variable] = str(TEST_HOME / _folder)
for _variable in USER_FOLDER_VARIABLES:
    os.environ.pop(_variable, None)


def _settings_in_the_test_home() -> None:
    """Point QSettings' user scope at the temporary config folder (when Qt is loaded)."""
    if "PySide6.QtCore" not in sys.modules:
        return
    from PySide6.QtCore import QSettings

    for form in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(form, QSettings.Scope.UserScope, str(TEST_HOME / "config"))


def pytest_collection_finish(session) -> None:  # noqa: ARG001 - pytest's hook signature
    _settings_in_the_test_home()  # the GUI test modules have imported Qt by now


def pytest_unconfigure(config) -> None:  # noqa: ARG001
    shutil.rmtree(TEST_HOME, ignore_errors=True)

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
