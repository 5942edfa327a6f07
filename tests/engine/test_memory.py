"""The motif memory (engine/generation/memory.py): the online n-gram against a brute
force Witten-Bell, and, on the shipped models with real onnxruntime, what it does to
generation and scoring.  Memory off is byte-identical to the network alone: that is
tests/engine/test_golden.py, which runs every command with ``--memory off``."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.encodings import DEFAULT_ENCODING
from engine.errors import GenerationError
from engine.generation.generator import GenerationSettings, generate
from engine.generation.memory import (MemoryMixer, Mixing, MotifMemory, memory_distributions,
                                      mix, mixing_for, score_tokens_with_memory, softmax)
from engine.models import ModelLibrary
from engine.song import Note, melody_song

ROOT = Path(__file__).resolve().parents[2]
V = DEFAULT_ENCODING.vocab_size


def witten_bell(history: list[int], vocab: int, max_order: int) -> np.ndarray:
    """Interpolated Witten-Bell from the counts of the whole history, the slow way."""
    p = np.full(vocab, 1.0 / vocab)
    for n in range(max_order + 1):
        if n > len(history):
            break
        context = tuple(history[len(history) - n:])
        c = np.zeros(vocab)
        for i in range(n, len(history)):
            if tuple(history[i - n:i]) == context:
                c[history[i]] += 1
        if c.sum() > 0:
            types = np.count_nonzero(c)
            p = (c + types * p) / (c.sum() + types)
    return p


def test_the_memory_is_witten_bell_over_every_order():
    rng = np.random.default_rng(3)
    tokens = rng.integers(0, 8, 30).tolist() * 2 + rng.integers(0, 8, 20).tolist()
    for order in (0, 3, 10):
        dist, longest = memory_distributions(tokens, 8, order)
        for t in (0, 1, 7, 31, 55, len(tokens) - 1):
            assert np.abs(dist[t] - witten_bell(tokens[:t], 8, order)).max() < 1e-12
        assert np.allclose(dist.sum(axis=1), 1.0)
        assert longest[0] == -1 and longest.max() <= order


def test_rows_fed_the_same_prefix_then_different_tokens_keep_apart():
    prefix = [2, 3, 4, 2, 3, 4, 2, 3]
    memory = MotifMemory(V, 3, max_order=6)
    memory.feed(prefix)
    first = memory.distribution()
    assert np.allclose(first, first[0])  # every row heard the same seed
    memory.update([4, 5, 4])
    after = memory.distribution()
    for row, tok in enumerate([4, 5, 4]):
        alone, _ = memory_distributions(prefix + [tok], V, 6)
        memory_one = MotifMemory(V, 1, 6)
        memory_one.feed(prefix + [tok])
        assert np.abs(after[row] - memory_one.distribution()[0]).max() < 1e-12
        assert alone.shape == (len(prefix) + 1, V)
    assert np.abs(after[0] - after[1]).max() > 0.01


def test_repeated_rows_go_on_as_their_row_would():
    prefix = [2, 3, 4, 2, 3, 4, 2, 3]
    memory = MotifMemory(V, 2, max_order=6)
    memory.feed(prefix)
    memory.update([4, 5])
    memory.repeat_rows(3)
    assert memory.rows == 6
    memory.update([2, 2, 3, 2, 3, 4])
    after = memory.distribution()
    for row, (first, second) in enumerate([(4, 2), (4, 2), (4, 3), (5, 2), (5, 3), (5, 4)]):
        one = MotifMemory(V, 1, 6)
        one.feed(prefix + [first, second])
        assert np.abs(after[row] - one.distribution()[0]).max() < 1e-12


@pytest.mark.parametrize("method", ["linear", "entropy", "geometric", "adaptive"])
def test_every_mixing_is_a_proper_distribution(method):
    rng = np.random.default_rng(0)
    p_net = softmax(rng.normal(size=(5, V)) * 3)
    p_mem = softmax(rng.normal(size=(5, V)) * 5)
    table = tuple(rng.uniform(0, 1, Mixing.buckets_for(10)))
    p = mix(p_net, p_mem, Mixing(method, table=table), longest=np.array([-1, 0, 3, 10, 12]))
    assert (p >= 0).all() and np.allclose(p.sum(axis=1), 1.0)


@pytest.fixture(scope="module")
def library() -> ModelLibrary:
    lib = ModelLibrary([ROOT / "models"])
    for name in ("lstm", "wavenet", "duet"):
        assert name in lib.names, lib.problems
    return lib


def test_the_shipped_models_have_a_mixing_chosen_on_the_validation_split():
    for name in ("lstm", "wavenet", "duet", "a model of the user's"):
        mixing = mixing_for(name)  # the file was read: not the fallback
        assert mixing.method == "adaptive" and mixing.max_order == 16
        assert len(mixing.table) == Mixing.buckets_for(mixing.max_order)
        assert all(0.0 <= w <= 1.0 for w in mixing.table)


def bar_seed(bars: int = 3):
    """One bar of sixteenths and eighths in C major, played ``bars`` times."""
    bar = [(60, 2), (64, 2), (67, 1), (65, 1), (64, 2), (62, 4), (67, 4)]
    notes, t = [], 0
    for _ in range(bars):
        for pitch, sixteenths in bar:
            notes.append(Note(pitch, t * 120, sixteenths * 120, 90))
            t += sixteenths
    return melody_song(notes, ppq=480), len(bar)


@pytest.mark.parametrize("name", ["lstm", "wavenet", "duet"])
def test_the_memory_makes_a_repeated_bar_more_likely(library, name):
    model = library.get(name)
    song, _ = bar_seed(4)
    tokens = DEFAULT_ENCODING.song_to_tokens(song)
    # the bits of the fourth bar after three: far fewer with the memory
    head = tokens[:48 + 1]
    alone = model.score_tokens(tokens)[0] - model.score_tokens(head)[0]
    with_memory = score_tokens_with_memory(model, tokens)[0] - \
        score_tokens_with_memory(model, head)[0]
    assert with_memory < alone - 2.0


def test_generation_with_the_memory_brings_the_bar_back_more_often(library):
    song, notes_per_bar = bar_seed(3)
    seed_bar = [(n.pitch, n.start_tick % 1920, n.duration_ticks) for n in
                song.tracks[0].notes[:notes_per_bar]]

    def repeats(memory: bool) -> int:
        count = 0
        for rng_seed in range(6):
            s = GenerationSettings(model="lstm", bars=1, variations=8, rng_seed=rng_seed,
                                   key=None, memory=memory)
            result = generate(library, song, s)
            count += sum([(n.pitch, n.start_tick % 1920, n.duration_ticks) for n in v]
                         == seed_bar for v in result.variations)
        return count

    # 48 continuations each (5 against 0 when written)
    assert repeats(True) >= repeats(False) + 3


def test_memory_on_changes_generation_and_its_step_distributions_sum_to_one(library):
    song, _ = bar_seed(2)
    on = generate(library, song, GenerationSettings(model="duet", bars=4, variations=2,
                                                    rng_seed=9))
    off = generate(library, song, GenerationSettings(model="duet", bars=4, variations=2,
                                                     rng_seed=9, memory=False))
    assert on.tokens != off.tokens
    mixer = MemoryMixer(V, 2, DEFAULT_ENCODING.song_to_tokens(song)[:-1], mixing_for("duet"))
    logits = np.random.default_rng(1).normal(size=(2, V)).astype(np.float32)
    p = mixer.probabilities(logits)
    assert (p > 0).all() and np.allclose(p.sum(axis=1), 1.0)
    assert np.allclose(np.exp(mixer(logits)), p)


def test_memory_setting_must_be_a_yes_or_no():
    with pytest.raises(GenerationError, match="motif memory"):
        GenerationSettings(memory="on").validate()


def test_score_and_generate_take_memory_on_and_off(tmp_path):
    seed = ROOT / "tests" / "engine" / "data" / "golden_seed.mid"

    def score(flag: str) -> dict:
        proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "score", "--model",
                               "lstm", "--memory", flag, str(seed)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    on, off = score("on"), score("off")
    assert off["memory"] == "off" and on["memory"].startswith("on (")
    assert on["notes"] == off["notes"] and on["total_bits"] != off["total_bits"]
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "generate", "--memory",
                           "maybe", "-o", str(tmp_path / "x.mid")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--memory" in proc.stderr


def test_rests_are_the_networks_to_place():
    """With ``network_tokens`` the mixed probability of those tokens is the network's,
    and the memory shares out the rest as it would."""
    rng = np.random.default_rng(4)
    p_net = softmax(rng.normal(size=(3, V)))
    p_mem = softmax(rng.normal(size=(3, V)) * 4)
    table = tuple(rng.uniform(0, 1, Mixing.buckets_for(10)))
    mixing = Mixing("adaptive", table=table, network_tokens=(1,))
    p = mix(p_net, p_mem, mixing, longest=np.array([2, 5, 9]))
    assert np.allclose(p[:, 1], p_net[:, 1]) and np.allclose(p.sum(axis=1), 1.0)
    assert mixing_for("duet").network_tokens == (DEFAULT_ENCODING.token_names().index(
        "NOTE_OFF"),)


def test_generating_the_memory_counts_for_more_than_scoring():
    """``generation_power`` below 1 raises the memory's shares in generation only."""
    mixing = mixing_for("duet")
    assert 0 < mixing.generation_power < 1
    mixer = MemoryMixer(V, 1, [2, 3, 4], mixing)
    assert all(g >= w - 1e-12 for g, w in zip(mixer.mixing.table, mixing.table))
    assert any(g > w + 0.01 for g, w in zip(mixer.mixing.table, mixing.table))


# ---- where in the beat: contexts by phase -----------------------------------------------


def witten_bell_by_phase(history: list[int], vocab: int, max_order: int, period: int,
                         first_step: int = 0) -> np.ndarray:
    """Witten-Bell whose contexts count only what followed them at the next token's
    phase (its step mod ``period``, the history's first token on ``first_step``)."""
    t = len(history)
    p = np.full(vocab, 1.0 / vocab)
    for n in range(max_order + 1):
        if n > t:
            break
        context = tuple(history[t - n:])
        c = np.zeros(vocab)
        for i in range(n, t):
            if (i - t) % period == 0 and tuple(history[i - n:i]) == context:
                c[history[i]] += 1
        if c.sum() > 0:
            types = np.count_nonzero(c)
            p = (c + types * p) / (c.sum() + types)
    return p


@pytest.mark.parametrize("period", [2, 4])
def test_by_phase_the_memory_is_witten_bell_over_contexts_at_the_same_phase(period):
    rng = np.random.default_rng(5)
    tokens = rng.integers(0, 6, 24).tolist() * 2 + rng.integers(0, 6, 17).tolist()
    dist, longest = memory_distributions(tokens, 6, 8, period)
    for t in (0, 1, 5, 24, 25, 49, len(tokens) - 1):
        assert np.abs(dist[t] - witten_bell_by_phase(tokens[:t], 6, 8, period)).max() < 1e-12
    assert np.allclose(dist.sum(axis=1), 1.0) and longest.max() <= 8
    # period 1 is the memory blind to the beat
    assert np.allclose(memory_distributions(tokens, 6, 8, 1)[0],
                       memory_distributions(tokens, 6, 8)[0])
    # only the phases' differences matter: the same tokens from step 3 give the same
    shifted = MotifMemory(6, 1, 8, period=period, step=3)
    shifted.feed(tokens)
    assert np.abs(shifted.distribution()[0] - witten_bell_by_phase(tokens, 6, 8, period)) \
        .max() < 1e-12


def test_a_figure_heard_on_the_beat_does_not_come_back_a_sixteenth_late():
    """A tune of quarter notes, played twice, then its first three notes again: on the
    beat, the memory blind to the beat and the one by phase both expect the tune's fourth
    note on the next beat; a sixteenth late, only the blind one does."""
    hold = 0
    tune = []
    for pitch in [60, 62, 64, 65, 67, 65, 64, 62] * 2:
        tune += [DEFAULT_ENCODING.note_on(pitch)] + [hold] * 3
    figure, fourth = tune[:4 * 3], DEFAULT_ENCODING.note_on(65)

    def p_fourth(period: int, late: int) -> float:
        memory = MotifMemory(V, 1, 16, period=period)
        memory.feed(tune)
        memory.break_context(step=len(tune) + late)
        memory.feed(figure)
        return float(memory.distribution()[0][fourth])

    assert p_fourth(1, 0) > 0.8 and p_fourth(4, 0) > 0.8
    assert p_fourth(1, 1) > 0.8  # blind to the beat: the figure comes back off it
    assert p_fourth(4, 1) < 0.05 and p_fourth(4, 2) < 0.05


def test_the_fill_memory_hears_the_music_after_the_gap_at_its_own_steps():
    """``heard_step`` and ``start_step`` place both passages on the grid: the figure after
    the gap, heard on the beat, is expected on the beat before it and not a step off."""
    hold = 0
    bar = [DEFAULT_ENCODING.note_on(p) for p in (60, 64, 67, 72)]
    after = [t for n in bar for t in (n, hold, hold, hold)]  # the bar after the gap
    mixing = replace(mixing_for("lstm"), network_tokens=())
    assert mixing.phase_period == 4
    flat = np.zeros((1, V), np.float32)

    def p_second_note(gap_start: int) -> float:
        # before the gap: the bar's first note, on ``gap_start - 4``; the gap's first
        # step is ``gap_start``; the bar after the gap was heard from step 32
        mixer = MemoryMixer(V, 1, after[:4], mixing, heard=after, start_step=gap_start,
                            heard_step=32)
        return float(mixer.probabilities(flat)[0][bar[1]])

    assert p_second_note(16) > 2 * p_second_note(17)
    assert p_second_note(16) == pytest.approx(p_second_note(20))


@pytest.mark.parametrize("signatures,pickup,period", [
    ([(0, 4, 4)], 0, 4), ([(0, 3, 4)], 0, 4), ([(0, 6, 8)], 0, 4), ([(0, 2, 2)], 0, 4),
    ([(0, 3, 8)], 0, 2), ([(0, 7, 8)], 0, 2), ([(0, 5, 16)], 0, 1),
    # a pickup bar of an eighth or a sixteenth before 4/4 moves no bar line after it
    ([(0, 1, 8), (240, 4, 4)], 240, 4), ([(0, 1, 16), (120, 3, 4)], 120, 4),
    # 3/8 after two bars of 4/4: the bar lines after it fall half a beat off
    ([(0, 4, 4), (3840, 3, 8)], 0, 2), ([(0, 4, 4), (3840, 3, 4)], 0, 4),
])
def test_the_phases_follow_the_songs_metre(signatures, pickup, period):
    from engine.song import TimeSignature

    song = melody_song([Note(60, 0, 480, 90)], ppq=480)
    song.time_signatures = [TimeSignature(*s) for s in signatures]
    assert song.pickup_ticks == pickup
    mixing = mixing_for("duet")
    assert mixing.in_metre(song, 4).phase_period == period
    assert replace(mixing, phase_period=1).in_metre(song, 4).phase_period == 1


def test_continuing_a_seed_on_the_beat_the_memory_keeps_the_beat(library):
    """The default seed has no note off the eighths' grid.  8 bars, 8 variations, 8 seeds
    of the LSTM and the WaveNet: with the memory blind to the beat 3.1% of the new notes
    fell on an off-sixteenth (the networks alone 1.6%), by phase 1.9%."""
    from engine.formats.midi import midi_file_to_song

    song = midi_file_to_song(ROOT / "assets" / "default_seed.mid")
    half_beat = song.ppq // 2
    onsets = [n.start_tick for name in ("lstm", "wavenet") for rng_seed in range(8)
              for v in generate(library, song, GenerationSettings(
                  model=name, bars=8, variations=8, rng_seed=rng_seed)).variations
              for n in v]
    off = sum(t % half_beat != 0 for t in onsets)
    assert off <= 0.025 * len(onsets), (off, len(onsets))


def test_score_hears_the_phases_in_the_songs_metre(tmp_path):
    """The same tune in 3/8 and written as 4/4: a phrase of three 3/8 bars comes back half
    a beat further on, so in 3/8 the memory's period is 2 (every bar on one phase) and the
    phrase's return is likelier than heard in 4/4's quarters; the network alone scores both
    alike."""
    from engine.formats import song_to_midi_file
    from engine.song import TimeSignature

    notes, t = [], 0
    for pitches in [(67, 65, 64, 62), (64, 62, 60, 62), (64, 65, 67, 69)] * 4:
        for pitch, sixteenths in zip(pitches, (2, 1, 1, 2)):  # eighth, two sixteenths, eighth
            notes.append(Note(pitch, t * 120, sixteenths * 120, 90))
            t += sixteenths
    paths = []
    for metre in ((3, 8), (4, 4)):
        song = melody_song(notes, ppq=480)
        song.time_signatures = [TimeSignature(0, *metre)]
        paths.append(tmp_path / f"tune-{metre[0]}-{metre[1]}.mid")
        song_to_midi_file(song, paths[-1])

    def bits(flag: str) -> list[float]:
        proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "score", "--model",
                               "lstm", "--memory", flag, *map(str, paths)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return [f["bits"] for f in json.loads(proc.stdout)["files"]]

    in_3_8, in_4_4 = bits("on")
    assert in_3_8 < in_4_4 - 1.0, (in_3_8, in_4_4)
    alone = bits("off")
    assert alone[0] == pytest.approx(alone[1])
