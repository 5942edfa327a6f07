"""The live accompanist (engine/live/accompanist.py, engine/generation/live_harmony.py):
real onnxruntime sessions on the shipped polyphonic models, real time, real JACK ports
where a MIDI system runs (skipped with the reason where none does)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import mido
import numpy as np
import pytest

from engine.encodings import Key
from engine.errors import GenerationError
from engine.formats import midi_file_to_song, song_to_midi_file
from engine.generation.live_harmony import LiveHarmony, harmonise_steps, melody_grid
from engine.live.accompanist import Accompanist, StepClock, input_watch
from engine.live.ports import MessageLog, MidiSystem, compiled_apis, working_apis
from engine.models import ModelLibrary

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "assets" / "default_seed.mid"
BPM = 240.0  # a step of 62.5 ms: the test's 4 bars take 4 s


@pytest.fixture(scope="module")
def library() -> ModelLibrary:
    return ModelLibrary([ROOT / "models"])


def seed_melody() -> list[tuple[int, int, int]]:
    """The default seed's melody on the step grid: (start, end, pitch), each note
    shortened to whole steps, so its detached notes leave rests of a step."""
    song = midi_file_to_song(SEED)
    step = song.ppq // 4
    return [(n.start_tick // step, n.start_tick // step + max(1, n.duration_ticks // step),
             n.pitch) for n in song.tracks[0].notes]


def play(acc: Accompanist, grid: StepClock, melody, rng: np.random.Generator,
         jitter_s: float = 0.008, channel: int = 0) -> None:
    """Press and release ``melody``'s keys in real time, each within ``jitter_s`` of
    its step, feeding the accompanist as an input port's callback would."""
    events = []
    for s, e, p in melody:
        events.append((grid.time_of(s) + rng.uniform(-jitter_s, jitter_s), 1, p))
        events.append((grid.time_of(e) + rng.uniform(-jitter_s, jitter_s), 0, p))
    for t, on, p in sorted(events):
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        kind = "note_on" if on else "note_off"
        acc.feed(mido.Message(kind, note=p, velocity=90 if on else 0, channel=channel),
                 time.monotonic())


def voices_of(notes):
    return sorted(notes, key=lambda n: (n[1], n[0], n[3]))


@pytest.mark.parametrize("model_name", ["poly-wavenet", "poly-lstm"])
def test_live_voices_are_the_offline_harmonisers(library, model_name):
    """The harmony is the model's: played live against the clock with the keys off the
    grid by up to 8 ms, the voices are note for note those the same step-wise harmoniser
    writes offline over the same melody (same model, key and RNG seed).  The reference
    is the step-wise harmoniser, not Harmonise: Harmonise knows the whole melody before
    it starts (its key, its register, the closing chord), which no live partner can."""
    model = library.get(model_name)
    melody = seed_melody()
    key = Key.parse("G")
    log = MessageLog(clock=time.monotonic)
    harmony = LiveHarmony(model, key, voices=3, rng_seed=7, temperature=1.0)
    grid = StepClock.at_tempo(time.monotonic() + 0.3, BPM)
    acc = Accompanist(harmony, log, grid, channel=2, drop_after_s=30.0)
    acc.start()
    play(acc, grid, melody, np.random.default_rng(1))
    end = max(e for _, e, _ in melody)
    time.sleep(max(0.0, grid.time_of(end + 1) - time.monotonic()))
    acc.stop()
    assert acc.error is None and acc.stats.dropped_steps == 0
    played = acc.stats.steps
    assert played >= end  # every step of the melody was played
    ref_grid = melody_grid(melody)
    ref_grid += [(None, False)] * (played - len(ref_grid))
    steps, ref = harmonise_steps(model, ref_grid, key, voices=3, rng_seed=7, temperature=1.0)
    assert len(steps) == played
    live_notes, ref_notes = voices_of(harmony.notes), voices_of(ref.finish())
    assert len(ref_notes) > 20
    assert live_notes == ref_notes
    # and those notes went out, each note-on with its note-off, on the accompanist's channel
    ons = Counter((m.channel, m.note) for _, m in log.messages if m.type == "note_on")
    offs = Counter((m.channel, m.note) for _, m in log.messages if m.type == "note_off")
    assert sum(ons.values()) == len(ref_notes)
    assert ons == offs
    assert {c for c, _ in ons} == {2}
    # the player's notes on the grid: the melody as played
    assert [(s, e, p) for s, e, p, _ in acc.player_notes] == melody
