"""A card whose grid, vocabulary and graph disagree is refused with the reason, listed
as a problem beside the models that still work, never a traceback (issue 23: a card
with "steps_per_quarter": 96 on a 4-step network was accepted and listed first)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import ModelError
from engine.models import ModelLibrary, read_card
from tests.engine.shipped_copies import copy_shipped

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A models folder with copies of the shipped lstm and poly-wavenet."""
    return copy_shipped(tmp_path / "models", "lstm", "poly-wavenet")


def _edit(folder: Path, stem: str, edit) -> None:
    path = folder / f"{stem}.json"
    card = json.loads(path.read_text())
    edit(card["encoding"])
    path.write_text(json.dumps(card))


CASES = [
    ("lstm", lambda e: e.update(steps_per_quarter=96),
     "lstm.json: the card says 96 steps per quarter note, but encoding melody-16th is a grid "
     "of 4 (its network was trained on that grid)"),
    ("poly-wavenet", lambda e: e.update(steps_per_quarter=8),
     "poly-wavenet.json: the card says 8 steps per quarter note, but encoding polyphony-16th "
     "is a grid of 4 (its network was trained on that grid)"),
    # the pitch range moved by two with the vocabulary size kept: only the names differ
    ("lstm", lambda e: e.update(min_pitch=50, max_pitch=85),
     "lstm.json: the card's token 2 is 'NOTE_ON(48)', but its encoding (melody-16th, pitches "
     "50-85) has 'NOTE_ON(50)' there"),
    # a wider range: the network's logits say how many tokens it has
    ("lstm", lambda e: e.update(min_pitch=47, vocab_size=39),
     "lstm.json: the network in lstm.onnx has a vocabulary of 38 tokens (output 'logits'), "
     "but the card's encoding (melody-16th, pitches 47-83) has 39: the card and the graph "
     "disagree"),
    ("lstm", lambda e: e.update(tokens=e["tokens"][:-1]),
     "lstm.json: the card's vocabulary lists 37 tokens, but its encoding (melody-16th, "
     "pitches 48-83) has 38"),
    ("poly-wavenet", lambda e: e.update(tokens="STEP NEW HOLD"),
     "poly-wavenet.json: the card's encoding 'tokens' is not a list of names"),
]


@pytest.mark.parametrize("stem, edit, message", CASES)
def test_a_card_that_disagrees_with_itself_is_refused_with_the_reason(
        folder: Path, stem: str, edit, message: str) -> None:
    _edit(folder, stem, edit)
    with pytest.raises(ModelError) as info:
        read_card(folder / f"{stem}.json")
    assert str(info.value) == message
    library = ModelLibrary([folder])
    assert library.problems == [message]
    other = "poly-wavenet" if stem == "lstm" else "lstm"
    assert library.names == [other]


def test_every_shipped_card_agrees_with_itself() -> None:
    cards = sorted(SHIPPED.rglob("*.json"))
    read = 0
    for path in cards:
        if json.loads(path.read_text()).get("format") == "continuo-model-card":
            read_card(path)
            read += 1
    assert read >= 7


def test_a_card_refused_on_the_command_line_says_why(folder: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    _edit(folder, "lstm", lambda e: e.update(steps_per_quarter=96))
    done = subprocess.run([sys.executable, str(REPO / "main.py"), "generate", "--models-dir",
                           str(folder), "--model", "lstm", "-o", str(tmp_path / "out.mid")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "continuo generate: model 'lstm' was refused: lstm.json: the card says 96 steps per "
        "quarter note, but encoding melody-16th is a grid of 4 (its network was trained on "
        "that grid)")
