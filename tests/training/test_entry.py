"""``python -m training`` is training's one entry: every command, production and studies,
is a sub-command of it, and no module of training/ has an entry of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = ["corpus", "partmusic", "train", "export", "promote", "kn", "ensemble",
              "finetune", "grooves", "drums", "drum-styles", "progressions", "fill",
              "evaluate"]
STUDIES = ["sweep", "key-study", "memory-sweep", "part-memory-sweep", "part-bits-study",
           "drum-memory-sweep",
           "poly-report"]
NESTED = [["fill", "train"], ["fill", "evaluate"]]


def _training(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "training", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_help_lists_every_command():
    done = _training("--help")
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert listed == PRODUCTION + STUDIES


@pytest.mark.parametrize("command", [[c] for c in PRODUCTION + STUDIES] + NESTED,
                         ids=" ".join)
def test_every_command_has_its_help(command):
    done = _training(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m training {' '.join(command)}")
    assert "options:" in done.stdout


def test_no_training_module_is_an_entry_of_its_own():
    entries = [p.relative_to(ROOT).as_posix() for p in (ROOT / "training").rglob("*.py")
               if p.name != "__main__.py" and "__main__" in p.read_text(encoding="utf-8")]
    assert entries == []
