"""The steering controls as a scoring condition (issue 26): ``main.py score --density N``
scores real tokens with the control's mixer applied, by the same functions
bench/controls.py --bits reads (engine/generation/control_scoring.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.formats import midi_file_to_song
from engine.generation.control_scoring import tune_bits
from engine.generation.request import GenerationSettings
from engine.models import ModelLibrary

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def library():
    return ModelLibrary()


def score(*args):
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "score", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    return proc


@pytest.mark.parametrize("model, song", [("lstm", "golden_seed.mid"),
                                         ("poly-lstm", "golden_chorale.mid")])
def test_every_control_at_0_scores_as_the_network_alone(library, model, song):
    m = library.get(model)
    s = midi_file_to_song((DATA / song).read_bytes())
    bits, scored, notes = m.score_tokens(m.encoding.song_to_tokens(s))
    ours = tune_bits(m, GenerationSettings(model=model, memory=False), s,
                     parts=model.startswith("poly"))
    assert ours[1:] == (scored, notes)
    assert ours[0] == pytest.approx(bits, rel=1e-9)


def test_a_control_moves_the_bits_a_little_and_dynamics_not_at_all(library):
    m = library.get("lstm")
    s = midi_file_to_song((DATA / "golden_seed.mid").read_bytes())
    zero = tune_bits(m, GenerationSettings(model="lstm"), s, parts=False)[0]
    for name in ("density", "leaps", "register", "syncopation", "repeat"):
        for p in (-1, 1):
            bits = tune_bits(m, GenerationSettings(model="lstm", **{name: p}), s, False)[0]
            assert bits != zero and abs(bits / zero - 1) < 0.05, (name, p)
    assert tune_bits(m, GenerationSettings(model="lstm", dynamics=2), s, False)[0] == zero


def test_score_takes_the_controls_as_a_scoring_condition():
    seed = str(DATA / "golden_seed.mid")
    proc = score("--model", "lstm", "--density", "1", seed)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["controls"] == {"density": 1}
    rise = report["bits_per_note"] / report["bits_per_note_controls_at_0"] - 1
    assert report["rise_over_controls_at_0"] == pytest.approx(rise)
    assert 0 < rise < 0.03
    chorale = str(DATA / "golden_chorale.mid")
    proc = score("--model", "poly-lstm", "--syncopation", "-1", chorale)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["controls"] == {"syncopation": -1} and report["memory"] == "off"
    bad = score("--model", "poly-lstm", "--repeat", "1", chorale)
    assert bad.returncode == 1 and "--repeat scores a melody model's motif memory" in bad.stderr
    bad = score("--model", "lstm", "--density", "1", "--fill", "1:2", seed)
    assert bad.returncode == 1 and "the controls score whole tunes" in bad.stderr
