"""``score --pitch-only``: each note's pitch given that a note starts there and
everything before (engine/generation/pitch_only.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from engine.encodings import DEFAULT_ENCODING as ENC
from engine.generation.memory import Mixing, memory_distributions, mix, softmax
from engine.generation.pitch_only import pitch_bits, score_pitches

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models"
ONSETS = ENC.onset_mask
N_PITCHES = int(ONSETS.sum())
TUNE = [ENC.note_on(60), 0, 0, 0, ENC.note_on(62), 0, 1, 0, ENC.note_on(64), 0, 0, 0,
        ENC.note_on(60), 0, 0, 0, ENC.note_on(62), 0, 1, 0, ENC.note_on(64), 0, 0, 1]


class FakeModel:
    """A model whose logits are given: ``logits[t]`` predicts token t + 1."""

    def __init__(self, logits: np.ndarray) -> None:
        self.logits = logits
        self.name = "fake"
        self.info = SimpleNamespace(encoding=ENC)

    def sequence_logits(self, tokens: np.ndarray, start: int = 0) -> np.ndarray:
        assert tokens.shape == (1, len(self.logits))
        return self.logits[None]


def test_a_uniform_guess_over_the_pitches_costs_their_log():
    p = np.full((len(TUNE) - 1, ENC.vocab_size), 1.0 / ENC.vocab_size)
    bits, notes = pitch_bits(p, np.array(TUNE[1:]), ONSETS)
    assert notes == 5  # every NOTE_ON after the first token
    assert bits == pytest.approx(5 * np.log2(N_PITCHES))


def test_only_the_note_starts_share_matters():
    """How likely a note start is at all (HOLD, NOTE_OFF) changes nothing: the pitch is
    scored given that a note starts there."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(len(TUNE) - 1, ENC.vocab_size))
    other = logits.copy()
    other[:, :2] += rng.normal(scale=3, size=(len(TUNE) - 1, 2))
    a, n = score_pitches(FakeModel(logits), TUNE)
    b, m = score_pitches(FakeModel(other), TUNE)
    assert n == m == 5 and a == pytest.approx(b, rel=1e-12)
    p = softmax(logits)
    targets = np.array(TUNE[1:])
    at = np.flatnonzero(targets >= 2)
    expected = -np.log2(p[at, targets[at]] / p[at][:, 2:].sum(axis=1)).sum()
    assert a == pytest.approx(expected, rel=1e-12)
    # and it is never more than the note tokens' own bits
    assert a <= -np.log2(p[at, targets[at]]).sum()


def test_the_memory_is_mixed_in_as_score_mixes_it():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(len(TUNE) - 1, ENC.vocab_size))
    mixing = Mixing("linear", weight=0.3, max_order=4, phase_period=4)
    bits, notes = score_pitches(FakeModel(logits), TUNE, mixing)
    p_mem, longest = memory_distributions(TUNE, ENC.vocab_size, 4, 4)
    p = mix(softmax(logits), p_mem[1:], mixing, longest[1:])
    assert (bits, notes) == pitch_bits(p, np.array(TUNE[1:]), ONSETS)
    # the second half repeats the first: the memory makes its pitches cheaper
    alone, _ = score_pitches(FakeModel(logits), TUNE)
    assert bits < alone


def test_nothing_to_score():
    assert score_pitches(FakeModel(np.zeros((0, ENC.vocab_size))), TUNE[:1]) == (0.0, 0)


# ---- the command, with the shipped LSTM -----------------------------------------------
needs_lstm = pytest.mark.skipif(not (SHIPPED / "lstm.json").is_file(),
                                reason="the shipped models are not here")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tune_file(tmp_path_factory) -> Path:
    from engine.formats import song_to_midi_file
    from engine.song import melody_song

    path = tmp_path_factory.mktemp("pitch") / "tune.mid"
    song_to_midi_file(melody_song(ENC.decode(TUNE * 2, 480), ppq=480), path)
    return path


@needs_lstm
@pytest.mark.parametrize("memory", ["off", "on"])
def test_score_pitch_only_prints_bits_per_note(tune_file, memory):
    from engine.formats import load_song
    from engine.generation.memory import mixing_for
    from engine.models import ModelLibrary

    plain = run("score", "--model", "lstm", "--memory", memory, str(tune_file))
    proc = run("score", "--pitch-only", "--per-tune", "--model", "lstm", "--memory", memory,
               str(tune_file))
    assert proc.returncode == 0, proc.stderr
    report, full = json.loads(proc.stdout), json.loads(plain.stdout)
    assert report["notes"] == full["notes"] == 11
    assert report["memory"] == full["memory"]
    assert report["pitch_bits_per_note"] == pytest.approx(report["pitch_bits"] / 11)
    assert report["pitch_bits"] < full["total_bits"]  # the rhythm is not paid for
    tune = report["files"][0]["tunes"][0]
    assert tune["pitch_bits"] == pytest.approx(report["pitch_bits"])
    model = ModelLibrary([SHIPPED]).get("lstm")
    song = load_song(tune_file)
    mixing = mixing_for(model.name).in_metre(song, 4) if memory == "on" else None
    bits, notes = score_pitches(model, model.encoding.song_to_tokens(song), mixing)
    assert notes == 11 and report["pitch_bits"] == pytest.approx(bits, rel=1e-9)


@needs_lstm
def test_pitch_only_refuses_what_it_does_not_score(tune_file):
    for extra in (["--fill", "1:2"], ["--style", str(tune_file.parent)]):
        proc = run("score", "--pitch-only", "--model", "lstm", *extra, str(tune_file))
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert "--pitch-only is not used with --fill or --style" in proc.stderr
