"""Recording from a keyboard, quantizing, and call-and-response.

The logic is tested with explicit times; the last tests play notes into a *real*
input port (a virtual rtmidi output standing in for the keyboard, through JACK or
ALSA) while the player runs, and check they land in the song quantized.
"""

from __future__ import annotations

import time

import mido
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.generation.generator import GenerationSettings, generate
from engine.live.player import Player
from engine.live.ports import MessageLog
from engine.live.recorder import (CallAndResponse, Recorder, answer_song, quantize_notes,
                             quantize_tick, tempo_timeline)
from engine.models import ModelLibrary
from engine.song import Note, TempoMap, TempoChange, melody_song
from tests.engine.test_ports import find, midi_system, unique  # noqa: F401 - fixture

PPQ = 480
TEMPO = TempoMap(PPQ, [TempoChange(0, 500_000)])  # 120 BPM: a tick is 1/960 s


def on(pitch: int, vel: int = 100) -> mido.Message:
    return mido.Message("note_on", note=pitch, velocity=vel)


def off(pitch: int) -> mido.Message:
    return mido.Message("note_off", note=pitch)


# ---- quantize -------------------------------------------------------------------------
def test_quantize_tick_snaps_and_strength_moves_part_way():
    assert quantize_tick(130, 120) == 120
    assert quantize_tick(190, 120) == 240
    assert quantize_tick(150, 120, strength=0.5) == 135
    assert quantize_tick(77, 0) == 77


@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 2_000)), max_size=30),
       st.sampled_from([60, 120, 160, 240, 480]))
def test_quantized_notes_sit_on_the_grid_and_never_vanish(spans, grid):
    notes = [Note(60, s, d) for s, d in spans]
    out = quantize_notes(notes, grid)
    assert len(out) == len(notes)
    for n in out:
        assert n.start_tick % grid == 0 and n.end_tick % grid == 0
        assert n.duration_ticks >= grid


def test_quantize_after_keeps_lengths_when_asked():
    out = quantize_notes([Note(60, 130, 333)], 120, ends=False)
    assert (out[0].start_tick, out[0].duration_ticks) == (120, 333)


# ---- the recorder ----------------------------------------------------------------------
def test_recorder_pairs_notes_on_the_timeline_and_quantizes_on_the_fly():
    tick_at = tempo_timeline(TEMPO, 0, t0=10.0)
    got = []
    rec = Recorder(tick_at, 0, grid=120, channel=2, ppq=PPQ, on_note=got.append)
    rec.feed(on(60), 10.0 + 0.130)  # tick 125 -> 120
    rec.feed(on(64, 90), 10.0 + 0.260)  # chord-ish, overlapping
    rec.feed(off(60), 10.0 + 0.510)  # tick 490 -> 480
    rec.feed(mido.Message("note_on", note=64, velocity=0), 10.0 + 0.740)  # running-status off
    rec.feed(mido.Message("control_change", control=64, value=127), 10.8)  # ignored
    notes = rec.finish(11.0)
    assert notes == [Note(60, 120, 360, 100, 2), Note(64, 240, 480, 90, 2)]
    assert got == [Note(60, 120, 360, 100, 2), Note(64, 240, 480, 90, 2)]


def test_recorder_without_grid_keeps_the_timing_and_closes_held_notes():
    rec = Recorder(tempo_timeline(TEMPO, 960, t0=0.0), 960, grid=0, ppq=PPQ)
    rec.feed(on(70), 0.1)  # tick 960 + 96
    notes = rec.finish(0.6)
    assert notes == [Note(70, 1056, 480)]


def test_count_in_anticipation_is_pulled_to_the_start_and_early_notes_dropped():
    rec = Recorder(tempo_timeline(TEMPO, 0, t0=2.0), 0, grid=120, ppq=PPQ)
    rec.feed(on(60), 2.0 - 0.03)  # 29 ticks early: kept, moved to 0
    rec.feed(off(60), 2.2)
    rec.feed(on(62), 1.0)  # a whole second early: dropped
    rec.feed(off(62), 1.2)
    assert rec.finish(3.0) == [Note(60, 0, 240)]


def test_a_repeated_key_without_note_off_closes_the_first_note():
    rec = Recorder(tempo_timeline(TEMPO, 0, 0.0), 0, grid=0, ppq=PPQ)
    rec.feed(on(60), 0.0)
    rec.feed(on(60), 0.5)
    rec.feed(off(60), 1.0)
    assert rec.finish(1.0) == [Note(60, 0, 480), Note(60, 480, 480)]


# ---- call and response -------------------------------------------------------------------
def test_call_and_response_hears_a_phrase_and_places_the_answer_after_it():
    cr = CallAndResponse(TEMPO, grid=120, anchor_tick=1920, gap_s=0.5)
    t = 50.0
    for i, p in enumerate([60, 62, 64]):
        cr.feed(on(p), t + i * 0.25 + 0.01)
        cr.feed(off(p), t + i * 0.25 + 0.2)
    assert cr.poll(t + 0.9) is None  # not silent long enough yet
    phrase = cr.poll(t + 1.3)
    assert phrase is not None and cr.waiting_for_answer
    assert [(n.pitch, n.start_tick) for n in phrase.tracks[0].notes] == [(60, 0), (62, 240),
                                                                         (64, 480)]
    cr.feed(on(72), t + 1.4)  # played while waiting: not a new call
    answer = [Note(67, 720, 240), Note(72, 960, 480)]  # in the phrase's ticks
    ex = cr.place_answer(answer, 720)
    assert ex.phrase_start == 1920 and ex.answer_start == 1920 + 720
    assert [n.start_tick for n in ex.phrase] == [1920, 2160, 2400]
    assert [n.start_tick for n in ex.answer] == [2640, 2880]
    assert cr.next_tick == 3840  # the next call starts on the next bar
    song = answer_song(ex, TEMPO)
    assert [n.start_tick for n in song.tracks[0].notes] == [0, 240]


@pytest.mark.parametrize("holds,answer_at", [
    ((0.3, 0.3, 0.3, 0.53), 1920),  # the last key released 30 ms after the bar line
    ((0.45, 0.3, 0.4, 0.3), 1920),  # every key released early: still the bar line
    ((0.45, 0.45, 0.45, 0.2), 1920),  # a staccato last quarter: the beat after it
])
def test_the_answer_starts_on_the_beat_after_a_phrase_however_it_was_released(
        tiny_models_dir, holds, answer_at):
    """Four quarter notes played at 120 BPM, unquantized, released early or late: the
    generator continues the phrase from the bar line after it, the call's own reading
    (phrase_length) agrees, and the answer lands there on the timeline."""
    cr = CallAndResponse(TEMPO, grid=0, anchor_tick=1920, gap_s=0.5)
    t = 10.0
    for i, (p, hold) in enumerate(zip([60, 62, 64, 65], holds)):
        cr.feed(on(p), t + i * 0.5 + (0.01 if i % 2 else -0.012))
        cr.feed(off(p), t + i * 0.5 + hold)
    phrase = cr.poll(t + 4.0)
    assert phrase is not None
    notes = phrase.tracks[0].notes
    result = generate(ModelLibrary([tiny_models_dir]), phrase,
                      GenerationSettings(model="lstm", bars=1))
    assert result.start_tick == cr.phrase_length(notes) == answer_at
    ex = cr.place_answer(list(result.variations[0]), result.start_tick)
    assert ex.answer_start == 1920 + answer_at
    assert all(n.start_tick >= ex.answer_start and (n.start_tick - 1920) % 120 == 0
               for n in ex.answer)


def test_a_held_key_keeps_the_phrase_open():
    cr = CallAndResponse(TEMPO, grid=120, gap_s=0.3)
    cr.feed(on(60), 0.0)
    assert cr.poll(5.0) is None
    cr.feed(off(60), 5.0)
    assert cr.poll(5.5) is not None


# ---- real ports ----------------------------------------------------------------------------
def test_notes_played_into_a_real_input_land_in_the_song_quantized(midi_system):  # noqa: F811
    keys_client = unique("Keyboard")
    keyboard = midi_system.open_virtual_output("keys", client_name=keys_client)
    log = MessageLog(clock=time.monotonic)
    player = Player(log)  # runs the timeline (and the metronome) while recording
    # 60 BPM, 2/4, eighth-note grid (240 ticks = 0.25 s): a busy machine's delays of
    # tens of milliseconds stay well inside half a grid step
    song = melody_song([], bpm=60, time_signature=(2, 4))
    recorder = Recorder(player.tick_at, 0, grid=240, channel=0, ppq=PPQ)
    port = midi_system.open_input(find(midi_system.input_names(), keys_client),
                                  callback=recorder.feed, clock=player.clock)
    try:
        time.sleep(0.1)
        player.set_metronome(True)
        player.play(song, 0, 480 * 8, count_in_bars=1, hold=True)
        t_start = player.time_at(0)
        # an eighth-note line, each note played 15 ms off the beat
        plan = [(60, 0.0 + 0.015, 0.4), (62, 0.5 - 0.015, 0.9), (64, 1.0 + 0.015, 1.4),
                (65, 2.0 - 0.015, 2.7)]
        events = sorted([(t_start + a, on(p)) for p, a, _ in plan]
                        + [(t_start + b, off(p)) for p, _, b in plan], key=lambda e: e[0])
        for when, msg in events:
            while time.monotonic() < when:
                time.sleep(0.001)
            keyboard.send(msg)
        time.sleep(0.15)
        notes = recorder.finish(player.clock())
    finally:
        player.stop()
        port.close()
        keyboard.close()
    assert [(n.pitch, n.start_tick, n.end_tick) for n in notes] == [
        (60, 0, 240), (62, 240, 480), (64, 480, 720), (65, 960, 1200)]
    clicks = [m for _, m in log.messages if m.type == "note_on" and m.channel == 9]
    assert len(clicks) >= 2 + 2  # the count-in bar and the clicks while recording
