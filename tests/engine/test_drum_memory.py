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
from engine.generation.drum_memory import bar_period, drum_memory
from engine.generation.jobs.drums import drum_model_names
from engine.generation.memory import Mixing, mixing_for, score_tokens_with_memory
from engine.generation.request import GenerationRequest, GenerationSettings
from engine.models import ModelLibrary

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


def _bars_repeated(song, notes, bar: int) -> int:
    start = min(n.start_tick for n in notes)
    bars: dict[int, set] = {}
    for n in notes:
        bars.setdefault((n.start_tick - start) // bar, set()).add(((n.start_tick - start) % bar,
                                                                   n.pitch))
    seen, count = [], 0
    for b in sorted(bars):
        count += bars[b] in seen
        seen.append(bars[b])
    return count


def _histogram(notes, start: int, end: int, bar: int) -> np.ndarray:
    """(pitch, place in the bar) counts of the notes in [start, end), normalised."""
    h = np.zeros((128, bar))
    for n in notes:
        if start <= n.start_tick < end:
            h[n.pitch, (n.start_tick - start) % bar] += 1
    return h.ravel() / max(1.0, h.sum())


def _js(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2

    def kl(a):
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / m[nz])).sum())

    return float(np.sqrt(max(0.0, (kl(p) + kl(q)) / 2)))


def test_drums_continued_with_the_memory_keep_the_seeds_groove(library, groove):
    """With the memory on, the new drum bars lie nearer (JS distance of their pitch and
    place-in-the-bar histogram) to the seed's last bars than with it off, and bars come
    back (with the memory the job adds less groove memory of its own, so that they do
    not come back every time: jobs.drums.GROOVE_MEMORY_WITH_MEMORY)."""
    bar = groove.ticks_per_bar_at(0)
    drum = [i for i, t in enumerate(groove.tracks) if t.is_drum][0]
    seed = _histogram(groove.tracks[drum].notes, 0, 4 * bar, bar)

    def run(memory: bool) -> tuple[float, int]:
        settings = GenerationSettings(model="poly-lstm", bars=4, variations=4, rng_seed=5,
                                      memory=memory)
        result = jobs.run(library, groove, GenerationRequest(CONTINUE, settings, parts=True))
        assert len(result.drums) == 4 and all(result.drums)
        assert all(n.channel == 9 for d in result.drums for n in d)
        start = result.start_tick
        js = [_js(_histogram(d, start, start + 4 * bar, bar), seed) for d in result.drums]
        return float(np.mean(js)), sum(_bars_repeated(groove, d, bar) for d in result.drums)

    js_on, repeats_on = run(True)
    js_off, repeats_off = run(False)
    print(f"JS on {js_on:.3f} off {js_off:.3f}; repeats on {repeats_on} off {repeats_off}")
    assert js_on < js_off and repeats_on > 0


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
