"""The MIDI reader's limits are checked while the bytes are scanned, before mido builds
an object per event: a file over them is refused at the cost of the limits, whatever
its size (issue 23: a 30 MB file cost 77 s of CPU and 3.8 GB before it was refused)."""

from __future__ import annotations

import io
import random
import tracemalloc
from pathlib import Path

import mido
import pytest

import engine.formats.midi as midi_io
from engine.errors import LimitError, MidiFileError
from engine.formats import midi_file_to_song
from engine.formats.midi import midi_event_counts
from tests.fuzz.conftest import no_hang
from tests.fuzz.mutators import _with_track, mutate
from tests.fuzz.seeds import REPO, seeds

DEFAULT_SEED = REPO / "assets" / "default_seed.mid"
EXTERNAL = REPO / "tests" / "data" / "external"


def one_track_file(body: bytes, ppq: int = 96) -> bytes:
    body += b"\x00\xff\x2f\x00"
    return (b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + (1).to_bytes(2, "big")
            + ppq.to_bytes(2, "big") + b"MTrk" + len(body).to_bytes(4, "big") + body)


def mido_counts(data: bytes) -> tuple[int, int]:
    mid = mido.MidiFile(file=io.BytesIO(data), clip=True)
    notes = sum(1 for t in mid.tracks for m in t if m.type == "note_on" and m.velocity > 0)
    return notes, sum(len(t) for t in mid.tracks)


def test_a_30_mb_file_over_the_note_limit_is_refused_without_parsing_it(tmp_path: Path) -> None:
    """Five million notes under running status, as a sequencer writes them: refused
    with the note limit's message, in a few MB of memory beyond the file's own bytes
    (mido took 3.8 GB)."""
    pair = b"\x00\x3c\x40\x60\x3c\x00"
    path = tmp_path / "thirty.mid"
    path.write_bytes(one_track_file(b"\x00\x90" + pair[1:] + pair * (30 * 2**20 // 6)))
    tracemalloc.start()
    try:
        with no_hang(2**20, slack=2), \
                pytest.raises(LimitError, match="thirty.mid: the file has more than 500,000 "
                                                "notes"):
            midi_file_to_song(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 30 * 2**20 + 40 * 2**20, f"peak {peak / 2**20:.0f} MB"


@pytest.mark.parametrize("event, limit", [
    (b"\x00\x90\x3c\x40\x00\x80\x3c\x00", "notes"),  # a status byte on every event
    (b"\x81\x00\x90\x3c\x40", "notes"),  # two-byte delta times
    (b"\x00\xc0\x01", "MIDI events"),  # program changes: no notes at all
    (b"\x00\xff\x01\x00", "MIDI events"),  # empty text events
    (b"\x00\xf0\x01\xf7", "MIDI events"),  # short sysex messages
])
def test_every_kind_of_flood_is_refused_by_a_limit(tmp_path: Path, monkeypatch, event: bytes,
                                                   limit: str) -> None:
    monkeypatch.setattr(midi_io, "MAX_NOTES", 20_000)
    monkeypatch.setattr(midi_io, "MAX_EVENTS", 60_000)
    path = tmp_path / "flood.mid"
    path.write_bytes(one_track_file(event * 70_000))
    number = "20,000" if limit == "notes" else "60,000"
    with no_hang(2**20), pytest.raises(LimitError, match=f"flood.mid: the file has more "
                                                         f"than {number} {limit}"):
        midi_file_to_song(path)


def test_megabytes_of_sysex_are_refused_before_mido_reads_them_a_byte_at_a_time(
        tmp_path: Path) -> None:
    """Three sysex messages of 400 KB (mido's own cap is 1,000,000 bytes each): mido
    would read them at 0.7 s a MB; the scan refuses them."""
    path = tmp_path / "dump.mid"
    payload = 400_000
    path.write_bytes(one_track_file((b"\x00\xf0" + midi_io.vlq(payload) + b"\x01" * payload) * 3))
    with no_hang(2**20), pytest.raises(LimitError, match="dump.mid: the file has more than "
                                                         "1 MB of system-exclusive and meta"):
        midi_file_to_song(path)


def test_a_file_just_under_the_limits_is_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(midi_io, "MAX_NOTES", 20_000)
    monkeypatch.setattr(midi_io, "MAX_EVENTS", 40_002)  # the notes' ons and offs, the end
    path = tmp_path / "full.mid"
    path.write_bytes(one_track_file(b"\x00\x90\x3c\x40" + b"\x18\x3c\x00\x00\x3c\x40" * 19_999
                                    + b"\x18\x3c\x00"))
    assert midi_file_to_song(path).note_count == 20_000


def test_the_count_agrees_with_mido_on_real_and_mutated_files() -> None:
    """The scan reads as mido reads (running status kept over sysex and system events,
    a track that overruns its length read on, as mido does): the same notes and events
    on the Debian files and the fuzzer's seeds, and on 150 mutations of them (those
    mido still reads)."""
    real = [p.read_bytes() for p in sorted(EXTERNAL.glob("*.mid"))]
    pool = seeds("midi")
    real += [s.data for s in pool]
    rng = random.Random(23)
    mutated = []
    for _ in range(150):
        s = rng.choice(pool)
        mutated.append(mutate(rng, "midi", s.suffix, s.data, [p.data for p in pool])[1])
    compared = 0
    for data in real + mutated:
        if len(data) < 14 or data[:4] != b"MThd":
            continue
        try:
            want = mido_counts(data)
        except Exception:  # noqa: BLE001 - mido refuses it; the reader says why
            continue
        assert midi_event_counts(data) == want
        compared += 1
    assert compared >= len(real) + 50


def test_short_meta_events_and_missing_status_say_what_is_wrong(tmp_path: Path) -> None:
    """Issue 23: 'the file is damaged (list index out of range)' showed mido's insides."""
    base = DEFAULT_SEED.read_bytes()
    for name, event in [("tempo.mid", b"\x00\xff\x51\x01\x07"),
                        ("metre.mid", b"\x00\xff\x58\x01\x04"),
                        ("key.mid", b"\x00\xff\x59\x00")]:
        path = tmp_path / name
        path.write_bytes(_with_track(base, event + b"\x00\xff\x2f\x00"))
        with pytest.raises(MidiFileError) as info:
            midi_file_to_song(path)
        assert str(info.value) == (f"{name}: the file is damaged (an event is shorter than "
                                   f"its kind needs)")
    path = tmp_path / "nostatus.mid"
    path.write_bytes(one_track_file(b"\x00\x3c\x40"))
    with pytest.raises(MidiFileError, match=r"nostatus.mid: the file is damaged \(an event "
                                            r"has no status byte\)"):
        midi_file_to_song(path)


def test_a_resolution_too_coarse_for_the_metre_is_read_at_a_finer_one(tmp_path: Path) -> None:
    """One tick a quarter note in 6/8 (found by the job fuzzer): an eighth note was 0
    ticks and every job divided by it.  Read at 2 ticks a quarter, every time doubled;
    the same resolution in 4/4 is kept as it is."""
    six_eight = b"\x00\xff\x58\x04\x06\x03\x18\x08"
    notes = b"\x00\x90\x3c\x40\x01\x80\x3c\x00\x02\x90\x3e\x40\x03\x80\x3e\x00"
    path = tmp_path / "coarse.mid"
    path.write_bytes(one_track_file(six_eight + notes, ppq=1))
    song = midi_file_to_song(path)
    assert song.ppq == 2
    assert [(n.start_tick, n.duration_ticks) for n in song.notes()] == [(0, 2), (6, 6)]
    assert song.time_signatures[0].ticks_per_beat(song.ppq) == 1
    path.write_bytes(one_track_file(notes, ppq=1))
    song = midi_file_to_song(path)
    assert song.ppq == 1
    assert [(n.start_tick, n.duration_ticks) for n in song.notes()] == [(0, 1), (3, 3)]
