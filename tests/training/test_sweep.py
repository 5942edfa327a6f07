"""Choosing sizes on validation: the sweep's parser and its Keras scorer."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ContinuoError
from training.scoring import keras_bits_per_note, score_onnx
from training.studies.sweep import parse_size, sweep_markdown


def test_sizes_are_key_value_pairs_over_the_defaults():
    base = {"architecture": "lstm", "units": [256, 256], "dropout": 0.2, "embed_dim": 64}
    hp, options = parse_size("units=384,384 dropout=0.3 transpose=2", base)
    assert hp == {"architecture": "lstm", "units": [384, 384], "dropout": 0.3, "embed_dim": 64}
    assert options == {"transpose": 2}
    assert base["units"] == [256, 256]  # the defaults are not touched
    with pytest.raises(ContinuoError, match="unknown setting 'colour'"):
        parse_size("colour=blue", base)
    with pytest.raises(ContinuoError, match="bad value for units"):
        parse_size("units=many", base)
    with pytest.raises(ContinuoError, match="not key=value"):
        parse_size("units", base)


@pytest.mark.parametrize("name", ["lstm", "wavenet"])
def test_the_keras_score_is_the_onnx_score(tiny_models_dir, name):
    """Batched, padded Keras scoring gives the figures of the exported sequence model."""
    from training.models import load_keras_model

    model = load_keras_model(tiny_models_dir / f"{name}.json")
    rng = np.random.default_rng(11)
    tunes = [rng.integers(0, 38, n).astype(np.int8) for n in (3, 40, 41, 77, 150)]
    got = keras_bits_per_note(model, tunes, batch_size=2)
    want = score_onnx(tiny_models_dir / f"{name}.seq.onnx", tunes)
    assert got["notes"] == want["notes"] and got["tokens"] == want["tokens"]
    assert got["bits_per_note"] == pytest.approx(want["bits_per_note"], abs=1e-3)
    assert got["accuracy"] == pytest.approx(want["accuracy"], abs=1e-4)


def test_the_table_marks_the_best_size():
    report = {"command": "python -m training sweep ...", "epochs": 4, "training_tunes": 2500,
              "validation_tunes": 442, "best": "units=256,256",
              "rows": [{"size": "units=128,128", "parameters": 10,
                        "validation_bits_per_note": 3.9, "validation_accuracy": 0.7,
                        "wall_time_s": 60},
                       {"size": "units=256,256", "parameters": 20,
                        "validation_bits_per_note": 3.8, "validation_accuracy": 0.71,
                        "wall_time_s": 120}]}
    table = sweep_markdown(report)
    assert "| `units=256,256` (best) | 20 | 3.800 |" in table
    assert "| `units=128,128` | 10 | 3.900 |" in table


def test_transposition_moves_only_notes_and_stays_in_range():
    from engine.encodings import DEFAULT_ENCODING
    from engine.encodings.melody import FIRST_NOTE_ON
    from training.train import transposed

    rng = np.random.default_rng(1)
    tune = np.array([FIRST_NOTE_ON + 1, 0, 1, FIRST_NOTE_ON + 34, 0, 1], np.int8)
    shifts = set()
    for _ in range(200):
        out = transposed(tune, rng, 3, DEFAULT_ENCODING)
        assert out.dtype == tune.dtype
        assert list(out[[1, 2, 4, 5]]) == [0, 1, 0, 1]  # HOLD and NOTE_OFF stay
        shift = int(out[0]) - int(tune[0])
        assert int(out[3]) - int(tune[3]) == shift
        assert FIRST_NOTE_ON <= out[out >= FIRST_NOTE_ON].min() and out.max() <= 37
        shifts.add(shift)
    assert shifts == {-1, 0, 1}  # the range leaves one semitone down and one up
    assert (transposed(tune, rng, 0, DEFAULT_ENCODING) == tune).all()
