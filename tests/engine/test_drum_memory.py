"""The drum model's motif memory (engine/generation/drum_memory.py, the card's memory
section fitted by training/studies/drum_memory_sweep.py): its phase in the bar, its
figures with the shipped drums-lstm on a real mma groove, and the drum jobs using it
where settings.memory is on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.encodings import CONTINUE
from engine.formats import load_song
from engine.generation import jobs
from engine.generation.drum_memory import bar_period, drum_memory, seed_groove
from engine.generation.jobs.drums import drum_model_names
from engine.generation.memory import Mixing, mixing_for, score_tokens_with_memory
from engine.generation.request import GenerationRequest, GenerationSettings
from engine.models import ModelLibrary
from engine.song import Note

ROOT = Path(__file__).resolve().parents[2]
GROOVE = ROOT / "tests" / "data" / "drums" / "swing-tiny.mid"


@pytest.fixture(scope="module")
def library() -> ModelLibrary:
    lib = ModelLibrary([ROOT / "models"])
    if "drums-lstm" not in drum_model_names(lib):
        pytest.skip("no drums-lstm in models/")
    return lib


@pytest.fixture(scope="module")
def groove():
    return load_song(str(GROOVE))


def test_the_phase_keeps_every_bar_line_on_one_phase():
    assert bar_period(12, [0, 48, 96], 48) == 12
    assert bar_period(5040, [0, 48, 96], 48) == 48
    assert bar_period(5040, [0, 36, 72], 36) == 36
    assert bar_period(12, [0, 42], 42) == 6  # 7/8: a bar of 3.5 quarters
    assert bar_period(5040, [0, 48, 84], 36) == 12  # 4/4 then 3/4


def test_the_card_holds_the_fitted_drum_memory(library):
    mixing = mixing_for("drums-lstm")
    assert mixing.method == "adaptive" and mixing.phase_period == 12
    assert len(mixing.table) == Mixing.buckets_for(mixing.max_order)
    assert mixing.network_tokens == ()  # a rest is not left to the network alone


def test_the_memory_lowers_the_bits_of_a_repeating_groove(library, groove):
    """Four bars of mma's swing: from the second bar on the memory has heard the groove
    (about 23% fewer bits over the four bars)."""
    model = library.get("drums-lstm")
    tokens = model.encoding.song_to_tokens(groove)
    bits_off, steps, hits = model.score_tokens(tokens)
    mixing = mixing_for(model.name).in_metre(groove, 12)
    bits_on, steps_on, hits_on = score_tokens_with_memory(model, tokens, mixing)
    assert (steps_on, hits_on) == (steps, hits) and hits > 20
    assert bits_on < 0.85 * bits_off


def test_memory_off_builds_nothing(library):
    model = library.get("drums-lstm")
    off = GenerationSettings(model="drums-lstm", memory=False)
    assert drum_memory(model, off, 2, [0] * 48, 48, 96, [0, 48, 96], 48) is None
    on = GenerationSettings(model="drums-lstm", memory=True)
    groove = ([1] + [0] * 11) * 4
    mixer = drum_memory(model, on, 2, groove, 48, 96, [0, 48, 96], 48)
    assert mixer is not None and mixer.mixing.phase_period == 12
    # nothing heard but rests (Add Drums): no memory, which would keep the drums silent
    assert drum_memory(model, on, 2, [0] * 48, 48, 96, [0, 48, 96], 48) is None


def test_a_seed_that_ends_in_silence_keeps_its_groove_apart(library):
    """A seed whose drums stopped a bar ago: the memory's contexts do not start in that
    silence (which it would keep), yet it has heard the groove before it."""
    model = library.get("drums-lstm")
    on = GenerationSettings(model="drums-lstm", memory=True)
    prime = ([1] + [0] * 11) * 8 + [0] * 48
    mixer = drum_memory(model, on, 1, prime, len(prime), 48, [0, 48, 96, 144], 48)
    p = mixer.memory.distribution()[0]
    assert p[1] > 0.05  # the beat's hit, heard in the groove before the silence
    silent = drum_memory(model, on, 1, prime, len(prime), 48, [0, 48, 96, 144], 48,
                         heard=[0] * 12, heard_step=len(prime) + 48)
    assert silent.memory.distribution()[0][0] > 0.9  # joined to the silence: a rest


def _grid(model, notes, ppq: int, start: int, end: int) -> np.ndarray:
    """[steps, kit] of the drum ``notes`` between grid steps ``start`` and ``end``."""
    enc = model.encoding
    return enc.piece_levels[np.asarray(enc.encode_steps(notes, ppq, start, end).tokens)] > 0


def _js(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2) of two normalised histograms."""
    m = (p + q) / 2

    def kl(a):
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / m[nz])).sum())

    return float(np.sqrt(max(0.0, (kl(p) + kl(q)) / 2)))


def _places(grid: np.ndarray, bar: int) -> np.ndarray:
    """(kit piece, step of the bar) onset counts of a grid, normalised."""
    h = np.stack([grid[i:i + bar] for i in range(0, len(grid), bar)]).sum(axis=0).T.ravel()
    return h / max(1.0, h.sum())


def test_drums_continued_keep_the_seeds_groove_and_vary_it(library, groove):
    """mma's swing goes on with every part (memory on and off): each variation's new bars
    lie at most half as far (the bench's JS distance of the kit's onset places in the bar)
    from the seed's four bars as from a straight rock 8-beat;
    and the variations are not one bar copied: the seed's groove varies as it goes."""
    model = library.get("drums-lstm")
    ppq, bar = groove.ppq, 48
    drum = next(i for i, t in enumerate(groove.tracks) if t.is_drum)
    seed = _grid(model, groove.tracks[drum].notes, ppq, 0, 4 * bar)
    eighth = ppq // 2  # a straight 8-beat: kick on 1 and 3, snare on 2 and 4, eighth hats
    beat = [Note(36 if k % 4 == 0 else 38, k * eighth, 30, 100, 9) for k in range(0, 32, 2)]
    straight = _grid(model, beat + [Note(42, k * eighth, 30, 80, 9) for k in range(32)],
                     ppq, 0, 4 * bar)
    for memory in (True, False):
        settings = GenerationSettings(model="poly-lstm", bars=4, variations=4, rng_seed=5,
                                      memory=memory)
        result = jobs.run(library, groove, GenerationRequest(CONTINUE, settings, parts=True))
        assert len(result.drums) == 4 and all(result.drums)
        assert all(n.channel == 9 for d in result.drums for n in d)
        start = model.encoding.ceil_step(result.start_tick, ppq)
        news = [_grid(model, d, ppq, start, start + 4 * bar) for d in result.drums]
        for new in news:
            to_seed, to_other = _js(_places(new, bar), _places(seed, bar)), \
                _js(_places(new, bar), _places(straight, bar))
            print(f"memory {memory}: JS to the seed {to_seed:.3f}, to 8beat {to_other:.3f}")
            assert to_seed <= to_other / 2
        assert len({b.tobytes() for new in news for b in np.split(new, 4)}) > 4


def test_the_seeds_groove_is_its_pattern_with_what_varies_in_it():
    """seed_groove: a bar played four times is that bar; a hit played in two bars of
    four is played half the time; a two-bar groove keeps its two bars; the silence at a
    song's end is passed over; a seed of rests has no groove."""
    bar, hat, kick = 12, 3, 5
    one = [kick] + [0] * 5 + [hat] + [0] * 5
    groove = seed_groove(one * 4, 48, [0, 12, 24, 36, 48], bar, 8, share=0.9)
    assert groove.period == 48
    assert all(groove.at(48 + s)[one[s % bar]] == 1.0 for s in range(48))
    skipped = one * 2 + ([kick] + [0] * 11) * 2
    place = seed_groove(skipped, 48, [0, 12, 24, 36], bar, 8).at(48 + 6)
    assert 0.2 < place[hat] < 0.8 and place[hat] + place[0] == pytest.approx(1.0)
    two = one + [kick] * bar
    g = seed_groove(two * 2, 48, [0, 12, 24, 36], bar, 8)
    assert g.at(48)[kick] == 1.0 and g.at(48 + bar + 1)[kick] > 0.5  # the second bar's
    assert g.at(48 + 1)[kick] < 0.5  # not the second bar's in the first
    ended = seed_groove(one * 4 + [0] * 24, 72, [0, 12, 24, 36, 48, 60, 72], bar, 8)
    assert ended.at(72)[kick] == 1.0
    assert seed_groove([0] * 48, 48, [0, 12], bar, 8) is None
    z = np.zeros((2, 8))
    mixed = np.exp(groove(z, 48))
    assert mixed[:, kick] == pytest.approx(0.9 + 0.1 / 8) and mixed.sum() == pytest.approx(2)


def test_a_drum_fill_with_the_memory_hears_the_drums_after_the_gap(library, groove):
    from engine.encodings import FILL

    drum = next(i for i, t in enumerate(groove.tracks) if t.is_drum)
    bar = groove.ticks_per_bar_at(0)
    start, end = bar, 2 * bar
    settings = GenerationSettings(model="drums-lstm", variations=2, rng_seed=3, memory=True)
    result = jobs.run(library, groove, GenerationRequest(FILL, settings, drum, start, end))
    assert result.model == "drums-lstm"
    for notes in result.variations:
        assert notes and all(start <= n.start_tick < end for n in notes)
