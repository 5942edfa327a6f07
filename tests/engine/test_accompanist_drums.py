"""Live Drums (engine/generation/live_drums.py through engine/live/accompanist.py): the
shipped drum model in a real onnxruntime session, real time, real JACK ports where a
MIDI system runs (skipped with the reason where none does)."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest

from engine.encodings.drums import DRUM_CHANNEL, KIT, piece_note
from engine.errors import GenerationError
from engine.formats import midi_file_to_song, song_to_midi_file
from engine.generation.live_drums import LiveDrums, drums_steps
from engine.live.accompanist import Accompanist, StepClock
from engine.live.ports import MessageLog
from tests.engine.live_rig import (Rig, balance, library, midi_system,  # noqa: F401
                                   play, seed_melody)

BPM = 180.0  # twelve steps a quarter: a step of 28 ms
KIT_NOTES = {piece_note(i) for i in range(len(KIT))}


def twelfths(melody):
    """A melody on the sixteenth grid moved to the drums' grid (three steps a 16th)."""
    return [(3 * s, 3 * e, p) for s, e, p in melody]


def drum_rig(system, library, keyboard_channel=0) -> Rig:  # noqa: F811
    """The rig with the drums (rock) in place of the voices, on a grid of 21 ms steps."""
    drums = LiveDrums(library.get("drums-lstm"), style="rock", rng_seed=3)
    return Rig(system, drums, bpm=240.0, steps_per_quarter=12, channel=DRUM_CHANNEL,
               keyboard_channel=keyboard_channel, prefix="Drum")


def test_live_drums_are_the_offline_drums(library):  # noqa: F811
    """The drums are the model's: played live against the clock with the keys off the
    grid by up to 6 ms, the hits are note for note those the same loop writes offline
    for the same presses (same model, style and RNG seed), on channel 10, each with its
    note-off."""
    model = library.get("drums-lstm")
    melody = twelfths(seed_melody()[:16])
    log = MessageLog(clock=time.monotonic)
    drums = LiveDrums(model, style="rock", rng_seed=7)
    grid = StepClock.at_tempo(time.monotonic() + 0.3, BPM, 12)
    acc = Accompanist(drums, log, grid, channel=DRUM_CHANNEL, drop_after_s=30.0,
                      late_window_s=0.02)
    acc.start()
    play(acc, grid, melody, np.random.default_rng(1), jitter_s=0.006)
    end = max(e for _, e, _ in melody)
    time.sleep(max(0.0, grid.time_of(end + 1) - time.monotonic()))
    acc.stop()
    assert acc.error is None and acc.stats.dropped_steps == 0
    played = acc.stats.steps
    assert played >= end - melody[0][0]
    # every key was heard once, in order (on its step, unless the machine held the
    # feeding thread up past half a step: the reference is what the drums heard)
    assert [p for _, keys in drums.heard for p in keys] == [p for _, _, p in melody]
    first = drums.heard[0][0]
    presses: list[list[int]] = [[] for _ in range(first + played)]
    for k, keys in drums.heard:
        presses[k] = list(keys)
    steps, ref = drums_steps(model, presses, style="rock", rng_seed=7)
    assert len(steps) == played
    assert drums.notes == ref.finish()
    assert len(drums.notes) > 10
    ons = Counter((m.channel, m.note) for _, m in log.messages
                  if m.type == "note_on" and m.velocity > 0)
    offs = Counter((m.channel, m.note) for _, m in log.messages if m.type == "note_off")
    assert sum(ons.values()) == len(drums.notes) and ons == offs
    assert {c for c, _ in ons} == {DRUM_CHANNEL}
    assert {n for _, n in ons} <= KIT_NOTES
    # the hits' velocities are the model's levels, not the player's
    vels = {m.velocity for _, m in log.messages if m.type == "note_on"}
    assert vels <= {50, 85, 112}


def test_the_presses_steer_the_drums(library):  # noqa: F811
    """What the player plays is heard: the same seed over presses on every beat and over
    presses on every off-beat eighth gives other drums."""
    model = library.get("drums-lstm")
    on_beat = [[60] if k % 12 == 0 else [] for k in range(192)]
    off_beat = [[60] if k % 12 == 6 else [] for k in range(192)]
    off_beat[0] = [60]  # both start on the first step
    a, _ = drums_steps(model, on_beat, style="rock", rng_seed=4)
    b, _ = drums_steps(model, off_beat, style="rock", rng_seed=4)
    assert [s.tokens for s in a] != [s.tokens for s in b]
    # and a low key is the bass's onset, a high one the other parts'
    drums = LiveDrums(model)
    assert drums.onsets([40]).tolist() == [1.0, 0.0]
    assert drums.onsets([72]).tolist() == [0.0, 1.0]
    assert drums.onsets([40, 72]).tolist() == [1.0, 1.0]
    assert drums.onsets([]).tolist() == [0.0, 0.0]


def test_bad_drum_settings_say_what_is_wrong(library):  # noqa: F811
    with pytest.raises(GenerationError, match="not a drum model"):
        LiveDrums(library.get("poly-wavenet"))
    with pytest.raises(GenerationError, match="no drum style named 'polka-dot'.*rock"):
        LiveDrums(library.get("drums-lstm"), style="polka-dot")
    with pytest.raises(GenerationError, match="temperature"):
        LiveDrums(library.get("drums-lstm"), temperature=-1.0)


def test_a_drum_take_saves_as_a_drum_track_and_reopens_note_for_note(
        library, tmp_path):  # noqa: F811
    drums = LiveDrums(library.get("drums-lstm"), style="funk", rng_seed=2)
    grid = StepClock.at_tempo(time.monotonic() + 0.2, BPM, 12)
    acc = Accompanist(drums, MessageLog(), grid, channel=DRUM_CHANNEL, drop_after_s=30.0,
                      late_window_s=0.02)
    acc.start()
    melody = twelfths(seed_melody()[:8])
    play(acc, grid, melody, np.random.default_rng(2), jitter_s=0.004)
    time.sleep(0.1)
    acc.stop()
    song = acc.take_song(ppq=480)
    assert [t.name for t in song.tracks] == ["Player", "Drums"]
    player, kit = song.tracks
    assert kit.is_drum and kit.channel == DRUM_CHANNEL and kit.notes
    assert {n.velocity for n in kit.notes} <= {50, 85, 112}
    assert [(n.start_tick // 40, n.pitch) for n in player.notes] == \
        [(s, p) for s, _, p, _ in acc.player_notes]
    path = tmp_path / "drum-take.mid"
    song_to_midi_file(song, path)
    again = midi_file_to_song(path)
    assert len(again.tracks) == 2 and again.tracks[1].is_drum
    for a, b in zip(song.tracks, again.tracks):
        assert sorted((n.pitch, n.start_tick, n.duration_ticks, n.velocity) for n in a.notes) \
            == sorted((n.pitch, n.start_tick, n.duration_ticks, n.velocity) for n in b.notes)


# ---------------------------------------------------------------------------------------
# real JACK ports
# ---------------------------------------------------------------------------------------


def test_300_presses_then_stop_leave_no_drum_sounding(midi_system, library):  # noqa: F811
    rig = drum_rig(midi_system, library)
    try:
        rig.play_random(300, np.arange(36, 84), [1, 1, 2, 3], np.random.default_rng(300))
        assert rig.acc.running and not rig.errors, rig.errors
        rig.acc.stop()
        got = rig.settle()
    finally:
        rig.close()
    ons = [m for m in got if m.type == "note_on" and m.velocity > 0]
    assert len(ons) >= 10 and rig.acc.stats.steps >= 50
    left = {k: v for k, v in balance(got).items() if v}
    assert not left, f"drum hits without their note-offs: {left}"
    assert {m.channel for m in got if hasattr(m, "channel")} == {DRUM_CHANNEL}


def test_a_keyboard_on_channel_10_silences_the_drums_and_says_so(
        midi_system, library):  # noqa: F811
    rig = drum_rig(midi_system, library, keyboard_channel=DRUM_CHANNEL)
    said: list[str] = []
    rig.acc.on_message = said.append
    try:
        time.sleep(0.25)
        for p in (67, 72, 74, 72):
            rig.press(p, True)
            time.sleep(0.1)
            rig.press(p, False)
        rig.acc.stop()
        got = rig.settle()
    finally:
        rig.close()
    assert not [m for m in got if m.type == "note_on" and m.velocity > 0]
    assert said and "channel 10" in said[0] and "silent" in said[0]


def test_an_unplugged_output_stops_the_drums_with_nothing_held(midi_system, library):  # noqa: F811
    rig = drum_rig(midi_system, library)
    try:
        time.sleep(0.25)
        deadline = time.monotonic() + 5.0
        while not rig.acc.sounding and time.monotonic() < deadline:
            rig.press(48, True)  # a low key on every beat until the drums play
            time.sleep(0.06)
            rig.press(48, False)
        assert rig.acc.sounding, "the drums played nothing"
        rig.sink.close()
        deadline = time.monotonic() + 5.0
        while not rig.errors and time.monotonic() < deadline:
            rig.press(48, True)
            time.sleep(0.03)
            rig.press(48, False)
    finally:
        rig.close()
    assert rig.errors and rig.out.name in rig.errors[0] and "went away" in rig.errors[0]
    assert not rig.acc.running and not rig.acc.sounding
