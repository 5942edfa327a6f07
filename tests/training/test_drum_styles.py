"""The drum style prior's training side (training/drum_styles.py) on a real mma groove:
counting its hit sets by place, the bits a weight costs agreeing with the network's own
at weight 0, and the style-fidelity measure bench/drums.py reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.encodings.drums import STYLES, is_drum_track, style_id
from engine.formats.midi import midi_file_to_song
from engine.generation.drum_style import PLACES, StylePrior, use_prior
from engine.models import ModelLibrary
from training import drum_styles as DS
from training.drums import model_bits

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "drums" / "swing-tiny.mid"


@pytest.fixture(scope="module")
def library() -> ModelLibrary:
    return ModelLibrary([ROOT / "models"])


@pytest.fixture(scope="module")
def groove():
    """Four bars of mma's swing: drums, two chord tracks and a bass."""
    return midi_file_to_song(FIXTURE)


def test_a_grooves_hits_are_counted_at_their_places(library, groove) -> None:
    enc = library.get(DS.MODEL).info.encoding
    counts = DS.style_counts(enc, [("swing", groove)])
    assert list(counts) == [style_id("swing")]
    c = counts[style_id("swing")]
    tokens, where = DS.groove_tokens(enc, groove, "swing")
    assert c.shape == (PLACES, enc.vocab_size) and c.sum() == len(tokens)
    assert where.max() < 48 and (where[:48] == np.arange(48)).all()  # 4/4 from a bar line
    for t, at in zip(tokens[:96], where[:96]):
        assert c[at, t] > 0


def test_weight_0_costs_the_networks_own_bits(library, groove) -> None:
    model = library.get(DS.MODEL)
    prior = StylePrior(DS.style_counts(model.info.encoding, [("swing", groove)]), 1.0, {})
    bits = DS.weight_bits(model, prior, [("swing", groove)], weights=(0.0, 1.0))
    own = model_bits(model, model.info.encoding, [("", "swing", groove)], style_known=True)
    assert bits[0.0] == pytest.approx(own["bits_per_hit"], abs=1e-3)
    # the groove's own counts, guiding: its own hits likelier
    assert bits[1.0] < bits[0.0]


def test_the_fidelity_measure_names_each_styles_nearest(library, groove) -> None:
    """Add Drums over the groove's own parts in swing, guided by the groove's counts:
    its drums lie nearer the groove's histogram than to the same histogram moved an
    eighth note later."""
    enc = library.get(DS.MODEL).info.encoding
    counts = DS.style_counts(enc, [("swing", groove)])
    drums = [n for t in groove.tracks if is_drum_track(t) for n in t.notes]
    real = DS.signature([(DS.hit_matrix(enc, drums, groove.ppq, 0, 192), 48)])
    late = np.roll(real.reshape(-1, DS.BAR), 6, axis=1).ravel()
    references = {"swing": (real, 48), "late": (late, 48)}
    use_prior(StylePrior(counts, 1.0, {}))
    try:
        sigs = DS.drummed(library, [groove], {"swing": 48})
    finally:
        use_prior(None)
    assert sigs["swing"].shape == real.shape and sigs["swing"].sum() > 0
    got = DS.nearest_styles(sigs, references)
    assert got["styles"]["swing"]["nearest"] == "swing"
    assert got["nearest_own"] == 1 and got["share_nearest_own"] == 1.0
    assert got["mean_margin"] > 0, got
    assert set(STYLES) >= set(got["styles"])
