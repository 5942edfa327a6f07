"""Round trips on real MIDI files written by other programs.

music21 ships a few test files; Debian's mma and pianobooster packages ship dozens more
(fetched by scripts/fetch-test-midi.sh into tests/data/external, not committed).
For each: load -> save -> load keeps every note, the tempo map and the time signatures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.formats import midi_file_to_song, song_to_midi_bytes

HERE = Path(__file__).resolve().parent
EXTERNAL = HERE.parent / "data" / "external"


def _music21_files() -> list[Path]:
    import importlib.util

    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(list(spec.submodule_search_locations)[0])
    return sorted(root.glob("midi/testPrimitive/*.mid"))


def _external_files() -> list[Path]:
    return sorted(p for p in EXTERNAL.glob("*") if p.suffix.lower() in (".mid", ".midi"))


MUSIC21_FILES = _music21_files()
EXTERNAL_FILES = _external_files()


def note_tuples(song):
    return sorted((n.pitch, n.start_tick, n.duration_ticks, n.velocity, n.channel)
                  for n in song.notes())


def assert_round_trip(path: Path) -> None:
    first = midi_file_to_song(path)
    second = midi_file_to_song(song_to_midi_bytes(first))
    assert second.ppq == first.ppq
    assert note_tuples(second) == note_tuples(first)
    assert second.tempo_map == first.tempo_map
    assert second.time_signatures == first.time_signatures
    assert [(t.channel, t.program, t.is_drum) for t in second.tracks if t.notes] == \
        [(t.channel, t.program, t.is_drum) for t in first.tracks if t.notes]


@pytest.mark.parametrize("path", MUSIC21_FILES, ids=lambda p: p.name)
def test_music21_test_files_round_trip(path):
    assert_round_trip(path)


@pytest.mark.skipif(not EXTERNAL_FILES, reason="no external MIDI files: run scripts/fetch-test-midi.sh")
def test_debian_package_files_round_trip():
    failures = []
    for path in EXTERNAL_FILES:
        try:
            assert_round_trip(path)
        except AssertionError as e:
            failures.append(f"{path.name}: {str(e)[:200]}")
    assert not failures, "\n".join(failures)


@pytest.mark.skipif(not EXTERNAL_FILES, reason="no external MIDI files: run scripts/fetch-test-midi.sh")
def test_external_files_cover_what_the_reader_must_handle():
    """The corpus really contains what the issue names: type 0 and 1, several tempo
    changes, drums on channel 10, many notes."""
    import mido

    types, tempo_changes, drums, notes = set(), 0, 0, 0
    for path in EXTERNAL_FILES + MUSIC21_FILES:
        types.add(mido.MidiFile(path).type)
        song = midi_file_to_song(path)
        tempo_changes = max(tempo_changes, len(song.tempo_map.changes))
        drums += any(t.is_drum for t in song.tracks)
        notes += song.note_count
    assert {0, 1} <= types
    assert tempo_changes > 1
    assert drums > 0
    assert notes > 10_000
