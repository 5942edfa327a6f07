"""The live accompanist (engine/live/accompanist.py, engine/generation/live_harmony.py):
real onnxruntime sessions on the shipped polyphonic models, real time, real JACK ports
where a MIDI system runs (skipped with the reason where none does)."""

from __future__ import annotations

import time
from collections import Counter

import mido
import numpy as np
import pytest

from engine.encodings import Key
from engine.errors import GenerationError
from engine.formats import midi_file_to_song, song_to_midi_file
from engine.generation.live_harmony import LiveHarmony, harmonise_steps, melody_grid
from engine.live.accompanist import Accompanist, StepClock
from engine.live.ports import MessageLog, MidiSystem
from engine.models import ModelLibrary
from tests.engine.live_rig import (Rig, balance, library, midi_system,  # noqa: F401
                                   play, seed_melody)

BPM = 240.0  # a step of 62.5 ms: the test's 4 bars take 4 s


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
    # half the tempo and a 50 ms wait for a late key: this thread may wake tens of ms
    # late on a loaded machine, and a key that misses its step is another melody
    grid = StepClock.at_tempo(time.monotonic() + 0.3, BPM / 2)
    acc = Accompanist(harmony, log, grid, channel=2, drop_after_s=30.0, late_window_s=0.05)
    acc.start()
    play(acc, grid, melody, np.random.default_rng(1))
    end = max(e for _, e, _ in melody)
    time.sleep(max(0.0, grid.time_of(end + 1) - time.monotonic()))
    acc.stop()
    assert acc.error is None and acc.stats.dropped_steps == 0
    played = acc.stats.steps
    assert played >= end  # every step of the melody was played
    # the player's notes on the grid: the melody as played.  A loaded machine may wake
    # the player's thread so late that a key lands a step after its place; the voices
    # are then compared with the offline harmoniser of the melody as played, which is
    # what the accompanist heard
    as_played = [(s, e, p) for s, e, p, _ in acc.player_notes]
    assert [p for *_, p in as_played] == [p for *_, p in melody]
    assert sum(a != b for a, b in zip(as_played, melody)) <= len(melody) // 10
    ref_grid = melody_grid(as_played)
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
    # each press that started a voice note is traced in order: pressed, fed, taken up,
    # sampled, sent (bench/accompanist.py's parts of the latency)
    assert acc.stats.trace and len(acc.stats.trace) == len(acc.stats.latencies_s)
    assert all(a <= b <= c <= d <= e for a, b, c, d, e in acc.stats.trace)
    assert len(acc.stats.sample_cpu_s) >= played
    # every such press found its melody note's call made ahead of it (LiveHarmony.speculate)
    assert harmony.speculation.adopted >= len(acc.stats.trace)


# ---------------------------------------------------------------------------------------
# real JACK ports: no stuck notes, lost ports, the player's channel
# ---------------------------------------------------------------------------------------


def voices_rig(system: MidiSystem, library: ModelLibrary, **options) -> Rig:  # noqa: F811
    """The rig with three voices of poly-wavenet beneath the keys, in C."""
    harmony = LiveHarmony(library.get("poly-wavenet"), Key.parse("C"), voices=3, rng_seed=3)
    return Rig(system, harmony, **options)


def test_500_chords_and_notes_then_stop_leave_nothing_sounding(
        midi_system, library):  # noqa: F811
    rig = voices_rig(midi_system, library)
    try:
        rig.play_random(500, np.arange(55, 84), [1, 1, 2, 3, 4], np.random.default_rng(500))
        assert rig.acc.running and not rig.errors, rig.errors
        rig.acc.stop()
        got = rig.settle()
    finally:
        rig.close()
    ons = sum(1 for m in got if m.type == "note_on" and m.velocity > 0)
    # it played along (this asked for 100 voices; a loaded machine, whose late steps are
    # dropped, gave 72 once): what this test is about is below, no note left sounding
    assert ons >= 10
    assert rig.acc.stats.steps >= 10
    left = {k: v for k, v in balance(got).items() if v}
    assert not left, f"note-ons without their note-offs: {left} (sent {rig.acc.sounding})"
    assert all(m.channel == 1 for m in got if hasattr(m, "channel"))


def test_an_unplugged_keyboard_stops_the_accompanist_with_every_note_off(
        midi_system, library):  # noqa: F811
    rig = voices_rig(midi_system, library)
    try:
        time.sleep(0.25)
        for p in (72, 64, 67):
            rig.press(p, True)
        deadline = time.monotonic() + 5.0
        while not rig.acc.sounding and time.monotonic() < deadline:
            time.sleep(0.01)
        assert rig.acc.sounding, "the accompanist played nothing"
        rig.keys.close()  # the keyboard goes away with its keys down
        deadline = time.monotonic() + 5.0
        while not rig.errors and time.monotonic() < deadline:
            time.sleep(0.02)
        got = rig.settle()
    finally:
        rig.close()
    assert rig.errors and rig.keys_name in rig.errors[0] and "input" in rig.errors[0]
    assert not rig.acc.running
    assert all(v == 0 for v in balance(got).values())


def test_an_unplugged_output_is_named_and_nothing_is_left_held(
        midi_system, library):  # noqa: F811
    rig = voices_rig(midi_system, library)
    try:
        time.sleep(0.25)
        rig.press(76, True)
        deadline = time.monotonic() + 5.0
        while not rig.acc.sounding and time.monotonic() < deadline:
            time.sleep(0.01)
        assert rig.acc.sounding
        rig.sink.close()  # the synth the accompanist plays into goes away
        deadline = time.monotonic() + 5.0
        while not rig.errors and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        rig.close()
    assert rig.errors and rig.out.name in rig.errors[0] and "went away" in rig.errors[0]
    assert not rig.acc.running and not rig.acc.sounding


def test_it_never_plays_on_the_keyboards_channel(midi_system, library):  # noqa: F811
    """The accompanist set to the keyboard's own channel moves off it and says so."""
    rig = voices_rig(midi_system, library, channel=0, keyboard_channel=0)
    said: list[str] = []
    rig.acc.on_message = said.append
    try:
        time.sleep(0.25)
        for p in (67, 72, 74, 72):
            rig.press(p, True)
            time.sleep(0.15)
            rig.press(p, False)
        rig.acc.stop()
        got = rig.settle()
    finally:
        rig.close()
    channels = {m.channel for m in got if hasattr(m, "channel")}
    assert channels and 0 not in channels
    assert said and "channel 1" in said[0]


# ---------------------------------------------------------------------------------------
# late steps and the take
# ---------------------------------------------------------------------------------------


class SlowOutput(MessageLog):
    """An output that stalls once for ``stall_s`` on its first note-on (a slow port)."""

    def __init__(self, stall_s: float) -> None:
        super().__init__(clock=time.monotonic)
        self.stall_s = stall_s

    def _send(self, msg: mido.Message) -> None:
        if msg.type == "note_on" and self.stall_s:
            stall, self.stall_s = self.stall_s, 0.0
            time.sleep(stall)
        super()._send(msg)


def test_steps_the_clock_has_left_behind_are_dropped_not_played_late(library):
    out = SlowOutput(0.4)
    harmony = LiveHarmony(library.get("poly-wavenet"), Key.parse("G"), voices=2, rng_seed=1)
    grid = StepClock.at_tempo(time.monotonic() + 0.2, 480.0)  # 31 ms steps
    dropped: list[int] = []
    acc = Accompanist(harmony, out, grid, late_window_s=0.01, on_dropped=dropped.append)
    acc.start()
    melody = [(s, s + 2, p) for s, p in zip(range(0, 48, 2), [67, 69, 71, 72] * 6)]
    play(acc, grid, melody, np.random.default_rng(0), jitter_s=0.0)
    time.sleep(0.2)
    acc.stop()
    # the 0.4 s stall put the loop some 12 steps behind: those were dropped, then it
    # caught up; nothing it sent after the stall was later than the drop limit
    assert acc.stats.dropped_steps >= 5 and dropped  # a busy machine may drop more
    assert acc.stats.steps >= 40
    ons = [(t, m) for t, m in out.messages if m.type == "note_on"]
    assert len(ons) > 10
    assert all(v == 0 for v in balance([m for _, m in out.messages]).values())


def test_a_take_saves_the_players_track_and_the_voices_and_reopens_note_for_note(
        library, tmp_path):
    harmony = LiveHarmony(library.get("poly-lstm"), Key.parse("G"), mode="bass", rng_seed=2)
    grid = StepClock.at_tempo(time.monotonic() + 0.2, BPM)
    acc = Accompanist(harmony, MessageLog(), grid, channel=3, program=32,
                      drop_after_s=30.0, late_window_s=0.01)
    acc.start()
    melody = seed_melody()[:8]
    play(acc, grid, melody, np.random.default_rng(2), jitter_s=0.004)
    time.sleep(0.1)
    acc.stop()
    song = acc.take_song(ppq=480)
    assert [t.name for t in song.tracks] == ["Player", "Bass"]
    player, bass = song.tracks
    heard = [(s, e, p) for s, e, p, _ in acc.player_notes]
    assert [(n.start_tick // 120, n.end_tick // 120, n.pitch) for n in player.notes] == heard
    assert [p for _, _, p in heard] == [p for _, _, p in melody]
    assert bass.notes and bass.channel == 3 and bass.program == 32
    assert max(n.pitch for n in bass.notes) <= 62  # in the bass's range, beneath the tune
    path = tmp_path / "take.mid"
    song_to_midi_file(song, path)
    again = midi_file_to_song(path)
    for a, b in zip(song.tracks, again.tracks):
        assert sorted((n.pitch, n.start_tick, n.duration_ticks, n.channel) for n in a.notes) == \
            sorted((n.pitch, n.start_tick, n.duration_ticks, n.channel) for n in b.notes)
    assert len(again.tracks) == 2


def test_bad_settings_say_what_is_wrong(library):
    with pytest.raises(GenerationError, match="one line"):
        LiveHarmony(library.get("lstm"))
    with pytest.raises(GenerationError, match="2 or 3 voices"):
        LiveHarmony(library.get("poly-wavenet"), voices=5)
    with pytest.raises(GenerationError, match="live mode"):
        LiveHarmony(library.get("poly-wavenet"), mode="drums")


def test_the_model_failing_mid_performance_stops_with_every_note_off(library):
    """The model runs in the accompanist's thread (not the helper process); when it fails
    (here: its state taken away mid-performance) the loop stops, every note it sounded
    gets its note-off and the error is reported."""
    log = MessageLog(clock=time.monotonic)
    harmony = LiveHarmony(library.get("poly-wavenet"), Key.parse("C"), voices=3, rng_seed=5)
    grid = StepClock.at_tempo(time.monotonic() + 0.1, BPM)
    errors: list[str] = []
    acc = Accompanist(harmony, log, grid, on_error=errors.append)
    acc.start()
    acc.feed(mido.Message("note_on", note=72, velocity=90), time.monotonic())
    deadline = time.monotonic() + 5.0
    while not acc.sounding and time.monotonic() < deadline:
        time.sleep(0.01)
    assert acc.sounding
    harmony.close()  # the model's state is gone
    acc.feed(mido.Message("note_on", note=76, velocity=90), time.monotonic())
    deadline = time.monotonic() + 5.0
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert errors and errors[0].startswith("The accompanist stopped")
    assert not acc.running and not acc.sounding
    assert all(v == 0 for v in balance([m for _, m in log.messages]).values())


def test_the_part_grammars_kernels_are_ready_before_the_first_note():
    """The live harmoniser makes its grammar at the player's first note; the grammar's
    compiled kernels are loaded (or compiled) when the harmoniser is made, so that note
    never waits for them.  In a fresh process: importing does not load them, making a
    LiveHarmony does (before its first note)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = (
        "from engine.models import ModelLibrary\n"
        "from engine.generation.live_harmony import LiveHarmony\n"
        "from engine.encodings import Key\n"
        "from engine.encodings import grammar_kernels\n"
        "before = grammar_kernels.warmed()\n"
        "live = LiveHarmony(ModelLibrary(['models']).get('poly-wavenet'), Key(0, False))\n"
        "print(before, grammar_kernels.warmed(), live.grammar is None)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "True", "True"], out.stdout
