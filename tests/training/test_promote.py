"""Promoting a candidate copies a consistent model, and only a better one."""

from __future__ import annotations

import json
import shutil

from engine.models import sha256_file
from training.cli import main


def _candidate(src_dir, dst_dir, bits):
    dst_dir.mkdir(parents=True)
    card = json.loads((src_dir / "lstm.json").read_text())
    for f in list(card["files"].values()) + [card["keras"]["weights"]]:
        (dst_dir / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src_dir / f, dst_dir / f)
    card["metrics"] = {"validation": {"bits_per_note": bits}}
    (dst_dir / "lstm.json").write_text(json.dumps(card))
    return dst_dir / "lstm.json"


def test_promote_only_when_better(tiny_models_dir, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    first = _candidate(tiny_models_dir, tmp_path / "a", 4.0)
    assert main(["promote", "--card", str(first), "--models-dir", str(models)]) == 0
    card = json.loads((models / "lstm.json").read_text())
    for f, digest in card["sha256"].items():
        assert sha256_file(models / f) == digest
    assert (models / card["keras"]["weights"]).exists()
    worse = _candidate(tiny_models_dir, tmp_path / "b", 4.5)
    assert main(["promote", "--card", str(worse), "--models-dir", str(models)]) == 0
    assert json.loads((models / "lstm.json").read_text())["metrics"]["validation"][
        "bits_per_note"] == 4.0
    better = _candidate(tiny_models_dir, tmp_path / "c", 3.5)
    assert main(["promote", "--card", str(better), "--models-dir", str(models)]) == 0
    assert json.loads((models / "lstm.json").read_text())["metrics"]["validation"][
        "bits_per_note"] == 3.5
