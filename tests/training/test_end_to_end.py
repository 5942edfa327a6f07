"""corpus -> train -> export -> parity, tiny and real, through the command line."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from engine.formats import song_to_midi_file
from engine.song import Note, melody_song
from engine.models import sha256_file
from training import corpus as C
from training.cli import main
from training.export import step_onnx


def _write_tunes(folder, n=16):
    """Scale-wise random melodies, named so that the split has every part."""
    rng = np.random.default_rng(5)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    names, k = [], 0
    while len(names) < n or not {"test", "validation"} <= {C.split_of(x) for x in names}:
        name = f"tune{k:03d}.mid"
        k += 1
        if len(names) >= n and C.split_of(name) == "train":
            continue
        notes, t = [], 0
        for _ in range(24):
            length = int(rng.choice([1, 2, 2, 4]))
            notes.append(Note(int(rng.choice(scale)), t * 120, length * 120))
            t += length
        song_to_midi_file(melody_song(notes), folder / name)
        names.append(name)
    return names


@pytest.mark.parametrize("model, sizes", [
    ("lstm", ["--embed", "4", "--units", "8"]),
    ("wavenet", ["--embed", "4", "--channels", "4", "--skip-channels", "4",
                 "--dilations", "1", "2", "4", "8", "16"]),
])
def test_tiny_end_to_end(tmp_path, model, sizes):
    midi = tmp_path / "my_tunes"
    midi.mkdir()
    names = _write_tunes(midi)
    cache, out = tmp_path / "cache", tmp_path / "models"
    assert main(["corpus", "--midi-dir", str(midi), "--cache-dir", str(cache),
                 "--processes", "1"]) == 0
    corpus = C.load_corpus("midi:my_tunes", cache)
    assert sorted(corpus.ids) == sorted(names)
    assert main(["train", "--model", model, *sizes, "--corpus", "midi:my_tunes",
                 "--epochs", "1", "--batch-size", "8", "--cache-dir", str(cache),
                 "--out-dir", str(out), "--checkpoint-dir", str(tmp_path / "ckpt"),
                 "--no-eval"]) == 0
    card = json.loads((out / f"{model}.json").read_text())
    assert card["training"]["epochs"] == 1 and card["training"]["command"].startswith(
        "python -m training train --model " + model)
    assert card["data"]["tunes"] == corpus.counts()
    assert (tmp_path / "ckpt" / f"{model}.weights.h5").exists()
    for f, digest in card["sha256"].items():
        assert sha256_file(out / f) == digest

    from training.models import load_keras_model

    keras_model = load_keras_model(out / f"{model}.json")
    tokens = np.stack([corpus.tunes[0][:40], corpus.tunes[1][:40]]).astype(np.int32)
    ref = np.asarray(keras_model(tokens, training=False))
    step = ort.InferenceSession(str(out / card["files"]["step"]))
    assert np.abs(step_onnx(step, card, tokens) - ref).max() <= 1e-4
    seq = ort.InferenceSession(str(out / card["files"]["sequence"]))
    assert np.abs(seq.run(["logits"], {"tokens": tokens})[0] - ref).max() <= 1e-4

    if model == "lstm":  # going on from the card: same sizes, its weights, one story
        assert main(["train", "--model", model, "--resume", str(out / f"{model}.json"),
                     "--corpus", "midi:my_tunes", "--epochs", "1", "--batch-size", "8",
                     "--cache-dir", str(cache), "--out-dir", str(out),
                     "--checkpoint-dir", str(tmp_path / "ckpt"), "--no-eval"]) == 0
        resumed = json.loads((out / f"{model}.json").read_text())
        assert resumed["hyperparameters"] == card["hyperparameters"]
        assert resumed["training"]["epochs"] == 2 and len(resumed["training"]["stages"]) == 2
        assert " && " in resumed["training"]["command"]
        assert resumed["sha256"] != card["sha256"]  # the weights moved on


def test_weight_averaging_keeps_the_best_averaged_weights():
    """``--average``: the logged val_loss is the averaged weights' loss, and the model
    returned holds the best averaged weights, not the last training weights."""
    import keras

    from training.train import padded_dataset, train_model

    rng = np.random.default_rng(9)
    tunes = [rng.integers(2, 12, 48).astype(np.int8) for _ in range(40)]
    hp = {"architecture": "lstm", "vocab_size": 38, "embed_dim": 4, "units": [8],
          "dense_hidden": 0, "dropout": 0.0}
    result = train_model(hp, tunes[:32], tunes[32:], epochs=3, batch_size=4, max_len=64,
                         learning_rate=1e-2, patience=5, max_minutes=5, average=True,
                         verbose=0)
    averaged = result.history["val_loss"]
    raw = result.history["val_loss_training_weights"]
    assert len(averaged) == 3 and averaged != raw
    val, _ = padded_dataset(tunes[32:], 64, 64, 0, shuffle=False)
    got = result.model.evaluate(val, verbose=0, return_dict=True)["loss"]
    assert got == pytest.approx(min(averaged), rel=1e-4)
