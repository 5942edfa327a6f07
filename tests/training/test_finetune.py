"""python -m training finetune: the shipped LSTM fine-tuned for one short epoch on a tiny
folder of real tunes, listed by a model library over the output folder and generating
through the engine; an empty folder and an ensemble refused with a clear message."""

from __future__ import annotations

import json
import sys

import pytest

from engine.generation.generator import GenerationSettings, generate
from engine.models import ModelLibrary

pytest.importorskip("tensorflow")

from training.cli import main  # noqa: E402
from training.finetune import held_out_names  # noqa: E402

# four traditional tunes (public domain), one ABC file; a fifth file that is no music
TUNES_ABC = """X:1
T:Frere Jacques
M:4/4
L:1/4
K:C
CDEC | CDEC | EFG2 | EFG2 | G/A/G/F/ EC | G/A/G/F/ EC | CG,C2 | CG,C2 |]

X:2
T:Ode to Joy
M:4/4
L:1/4
K:D
FFGA | AGFE | DDEF | F>E E2 | FFGA | AGFE | DDEF | E>D D2 |]

X:3
T:Twinkle Twinkle
M:4/4
L:1/4
K:G
GGdd | eed2 | ccBB | AAG2 | ddcc | BBA2 | ddcc | BBA2 |]

X:4
T:The Kesh
M:6/8
L:1/8
K:G
GAG GAB | ABA ABd | edd gdd | edB dBA | GAG GAB | ABA ABd | edd gdB | AGF G3 |]
"""


def test_a_fine_tuned_lstm_is_listed_and_generates(tmp_path, capsys):
    data, out = tmp_path / "my tunes", tmp_path / "models"
    data.mkdir()
    (data / "set.abc").write_text(TUNES_ABC)
    (data / "broken.mid").write_bytes(b"not a MIDI file")
    assert main(["finetune", "--from", "lstm", "--data", str(data), "--out", str(out),
                 "--epochs", "1", "--max-len", "64", "--batch-size", "4"]) == 0
    log = capsys.readouterr().err
    assert "skipped broken.mid" in log and "held out before fine-tuning" in log
    assert "epoch 1: held out" in log
    library = ModelLibrary([out])
    assert library.problems == [] and library.names == ["lstm-my-tunes"]
    card = json.loads((out / "lstm-my-tunes.json").read_text())
    assert card["jobs"] == ["continue"] and card["data"]["tunes"]["validation"] == 1
    assert card["data"]["fine_tuned_from"]["model"] == "lstm"
    held = card["metrics"]["held_out"]
    assert held["tunes"] == 1 and held["bits_per_note"] <= held["bits_per_note_before"]
    result = generate(library, None, GenerationSettings(model="lstm-my-tunes", bars=2))
    assert result.variations[0]


def test_empty_folder_ensemble_and_no_tensorflow_are_refused(tmp_path, capsys, monkeypatch):
    (tmp_path / "notes.txt").write_text("no music here")
    assert main(["finetune", "--from", "lstm", "--data", str(tmp_path),
                 "--out", str(tmp_path / "models")]) == 2
    assert "no music to learn from" in capsys.readouterr().err
    assert main(["finetune", "--from", "duet", "--data", str(tmp_path)]) == 2
    assert "fine-tune its parts (--from lstm, --from wavenet)" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as if it were not installed
    assert main(["finetune", "--from", "lstm", "--data", str(tmp_path)]) == 2
    assert "install the train extra" in capsys.readouterr().err


def test_a_tenth_is_held_out_the_same_way_every_time():
    names = [f"tune{i}.mid" for i in range(25)]
    held = held_out_names(names)
    assert len(held) == 2 and held == held_out_names(list(reversed(names)))
    assert len(held_out_names(names[:3])) == 1
