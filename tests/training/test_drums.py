"""Drum models: the shipped drums-lstm (its card, its conditioning inputs, the step and
sequence graphs agreeing, the style heard), the grooves corpus's split and rendering
(where Debian's mma is installed), and training's whole path on a tiny model: the
vocabulary, the windows, a few optimiser steps, the export the engine reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.encodings.drums import STYLES, DrumEncoding, style_id
from engine.formats.midi import midi_file_to_song
from engine.models import ModelLibrary
from training.datasets import grooves as G

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "drums" / "swing-tiny.mid"


@pytest.fixture(scope="module")
def shipped() -> ModelLibrary:
    library = ModelLibrary([ROOT / "models"])
    assert not [p for p in library.problems if "drums" in str(p)]
    return library


def test_the_shipped_card_declares_its_inputs_data_and_figures(shipped) -> None:
    info = shipped.info("drums-lstm")
    assert isinstance(info.encoding, DrumEncoding)
    assert [(c.input, c.shape, c.dtype) for c in info.conditioning] == [
        ("style", (1,), "int32"), ("position", (20,), "float32"), ("onsets", (2,), "float32")]
    card = json.loads((ROOT / "models" / "drums-lstm.json").read_text())
    assert "GPL-2+" in card["data"]["licence"]
    test = card["metrics"]["test"]
    assert test["bits_per_note"] == test["bits_per_hit"] == info.bits_per_note
    assert card["metrics"]["kneser_ney"]["test"]["bits_per_hit"] > 0


def test_stepping_and_the_sequence_graph_agree_on_a_real_groove(shipped) -> None:
    model = shipped.get("drums-lstm")
    enc = model.info.encoding
    enc.context.style = style_id("swing")
    tokens = np.array(enc.song_to_tokens(midi_file_to_song(FIXTURE))[:60], dtype=np.int32)
    whole = model.sequence_logits(tokens[None])[0]
    _, state = model.prime([], 1)
    stepped = np.stack([model.step(tokens[t:t + 1], state)[0] for t in range(len(tokens))])
    model.release(state)
    enc.context.style = 0
    assert np.abs(whole - stepped).max() <= 1e-3


def test_the_style_and_the_other_parts_change_what_it_expects(shipped) -> None:
    model = shipped.get("drums-lstm")
    enc = model.info.encoding
    song = midi_file_to_song(FIXTURE)
    logits = {}
    for style in ("swing", "rock"):
        enc.context.style = style_id(style)
        tokens = enc.song_to_tokens(song)
        logits[style] = model.sequence_logits(np.array(tokens, np.int32)[None])[0]
    enc.context.onsets = np.zeros_like(enc.context.onsets)
    alone = model.sequence_logits(np.array(tokens, np.int32)[None])[0]
    enc.context.style = 0
    assert np.abs(logits["swing"] - logits["rock"]).max() > 1e-2
    assert np.abs(alone - logits["rock"]).max() > 1e-2


def test_every_groove_file_has_a_family_and_one_split() -> None:
    assert set(G.FAMILIES) <= set(STYLES)
    if not G.MMA_LIBRARY.is_dir():
        pytest.skip("mma's groove library is not installed")
    grooves = G.library_grooves()
    assert len(grooves) > 400
    splits: dict[str, set[str]] = {}
    for g in grooves:
        splits.setdefault(g.file, set()).add(g.split)
        assert not G.SAME_DRUMS.search(g.name)
    assert all(len(s) == 1 for s in splits.values())
    assert {s for v in splits.values() for s in v} == {"train", "validation", "test"}


@pytest.mark.skipif(shutil.which("mma") is None, reason="Debian's mma is not installed")
def test_mma_renders_a_groove_with_drums_bass_and_chords(tmp_path) -> None:
    groove = G.Groove("Swing", "swing", "swing", "test", 4, 0, 120)
    assert G.render(groove, tmp_path) is None
    song = midi_file_to_song(tmp_path / groove.midi_name)
    assert len(DrumEncoding().song_to_tokens(song)) == 4 * 48
    assert {t.name.split("-")[0] for t in song.tracks if t.notes} >= {"Drum", "Bass", "Chord"}


def test_training_exports_a_model_the_engine_reads(tmp_path) -> None:
    from training import drums as D
    from training.architectures import get

    song = midi_file_to_song(FIXTURE)
    enc = D.build_vocabulary([song])
    assert enc.combos[0] == () and enc.vocab_size > 3 * 17
    ex = D.example(song, enc, "Swing", "swing")
    assert ex.tokens.shape == (4 * 48,) and ex.position.shape == (4 * 48, 20)
    assert (ex.style == style_id("swing")).all() and ex.onsets.sum() > 0
    w = D.windows([ex], np.random.default_rng(0), length=96)
    assert w["tokens"].shape == w["targets"].shape == (3, 96)
    assert w["weights"][-1].sum() == 4 * 48 - 1 - 2 * 48  # the last window is padded
    hp = get(D.NAME).hyperparameters(enc.vocab_size, units=[8], embed_dim=4, style_dim=2)
    model = get(D.NAME).build(hp)
    result = D.train_model(model, [ex], [ex], minutes=0.001, say=lambda s: None)
    assert result["epochs"] == 1
    D.export(model, hp, enc, tmp_path, "tiny-drums")
    library = ModelLibrary([tmp_path])
    assert library.problems == []
    step_model = library.get("tiny-drums")
    bits = D.model_bits(step_model, step_model.info.encoding, [("Swing", "swing", song)], True)
    assert bits["hits"] == enc.count_onsets(ex.tokens[1:]) and bits["bits_per_hit"] > 0


def test_calibration_scales_the_exported_logits_to_the_validation_best(tmp_path) -> None:
    """Temperature scaling baked into both graphs: after it, the model scores the
    validation song (style unknown) at the bits the chosen temperature promised."""
    from training import drums as D
    from training.architectures import get

    song = midi_file_to_song(FIXTURE)
    enc = D.build_vocabulary([song])
    ex = D.example(song, enc, "Swing", "swing")
    hp = get(D.NAME).hyperparameters(enc.vocab_size, units=[8], embed_dim=4, style_dim=2)
    model = get(D.NAME).build(hp)
    D.train_model(model, [ex], [ex], minutes=0.001, say=lambda s: None)
    model.get_layer("logits").set_weights([w * 3 for w in model.get_layer("logits").get_weights()])
    D.export(model, hp, enc, tmp_path, D.NAME)  # far too sure of itself
    best = D.calibrate(tmp_path, {"validation": [(None, song)]}, say=lambda s: None)
    card = json.loads((tmp_path / f"{D.NAME}.json").read_text())
    assert best == card["calibration"]["temperature"] > 1.0
    library = ModelLibrary([tmp_path])
    assert library.problems == []  # the hashes follow the rescaled files
    step_model = library.get(D.NAME)
    bits = D.model_bits(step_model, step_model.info.encoding, [("", "", song)], False)
    assert bits["bits_per_hit"] == pytest.approx(
        card["calibration"]["validation_bits_per_hit"][str(best)], abs=2e-3)
