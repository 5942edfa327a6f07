"""The drum style prior (engine/generation/drum_style.py): the shipped counts read over
the shipped drum model's tokens, what they say about real styles, how they join Add
Drums, and damaged files refused with a sentence."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from engine.encodings.drums import KIT, STYLES, bar_steps, positions_at, style_id
from engine.errors import ModelError
from engine.formats import load_song
from engine.generation import jobs
from engine.generation.drum_style import (PLACES, StylePrior, load_prior, places, prior_paths,
                                          style_prior, use_prior)
from engine.generation.jobs.drums import drum_model
from engine.generation.request import DRUMS, GenerationRequest, GenerationSettings
from tests.engine.drum_rig import ROOT, library  # noqa: F401

SEED = ROOT / "assets" / "default_seed.mid"


@pytest.fixture(scope="module")
def enc(library):
    return drum_model(library).encoding


@pytest.fixture(scope="module")
def prior(enc) -> StylePrior:
    found = load_prior(enc)
    assert found is not None, "models/drums/styles.json and .npz are shipped"
    return found


def _share(enc, lp: np.ndarray, place: int, piece: str) -> float:
    """The prior's probability that a token striking ``piece`` falls at ``place``."""
    strikes = enc.piece_levels[:, KIT.index(piece)] > 0
    return float(np.exp(lp[place])[strikes].sum())


def test_the_shipped_prior_reads_over_the_shipped_models_tokens(enc, prior) -> None:
    meta = json.loads(prior_paths()[0].read_text())
    assert meta["weight"] == prior.weight > 0
    assert "test grooves never read" in meta["counted_from"]
    for name in ("rock", "swing", "waltz", "jazz", "latin", "ska", "shuffle"):
        lp = prior.log_probabilities(style_id(name))
        assert lp.shape == (PLACES, enc.vocab_size) and np.isfinite(lp).all()
        assert np.allclose(np.exp(lp).sum(axis=1), 1.0)
    assert prior.log_probabilities(style_id("dance")) is None  # written only in test files
    assert style_prior(enc, 0) is None  # "other": the network alone


def _struck(enc, counts: np.ndarray, piece: str) -> np.ndarray:
    """[PLACES]: how often the counted grooves struck ``piece`` at each place."""
    return counts[:, enc.piece_levels[:, KIT.index(piece)] > 0].sum(axis=1)


def test_it_strikes_where_the_styles_grooves_strike(enc, prior) -> None:
    """Where a style's grooves strike a piece most, the prior does too; where they never
    struck it in their bar, it keeps a little probability."""
    for name, piece, bar in (("rock", "snare", 48), ("swing", "kick", 48),
                             ("jazz", "ride", 48), ("waltz", "kick", 36),
                             ("latin", "closed_hat", 48)):
        sid = style_id(name)
        lp = prior.log_probabilities(sid)
        counted = _struck(enc, prior.counts[sid], piece)[:bar]
        chance = np.array([_share(enc, lp, at, piece) for at in range(bar)])
        assert counted[chance.argmax()] == counted.max(), (name, piece)
        assert 0 < chance[counted == 0].min(), (name, piece)
        assert chance[counted == 0].max() < chance.max() / 10, (name, piece)


def test_places_are_the_networks_positions(enc) -> None:
    at = places(positions_at(0, 96, [0, 36], 36))  # a 3/4 bar after a bar of 36 steps
    assert at[:36].tolist() == list(range(36)) and at[36:72].tolist() == list(range(36))
    assert places(positions_at(0, 48, [], 48)).tolist() == list(range(48))


def test_add_drums_in_a_style_comes_nearer_the_styles_grooves(library, enc, prior) -> None:
    """Add Drums in four styles on the default seed, with the prior and without: with
    it, the drums' histograms of (piece, place in the bar) lie nearer (JS) to the ones
    of the styles' own grooves."""
    from training.drum_styles import js_distance

    song = load_song(str(SEED))
    kit = range(len(KIT))

    def histogram(counts: np.ndarray) -> np.ndarray:  # [PLACES, vocab] -> per piece
        return np.concatenate([counts[:, enc.piece_levels[:, p] > 0].sum(axis=1) for p in kit])

    def drummed(style: str, weight: float) -> np.ndarray:
        use_prior(prior.with_weight(weight))
        try:
            settings = GenerationSettings(model="drums-lstm", variations=8, rng_seed=5,
                                          memory=False, key=None)
            result = jobs.run(library, song, GenerationRequest(DRUMS, settings,
                                                               drum_style=style))
        finally:
            use_prior(None)
        bars = positions_at(0, len(result.tokens[0]), [0], bar_steps(song.meter_at(0)))
        counts = np.zeros((PLACES, enc.vocab_size))
        for row in result.tokens:
            np.add.at(counts, (places(bars), np.asarray(row)), 1)
        return histogram(counts)

    near = {True: [], False: []}
    for style in ("rock", "swing", "latin", "march"):
        own = histogram(prior.counts[style_id(style)])
        for on in near:
            near[on].append(js_distance(drummed(style, prior.weight if on else 0.0), own))
    assert sum(near[True]) < sum(near[False]), near


def test_a_damaged_prior_is_refused_with_a_sentence(enc, tmp_path) -> None:
    json_path, npz_path = prior_paths()
    shutil.copy(json_path, tmp_path / "styles.json")
    (tmp_path / "styles.npz").write_bytes(b"not an npz")
    with pytest.raises(ModelError, match="drum style prior .* cannot be read"):
        load_prior(enc, tmp_path)
    meta = json.loads(json_path.read_text())
    (tmp_path / "styles.json").write_text(json.dumps({**meta, "format": "something"}))
    shutil.copy(npz_path, tmp_path / "styles.npz")
    with pytest.raises(ModelError, match="not a drum style prior"):
        load_prior(enc, tmp_path)
    assert load_prior(enc, tmp_path / "nowhere") is None


def test_saved_and_read_back_the_counts_are_the_same(enc, prior, tmp_path) -> None:
    again = load_prior(enc, prior.save(tmp_path, enc)[0].parent)
    assert sorted(again.counts) == sorted(prior.counts)
    for s in prior.counts:
        assert np.array_equal(again.counts[s], prior.counts[s]), STYLES[s]
    assert again.weight == prior.weight
