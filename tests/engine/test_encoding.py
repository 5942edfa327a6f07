"""The melody encoding: grid <-> tokens, top line, quantization, keys, transposition."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from engine.encodings import DEFAULT_ENCODING, Key, MelodyEncoding, estimate_key, estimate_song_key
from engine.encodings.melody import FIRST_NOTE_ON, HOLD, NOTE_OFF, GridNote
from engine.song import melody_track
from engine.errors import EncodingError
from engine.song import Note, Song, Track

ENC = DEFAULT_ENCODING


@st.composite
def grid_melodies(draw):
    """Monophonic lines on the grid, inside the encoding's range."""
    line, step = [], draw(st.integers(0, 8))
    for _ in range(draw(st.integers(0, 30))):
        step += draw(st.integers(0, 6))  # a rest of 0..6 steps
        length = draw(st.integers(1, 16))
        line.append(GridNote(step, step + length, draw(st.integers(ENC.min_pitch, ENC.max_pitch))))
        step += length
    return line


@settings(max_examples=300, deadline=None)
@given(grid_melodies(), st.integers(0, 5))
def test_grid_tokens_grid_is_identity(line, trailing):
    start = line[0].start_step if line else 0
    end = (line[-1].end_step if line else 0) + trailing
    tokens = ENC.grid_to_tokens(line, start, end)
    assert len(tokens) == end - start
    assert ENC.tokens_to_grid(tokens, start) == line


@settings(max_examples=200, deadline=None)
@given(grid_melodies(), st.sampled_from(Key.all_keys()))
def test_notes_encode_decode_identity_in_any_key(line, key):
    """Melody in any key -> tokens (in C/Am) -> melody in the original key."""
    ppq = 480
    notes = [Note(g.pitch - 12 + key.tonic, g.start_step * 120, (g.end_step - g.start_step) * 120)
             for g in line if 0 <= g.pitch - 12 + key.tonic <= 127]
    notes = [n for n in notes if ENC.min_pitch - 12 <= n.pitch]
    enc = ENC.encode_notes(notes, ppq, key=key)
    assert enc.report.dropped_below_top_line == 0
    out = ENC.decode(enc.tokens, ppq, enc.transpose, enc.start_step)
    if enc.report.notes_moved_by_octave == 0:
        assert [(n.pitch, n.start_tick, n.duration_ticks) for n in out] == \
            [(n.pitch, n.start_tick, n.duration_ticks) for n in notes]


def test_tokens_spell_the_events():
    line = [GridNote(0, 4, 60), GridNote(4, 6, 62), GridNote(8, 9, 64)]
    assert ENC.grid_to_tokens(line, 0, 10) == [
        ENC.note_on(60), HOLD, HOLD, HOLD, ENC.note_on(62), HOLD, NOTE_OFF, HOLD,
        ENC.note_on(64), NOTE_OFF]
    assert ENC.vocab_size == 38 and ENC.note_on(48) == FIRST_NOTE_ON


def test_top_line_keeps_the_highest_voice_and_counts_the_rest():
    chord_then_melody = [GridNote(0, 8, 48), GridNote(0, 8, 52), GridNote(0, 4, 67),
                         GridNote(4, 8, 69), GridNote(2, 3, 40)]
    line, dropped = ENC.top_line(chord_then_melody)
    assert line == [GridNote(0, 4, 67), GridNote(4, 8, 69)]
    assert dropped == 3


def test_a_higher_note_cuts_a_sounding_lower_one():
    line, dropped = ENC.top_line([GridNote(0, 8, 60), GridNote(4, 6, 72)])
    assert line == [GridNote(0, 4, 60), GridNote(4, 6, 72)] and dropped == 0


def test_quantization_reports_its_error_and_lengthens_tiny_notes():
    notes = [Note(60, 10, 100), Note(62, 478, 5)]  # 10 ticks late; a 5-tick note
    grid, err, lengthened = ENC.quantize(notes, 480)
    assert grid == [GridNote(0, 1, 60), GridNote(4, 5, 62)]
    assert err == pytest.approx(10) and lengthened == 1


def test_polyphonic_seed_report_says_so():
    notes = [Note(60, 0, 480), Note(64, 0, 480), Note(67, 0, 480)]
    enc = ENC.encode_notes(notes, 480, key=Key(0))
    assert enc.report.dropped_below_top_line == 2
    assert "top line" in " ".join(enc.report.messages())


def test_transposition_to_c_and_back():
    d_major_scale = [Note(p, i * 240, 240) for i, p in enumerate([62, 64, 66, 67, 69, 71, 73, 74])]
    enc = ENC.encode_notes(d_major_scale, 480)
    assert enc.key == Key(2, False)
    pitches = [ENC.token_pitch(t) for t in enc.tokens if t >= FIRST_NOTE_ON]
    assert pitches == [60, 62, 64, 65, 67, 69, 71, 72]
    assert [n.pitch for n in ENC.decode(enc.tokens, 480, enc.transpose)] == \
        [n.pitch for n in d_major_scale]


def test_out_of_range_melody_moves_by_octaves():
    high = [Note(96, 0, 480), Note(100, 480, 480)]  # C7, E7: above the range
    enc = ENC.encode_notes(high, 480, key=Key(0))
    assert enc.report.octave_shift < 0 and enc.report.notes_moved_by_octave == 0
    assert [n.pitch for n in ENC.decode(enc.tokens, 480, enc.transpose)] == [96, 100]
    wide = [Note(20, 0, 480), Note(110, 480, 480)]  # wider than the range
    enc = ENC.encode_notes(wide, 480, key=Key(0))
    assert enc.report.notes_moved_by_octave >= 1
    assert all(ENC.min_pitch <= ENC.token_pitch(t) <= ENC.max_pitch
               for t in enc.tokens if t >= FIRST_NOTE_ON)


@pytest.mark.parametrize("pitches, key", [
    ([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60], "C"),
    ([69, 71, 72, 74, 76, 77, 76, 72, 69, 64, 69], "Am"),
    ([67, 69, 71, 72, 74, 76, 78, 79, 74, 71, 67], "G"),
    ([65, 67, 69, 70, 72, 74, 76, 77, 72, 69, 65], "F"),
    ([62, 64, 65, 67, 69, 70, 72, 74, 69, 65, 62], "Dm"),
])
def test_key_estimate(pitches, key):
    durations = [2 if i in (0, len(pitches) - 1) else 1 for i in range(len(pitches))]
    assert estimate_key(zip(pitches, durations)) == Key.parse(key)


@pytest.mark.parametrize("text, tonic, minor, name", [
    ("C", 0, False, "C"), ("F#", 6, False, "F#"), ("Gb", 6, False, "F#"), ("Bb", 10, False, "Bb"),
    ("Am", 9, True, "Am"), ("c#m", 1, True, "C#m"), ("Eb minor", 3, True, "Ebm"),
    ("G major", 7, False, "G"),
])
def test_key_names(text, tonic, minor, name):
    key = Key.parse(text)
    assert (key.tonic, key.minor, key.name) == (tonic, minor, name)
    assert Key.parse(key.name) == key


def test_bad_key_name():
    with pytest.raises(EncodingError, match="not a key"):
        Key.parse("H#")


def test_scales_and_shift_to_c():
    assert Key(0).scale_pitch_classes == {0, 2, 4, 5, 7, 9, 11}
    assert Key(9, True).scale_pitch_classes == Key(0).scale_pitch_classes
    for key in Key.all_keys():
        assert -6 <= key.shift_to_c <= 5
        assert (key.tonic + key.shift_to_c) % 12 == (9 if key.minor else 0)


def test_card_round_trip_and_refusal():
    card = ENC.card()
    assert MelodyEncoding.from_card(card).vocab_size == ENC.vocab_size
    with pytest.raises(EncodingError, match="encoding"):
        MelodyEncoding.from_card({**card, "version": 99})


def test_melody_track_prefers_the_high_busy_non_drum_track():
    song = Song(tracks=[
        Track("Bass", notes=[Note(36, i * 480, 480) for i in range(8)]),
        Track("Tune", notes=[Note(72, i * 240, 240) for i in range(12)]),
        Track("Drums", 9, is_drum=True, notes=[Note(42, i * 120, 60, 100, 9) for i in range(32)]),
    ])
    assert melody_track(song) == 1
    assert estimate_song_key(song.tracks[1].notes) in Key.all_keys()
