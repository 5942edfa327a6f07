"""Add Drums ends where the song ends: on the app's default seed (whose end of track
falls a sixteenth before its fifth bar line) the drums written to a MIDI file and read
back add no bar, and no hit rings past the song's end; the hits before it are the
ones the model drew."""

from __future__ import annotations

import pytest

from engine.formats import load_song, song_to_midi_file
from engine.generation import jobs
from engine.generation.parts_song import song_with_parts
from engine.generation.request import DRUMS, GenerationRequest, GenerationSettings
from engine.resources import default_seed
from tests.engine.drum_rig import GROOVE, library, without_drums  # noqa: F401


def _bars(song) -> int:
    return len(song.bar_starts(song.end_tick))


@pytest.mark.parametrize("style", ["rock", "swing", "auto"])
def test_add_drums_on_the_default_seed_writes_no_bar_after_the_song(library, tmp_path, style):
    song = load_song(str(default_seed()))
    assert song.end_tick % song.ticks_per_bar_at(0) != 0  # ends short of a bar line
    request = GenerationRequest(DRUMS, GenerationSettings(model="drums-lstm", variations=3,
                                                          rng_seed=5), drum_style=style)
    result = jobs.run(library, song, request)
    last_bar = song.bar_starts(song.end_tick)[-1]
    for v, notes in enumerate(result.variations):
        assert max(n.end_tick for n in notes) <= song.end_tick
        assert any(n.start_tick >= last_bar for n in notes)  # the last bar has drums
        out = tmp_path / f"{style}-{v}.mid"
        song_to_midi_file(song_with_parts(song, result, v), str(out))
        written = load_song(str(out))
        assert written.end_tick == song.end_tick and _bars(written) == _bars(song) == 4
        assert written.tracks[-1].is_drum and written.tracks[-1].notes


def test_drums_on_a_song_ending_on_its_bar_line_ring_no_further(library):
    song = without_drums(load_song(str(GROOVE)))  # its notes end at tick 3033 of bar 4 (3072)
    song.length_ticks = 4 * song.ticks_per_bar_at(0)  # its end of track on the bar line
    result = jobs.run(library, song, GenerationRequest(
        DRUMS, GenerationSettings(model="drums-lstm", variations=4, rng_seed=2),
        drum_style="swing"))
    for notes in result.variations:
        assert max(n.end_tick for n in notes) <= song.end_tick
        assert max(n.start_tick for n in notes) >= song.end_tick - song.ticks_per_bar_at(0)
