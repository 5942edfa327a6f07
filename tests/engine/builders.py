"""Small builders for engine tests: MIDI files made in memory with mido."""

from __future__ import annotations

import io

import mido

from engine.song import Note, Track


def make_track(notes: list[tuple[int, int, int]], velocity: int = 100, channel: int = 0,
               name: str = "Melody") -> Track:
    """[(pitch, start_tick, duration_ticks), ...] -> Track."""
    return Track(name=name, channel=channel,
                 notes=[Note(p, s, d, velocity, channel) for p, s, d in notes])


def midi_bytes(tracks: list[list[mido.Message]], ppq: int = 480, type_: int = 1) -> bytes:
    """A standard MIDI file from lists of messages whose .time is delta ticks."""
    mid = mido.MidiFile(type=type_, ticks_per_beat=ppq)
    for msgs in tracks:
        mid.tracks.append(mido.MidiTrack(msgs))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def on(note: int, time: int = 0, velocity: int = 100, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=velocity, time=time, channel=channel)


def off(note: int, time: int = 0, channel: int = 0, as_zero_velocity: bool = False) -> mido.Message:
    if as_zero_velocity:
        return mido.Message("note_on", note=note, velocity=0, time=time, channel=channel)
    return mido.Message("note_off", note=note, velocity=64, time=time, channel=channel)
