"""Copies of shipped models for tests that edit a card: the card and its ONNX files."""

from __future__ import annotations

import shutil
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[2] / "models"


def copy_shipped(folder: Path, *stems: str) -> Path:
    """``folder`` (made if missing) holding each of ``stems``' card and ONNX files."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        for p in SHIPPED.glob(f"{stem}.*"):
            if p.suffix in (".json", ".onnx"):
                shutil.copyfile(p, folder / p.name)
    return folder
