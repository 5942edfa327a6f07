"""A Transformer's sequence graph is run in pieces on a long input, each with its receptive
field before it, and primed from the tokens its states depend on alone: the same logits
and states as one call over everything, for a cost linear in length (one call costs
memory by the square of the length: a motet of 24,000 tokens asked about 9 GB a layer).

Real models, real music: the shipped chorale Transformer on Bach's BWV 66.6 from
music21's corpus, played three times over."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.models import ModelLibrary
from engine.models import step_model as S

PIECE = 1024  # smaller pieces than the app's, so that a short input needs several


@pytest.fixture(scope="module")
def model():
    library = ModelLibrary()
    if "chorale-transformer" not in library.names:
        pytest.skip("the chorale Transformer is not installed")
    return library.get("chorale-transformer")


@pytest.fixture(scope="module")
def tokens(model):
    from music21 import common

    from engine.formats.scores import score_file_to_song

    song = score_file_to_song(Path(common.getCorpusFilePath()) / "bach" / "bwv66.6.mxl")
    one = model.encoding.song_to_tokens(song)
    out = np.array(one * 4, dtype=np.int32)
    context = S.attention_context(model.info.card)
    assert context and len(out) > PIECE + context + 500, len(out)
    return out


def test_only_attending_models_with_a_bounded_reach_run_in_pieces():
    library = ModelLibrary()
    for name in library.names:
        info = library.get(name).info
        reach = S.attention_context(info.card)
        hp = info.card.get("hyperparameters") or {}
        members = [m.get("architecture") for m in hp.get("member_hyperparameters") or ()]
        attends = "transformer" in (info.architecture, *members)
        assert (reach is not None) == (attends and bool(info.receptive_field_steps)), name
        if reach is not None:
            assert reach == info.receptive_field_steps


def test_logits_in_pieces_are_one_calls_logits(model, tokens, monkeypatch):
    whole = model._sequence_run(tokens[None, :], 0)  # one call over everything
    monkeypatch.setattr(S, "SEQUENCE_PIECE", PIECE)
    pieces = model.sequence_logits(tokens[None, :])
    assert pieces.shape == whole.shape
    np.testing.assert_allclose(pieces, whole, atol=2e-4, rtol=0)
    # a piece that ignored the context before it would be far off at its start
    cut = model._sequence_run(tokens[None, PIECE:], 0)
    assert np.abs(cut[0, :50] - whole[0, PIECE:PIECE + 50]).max() > 0.1


def test_a_long_seed_primes_the_same_state_from_its_tail(model, tokens):
    logits, state = model.prime(tokens.tolist(), batch=2)
    try:
        # the whole seed through the sequence graph at once, states placed as prime
        # places them: what priming did before it fed the tail alone
        info = model.info
        results = model._sequence_session().run(
            [info.sequence_output, *info.sequence_state_outputs],
            {info.sequence_input: tokens[None, :]})
        np.testing.assert_allclose(logits[0], results[0][0, -1], atol=2e-4, rtol=0)
        n = len(tokens)
        assert state.t == n
        for spec, buffer, tail in zip(info.states, state.buffers, results[1:]):
            steps = np.arange(n - spec.delay, n)
            np.testing.assert_allclose(buffer[steps % len(buffer)][:, 0], tail[0],
                                       atol=2e-4, rtol=0)
        # and the next step from that state is the step after the whole seed
        nxt = model.step(np.array([tokens[0]] * 2, dtype=np.int32), state)
        again = model._sequence_run(np.append(tokens, tokens[0])[None, :], 0)[0, -1]
        np.testing.assert_allclose(nxt[1], again, atol=2e-4, rtol=0)
    finally:
        model.release(state)
