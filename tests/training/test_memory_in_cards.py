"""``python -m training memory-sweep`` writes each model's chosen mixing into its card's
``memory`` section, where the engine reads it, and the default model's into the
engine's memory_mixing.json for any model whose card has none (issue 22, point 9)."""

from __future__ import annotations

import json

from engine.generation import memory as M
from engine.models import ModelLibrary
from tests.engine.shipped_copies import copy_shipped
from training.studies.memory_sweep import write_mixing_file


def test_the_sweep_writes_each_models_mixing_into_its_card(tmp_path, monkeypatch):
    folder = copy_shipped(tmp_path / "models", "lstm")
    mixing_file = tmp_path / "memory_mixing.json"
    monkeypatch.setattr("engine.models.library.REPO_MODELS_DIR", folder)
    monkeypatch.setattr("engine.generation.memory.MIXING_FILE", mixing_file)
    monkeypatch.setenv("CONTINUO_MODELS_DIR", str(tmp_path / "user"))
    monkeypatch.setattr(M, "_mixings", None)
    chosen = {"method": "linear", "weight": 0.25, "bias": 2.0, "max_order": 6,
              "network_tokens": [1], "bits_per_note": 3.1, "table": [], "phase_period": 4}
    report = {"split": "validation", "tunes": 3, "models": {"lstm": {"chosen": chosen}}}

    assert write_mixing_file(report, default_model="lstm", generation_power=0.8) == mixing_file
    card = json.loads((folder / "lstm.json").read_text())
    assert card["memory"] == {**chosen, "generation_power": 0.8,
                              "chosen_on": "essenFolksong validation split, 3 tunes",
                              "command": "python -m training memory-sweep"}
    info = ModelLibrary([folder]).info("lstm")  # the card still agrees with its files
    expected = M.Mixing("linear", 0.25, 2.0, 6, (), (1,), 0.8, 4)
    assert M.mixing_for(info) == expected
    assert list(json.loads(mixing_file.read_text())["models"]) == ["*"]
    assert M.mixing_for("a model with no card") == expected  # the default: lstm's
