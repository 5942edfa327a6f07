"""The motif memory's phrase copy (engine/generation/phrase.py): a gap's step's twin two,
four or eight bars away raises its token's probability, by how well their neighbourhoods
agree; the fill job and the gap's scoring use it, with the shipped fill models' fitted
boosts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.encodings.melody import HOLD, NOTE_OFF
from engine.errors import ModelError
from engine.generation import phrase
from engine.generation.fill import bar_steps_at, fill, score_gap
from engine.generation.generator import GenerationSettings
from engine.generation.memory import MemoryMixer, mixing_for, override_mixing
from engine.models import ModelLibrary
from engine.models.card import memory_section
from engine.song import melody_song

REPO = Path(__file__).resolve().parents[2]
BAR = 16  # steps in a 4/4 bar


@pytest.fixture(scope="module")
def library() -> ModelLibrary:
    return ModelLibrary([REPO / "models"])


def reference_twin(line: list[int], t: int, bar: int) -> tuple[int, int]:
    """The twin of step ``t`` of ``line`` (-1: unknown), written plainly: (its token,
    its bucket), or (-1, 0) when no twin is known.  Pairs of places that both hold
    HOLD are not counted."""
    n = len(line)
    best = None
    for bars in phrase.OFFSET_BARS:
        for sign in (-1, 1):
            o = sign * bars * bar
            if not 0 <= t + o < n or line[t + o] < 0:
                continue
            pairs = alike = 0
            for j in range(1, phrase.WINDOW + 1):
                for p in (t - j, t + j):
                    if 0 <= p < n and 0 <= p + o < n and line[p] >= 0 and line[p + o] >= 0 \
                            and (line[p], line[p + o]) != (HOLD, HOLD):
                        pairs += 1
                        alike += line[p] == line[p + o]
            agree = alike / pairs if pairs else 0.0
            if best is None or (agree, pairs) > best[0]:
                bucket = 0 if pairs < phrase.MIN_PAIRS else \
                    1 + min(phrase.BUCKETS - 1, int(agree * phrase.BUCKETS))
                best = ((agree, pairs), line[t + o], bucket)
    return (-1, 0) if best is None else (best[1], best[2])


def test_every_step_finds_the_twin_the_plain_reading_finds():
    """On random tunes with a random gap, bar and share of unknown steps, the twins the
    vectorised copy finds at each step of the gap (writing the true tokens as it goes)
    are those of a plain loop over the same rule (a closing NOTE_OFF unknown)."""
    rng = np.random.default_rng(3)
    for case in range(40):
        bar = int(rng.choice([6, 8, 12, 16]))
        motif = rng.integers(0, 6, size=2 * bar)
        tune = np.concatenate([motif if rng.random() < 0.6 else rng.integers(0, 6, 2 * bar)
                               for _ in range(int(rng.integers(4, 9)))]).tolist()
        start = int(rng.integers(1, len(tune) - 2))
        end = int(rng.integers(start + 1, len(tune)))
        heard = tune[end:]
        if rng.random() < 0.3:
            heard = heard[:int(rng.integers(0, len(heard) + 1))]
        twins = phrase.PhraseCopy(1, tune[:start], start, heard, end, end - start, bar,
                                  [0.0] * phrase.BOOSTS)
        line = tune[:start] + [-1] * (end - start) + heard
        if heard and heard[-1] == NOTE_OFF:  # a tune's closing NOTE_OFF: no twin
            line[-1] = -1
        for t in range(start, end):
            token, bucket = twins.twins()
            assert (int(token[0]), int(bucket[0])) == reference_twin(line, t, bar), (case, t)
            line[t] = tune[t]
            twins.update([tune[t]])


def test_the_twin_after_the_gap_raises_its_token():
    """A two-bar phrase said four times, the second time the gap: every step of the gap
    finds a twin after it agreeing fully (two bars on, then four once the gap's own
    steps are written), and the twin's token gets the last bucket's boost: its
    probability times exp(boost), the row renormalised."""
    a = [5, 0, 0, 0, 7, 0, 9, 0, 10, 0, 0, 0, 9, 0, 7, 0]
    b = [12, 0, 10, 0, 9, 0, 7, 0, 5, 0, 0, 0, 1, 0, 0, 0]
    tune = (a + b) * 4  # the gap is the second a, b
    table = np.linspace(0.0, 2.0, phrase.BOOSTS)
    twins = phrase.PhraseCopy(2, tune[:32], 32, tune[64:], 64, 32, BAR, table)
    for t in range(32, 64):
        token, boost = twins.boosts()
        assert token.tolist() == [tune[t]] * 2
        assert boost.tolist() == [2.0, 2.0]
        p = np.full((2, 13), 1 / 13)
        mixed = twins.mix(p)
        assert np.allclose(mixed.sum(axis=1), 1.0)
        assert mixed[0, tune[t]] == pytest.approx(np.exp(2.0) / (12 + np.exp(2.0)))
        assert np.array_equal(twins.mix(p, scale=0.0), p)  # the repeat control at 0
        # the sampler's way, in log space, gives the same distribution
        log_p = np.log(np.random.default_rng(t).dirichlet(np.ones(13), size=2))
        want = np.log(twins.mix(np.exp(log_p)))
        assert np.allclose(twins.mix_log(log_p.copy()), want, atol=1e-12)
        twins.update([tune[t], tune[t]])


def test_rows_go_their_own_ways_after_they_are_repeated():
    """A fill's candidates: each row hears its own tokens, so a row that wrote something
    else than the phrase finds its twin agreeing less."""
    a = [5, 0, 0, 0, 7, 0, 9, 0, 10, 0, 0, 0, 9, 0, 7, 0]
    tune = a * 6
    twins = phrase.PhraseCopy(1, tune[:32], 32, tune[64:], 64, 32, BAR,
                              np.linspace(0.0, 2.0, phrase.BOOSTS))
    twins.repeat_rows(2)
    for t in range(32, 48):
        twins.update([tune[t], 11])  # row 1 writes a note the tune never has
    _, boost = twins.boosts()
    assert boost[0] > boost[1]


def test_without_a_phrase_table_or_a_bar_the_memory_mixes_as_before(library):
    """A mixing with no phrase boosts, or a job that gives no bar (a continuation), mixes
    exactly as the memory alone; a card's phrase boosts outside -20..20 are refused."""
    model = library.get("transformer-fill")
    mixing = mixing_for(model.name)
    assert len(mixing.phrase) == phrase.BOOSTS  # the shipped card has its boosts
    prefix = [5, 0, 7, 0, 9, 0, 1, 0] * 4
    logits = np.random.default_rng(0).normal(size=(3, model.encoding.vocab_size))
    plain = MemoryMixer(model.encoding.vocab_size, 3, prefix, mixing, heard=prefix,
                        start_step=32, heard_step=48)
    no_table = MemoryMixer(model.encoding.vocab_size, 3, prefix, replace(mixing, phrase=()),
                           heard=prefix, start_step=32, heard_step=48, bar_steps=BAR)
    with_bar = MemoryMixer(model.encoding.vocab_size, 3, prefix, mixing, heard=prefix,
                           start_step=32, heard_step=48, bar_steps=BAR)
    assert plain.phrase is None and no_table.phrase is None and with_bar.phrase is not None
    assert np.array_equal(plain(logits), no_table(logits))
    assert not np.allclose(plain(logits), with_bar(logits))
    section = {"method": "linear", "max_order": 4, "phrase": [0.5] * 20 + [25.0]}
    with pytest.raises(ModelError, match="phrase"):
        memory_section(section, "a card")


def returning_tune():
    """Eight bars of 4/4, the phrase of bars 1-2 coming back in bars 5-6: (song, tokens
    of lstm-fill's grid)."""
    a = [67, 67, 69, 71, 72, 71, 69, 67]
    b = [65, 64, 62, 64, 67, 60]
    c = [69, 71, 72, 74, 76, 74, 72, 71]
    d = [69, 67, 65, 64, 62, 60]
    tokens = []
    for group in (a, b, c, d, a, b, c, d):
        lengths = [2] * 8 if len(group) == 8 else [4, 2, 2, 2, 2, 4]
        for p, n in zip(group, lengths):
            tokens += [2 + p - 48] + [0] * (n - 1)
    tokens += [1]
    return tokens


def test_a_phrase_that_comes_back_after_the_gap_is_scored_likelier(library):
    """Bars 5-6 say bars 1-2 again: scored given both sides, with the song's bars, the
    phrase copy gives them far fewer bits than the memory without it, for every shipped
    fill model."""
    tokens = returning_tune()
    for name in ("lstm-fill", "wavenet-fill", "transformer-fill"):
        model = library.get(name)
        notes = model.encoding.decode(tokens[:-1], 480, 0, 0)
        song = melody_song(notes, bpm=100)
        assert bar_steps_at(song, 4 * 1920, model.encoding) == BAR
        gap = (4 * BAR, 6 * BAR)
        got = score_gap(model, tokens, *gap, memory=True, song=song, gap_tick=4 * 1920)
        override_mixing(name, replace(mixing_for(name), phrase=()))
        try:
            without = score_gap(model, tokens, *gap, memory=True, song=song,
                                gap_tick=4 * 1920)
        finally:
            override_mixing(name, None)
        assert got[1:] == without[1:]
        assert got[0] < 0.8 * without[0], name


def test_fills_bring_the_phrase_back_more_often(library):
    """Filling bars 5-6 of that tune (the notes there taken out), with the memory on:
    more of the fills' notes are bars 1-2's own, in place, with the phrase copy than
    without it."""
    model = library.get("transformer-fill")
    tokens = returning_tune()
    notes = model.encoding.decode(tokens[:-1], 480, 0, 0)
    song = melody_song([n for n in notes if not 4 * 1920 <= n.start_tick < 6 * 1920],
                       bpm=100)
    first = {(n.start_tick, n.pitch) for n in notes if n.start_tick < 2 * 1920}

    def in_place():
        settings = GenerationSettings(model="transformer-fill", variations=8, rng_seed=4,
                                      key=None, memory=True)
        result = fill(library, song, settings, start_tick=4 * 1920, end_tick=6 * 1920)
        return sum((n.start_tick - 4 * 1920, n.pitch) in first
                   for v in result.variations for n in v)

    with_copy = in_place()
    override_mixing("transformer-fill",
                    replace(mixing_for("transformer-fill"), phrase=()))
    try:
        without = in_place()
    finally:
        override_mixing("transformer-fill", None)
    assert with_copy > without
