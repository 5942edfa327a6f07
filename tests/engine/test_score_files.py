"""ABC, MusicXML and Humdrum **kern files through music21 (from music21's own corpus)."""

from __future__ import annotations

import io
from pathlib import Path

import mido
import pytest

from engine.encodings import DEFAULT_ENCODING
from engine.errors import ScoreFileError
from engine.formats import (list_score_tunes, load_song, midi_file_to_song, score_file_to_song,
                            song_to_midi_bytes)
from engine.song import DRUM_CHANNEL, KeySignature, Song, TimeSignature

music21 = pytest.importorskip("music21")
CORPUS = Path(music21.__file__).parent / "corpus"


def test_multi_tune_abc_each_tune_selectable():
    path = CORPUS / "essenFolksong" / "erk5.abc"
    tunes = list_score_tunes(path)
    assert len(tunes) == 27
    first, second = score_file_to_song(path, 0), score_file_to_song(path, 1)
    assert first.note_count > 10 and second.note_count > 10
    assert [n.pitch for n in first.notes()] != [n.pitch for n in second.notes()]
    with pytest.raises(ScoreFileError, match=f"no tune {len(tunes) + 1}"):
        score_file_to_song(path, len(tunes))


def test_the_formats_table_sends_to_music21_exactly_the_suffixes_it_parses():
    from engine.formats import READERS, SCORE_SUFFIXES, scores

    assert set(SCORE_SUFFIXES) == set(scores.SUFFIXES)
    assert all(READERS[s].read is score_file_to_song and READERS[s].has_tunes
               for s in SCORE_SUFFIXES)
    assert not any(f.has_tunes for s, f in READERS.items() if s not in SCORE_SUFFIXES)


def test_abc_tune_encodes_and_survives_midi():
    song = score_file_to_song(CORPUS / "essenFolksong" / "erk5.abc", 3)
    enc = DEFAULT_ENCODING.encode_notes(song.tracks[0].notes, song.ppq, closing_off=True)
    assert enc.report.dropped_below_top_line == 0 and len(enc.tokens) > 16
    again = midi_file_to_song(song_to_midi_bytes(song))
    assert [n.pitch for n in again.notes()] == [n.pitch for n in song.notes()]
    assert again.time_signatures == song.time_signatures


def test_musicxml_with_four_parts():
    song = load_song(CORPUS / "bach" / "bwv66.6.mxl")
    assert len(song.tracks) == 4 and all(t.notes for t in song.tracks)
    assert song.meter_at(0) == TimeSignature(song.pickup_ticks, 4, 4)


def test_kern():
    song = load_song(CORPUS / "bach" / "bwv277.krn")
    assert song.note_count > 50


def test_ties_are_joined():
    path = CORPUS / "essenFolksong" / "erk5.abc"
    score = music21.converter.parse(str(path)).scores[0]
    tied = sum(1 for n in score.flatten().notes if n.tie is not None and n.tie.type == "start")
    song = score_file_to_song(path, 0)
    assert song.note_count == len(score.flatten().notes) - tied


def test_bad_score_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.xml"
    bad.write_text("<score-partwise><part id='P1'><measure><note>")
    with pytest.raises(ScoreFileError, match="broken.xml"):
        score_file_to_song(bad)
    with pytest.raises(ScoreFileError, match="no such file"):
        score_file_to_song(tmp_path / "missing.abc")


# ---- pickups: bar lines where the score has them ------------------------------------------

def _where_music21_puts_it(part, song: Song) -> list[tuple]:
    """(music21's measure number and place in the bar, ours) for every note of a
    music21 part; the place in quarter notes from where a full bar would start (a
    pickup's padding counted, so a one-beat pickup in 4/4 is at 3.0)."""
    out = []
    for m in part.getElementsByClass("Measure"):
        for n in m.recurse().notes:
            in_bar = float(n.getOffsetInHierarchy(m))
            tick = round((float(m.offset) + in_bar) * song.ppq)
            bar = song.bar_beat_at(tick)[0]
            ours = tick - song.bar_start_tick(bar)
            if bar == 0:
                ours += song.ticks_per_bar_at(0) - song.pickup_ticks
            out.append(((m.number, float(m.paddingLeft) + in_bar), (bar, ours / song.ppq)))
    return out


def _bar_lines(score, ppq: int) -> list[int]:
    """The ticks at which music21 starts the measures of the score's first part, less
    the second halves of bars split at a phrase's end (a measure after the first with
    a left padding: 3 beats, a fermata, then 1 beat), which stay in the bar they
    complete."""
    part = score.parts[0] if hasattr(score, "parts") and len(score.parts) else score
    return [round(float(m.offset) * ppq) for k, m in
            enumerate(part.getElementsByClass("Measure")) if k == 0 or not m.paddingLeft]


def test_bwv_66_6_opens_with_its_one_beat_pickup():
    """The pickup is bar 0, beat 4; every note falls in the bar and on the beat that
    music21's measures give it (the fermatas on beat 3, not 4), in every part."""
    score = music21.corpus.parse("bach/bwv66.6")
    song = load_song(CORPUS / "bach" / "bwv66.6.mxl")
    assert song.pickup_ticks == song.ppq and song.first_bar_number == 0
    assert song.time_signatures == [TimeSignature(0, 1, 4), TimeSignature(song.ppq, 4, 4)]
    assert song.bar_beat_at(0) == (0, 4, 0)
    end = song.end_tick
    assert song.bar_starts(end - 1) == [t for t in _bar_lines(score, song.ppq) if t < end]
    for part in score.parts:
        pairs = _where_music21_puts_it(part, song)
        assert pairs and all(theirs == ours for theirs, ours in pairs)
    fermatas = [song.bar_beat_at(round(float(n.offset) * song.ppq))[1]
                for n in score.parts[0].flatten().notes
                if any(type(e).__name__ == "Fermata" for e in n.expressions)]
    assert fermatas and set(fermatas) == {3}


@pytest.mark.parametrize("name, text", [
    ("pickup.abc", "X:1\nT:Pickup\nM:3/4\nL:1/8\nK:D\nA2|d2 f2 a2|g2 e2 c2|d4 z2|]\n"),
    ("pickup.krn", "**kern\n*M3/4\n*k[f#c#]\n=0\n4a\n=1\n4dd\n4ff#\n4aa\n=2\n4gg\n"
                   "4ee\n4cc#\n=3\n2.dd\n==\n*-\n"),
])
def test_abc_and_kern_pickups_are_kept(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    song = score_file_to_song(path)
    assert song.time_signatures == [TimeSignature(0, 1, 4), TimeSignature(song.ppq, 3, 4)]
    assert song.bar_starts(4 * song.ppq) == [0, song.ppq, 4 * song.ppq]
    assert song.bar_beat_at(0) == (0, 3, 0)  # the upbeat is the bar's third beat
    assert song.bar_beat_at(song.ppq) == (1, 1, 0)
    assert song.key_signatures == [KeySignature(0, 2, False)]


def test_essen_tunes_with_a_pickup_keep_their_bar_lines():
    """music21's own numbering, on the Essen tunes of one book that open with a partial
    bar: every note's bar and beat as music21 gives them."""
    path = CORPUS / "essenFolksong" / "erk5.abc"
    opus = music21.converter.parse(str(path))
    checked = 0
    for k, score in enumerate(opus.scores):
        measures = list(score.parts[0].getElementsByClass("Measure"))
        if len(measures) < 2 or measures[0].paddingLeft <= 0:
            continue
        song = score_file_to_song(path, k)
        assert song.pickup_ticks == round(float(measures[1].offset) * song.ppq)
        pairs = _where_music21_puts_it(score.parts[0], song)
        assert all(theirs == ours for theirs, ours in pairs), score.metadata.title
        checked += 1
    assert checked >= 5


def test_a_pickup_survives_midi_for_us_and_for_music21():
    """Written to MIDI, the pickup is a 1/4 bar before the 4/4: we read the same bar
    lines back, and so does music21 (as MuseScore does)."""
    score = music21.corpus.parse("bach/bwv66.6")
    song = load_song(CORPUS / "bach" / "bwv66.6.mxl")
    data = song_to_midi_bytes(song)
    again = midi_file_to_song(data)
    assert again.time_signatures == song.time_signatures
    assert again.key_signatures == song.key_signatures == [KeySignature(0, 3, True)]
    assert again.bar_starts(song.end_tick) == song.bar_starts(song.end_tick)
    reread = music21.converter.parse(data, format="midi", forceSource=True)
    theirs = _bar_lines(reread, song.ppq)
    ours = _bar_lines(score, song.ppq)
    n = len(ours) - 1  # music21 closes the last bar of a MIDI file whole; the score's is short
    assert theirs[:n] == ours[:n]


# ---- the test-split chorales ----------------------------------------------------------------

def _test_chorales():
    from training.datasets.partmusic import collection_files, corpus_root
    from training.datasets.splits import split_of

    root = corpus_root()
    return [root / pid for pid in collection_files(root).get("bach", [])
            if split_of(pid) == "test"]


@pytest.mark.slow
def test_every_test_split_chorale_keeps_its_bars_and_a_channel_per_part():
    """The test split's chorales (23 four-part ones, 17 with a one-beat pickup): bar
    lines where music21's measures put them, one channel and one program change per
    part, and the same bar lines, channels and programs once written to MIDI."""
    paths = _test_chorales()
    four_part = with_pickup = 0
    for path in paths:
        score = music21.converter.parse(path, forceSource=True)
        song = score_file_to_song(path)
        end = song.end_tick
        assert song.bar_starts(end - 1) == [t for t in _bar_lines(score, song.ppq) if t < end], \
            path.name
        with_pickup += song.pickup_ticks > 0
        channels = [t.channel for t in song.tracks]
        assert len(set(channels)) == len(channels) and DRUM_CHANNEL not in channels
        assert all({n.channel for n in t.notes} <= {t.channel} for t in song.tracks)
        four_part += sum(1 for t in song.tracks if t.notes) == 4
        written = mido.MidiFile(file=io.BytesIO(song_to_midi_bytes(song)))
        programs = [{m.channel: m.program for m in tr if m.type == "program_change"}
                    for tr in written.tracks[1:]]
        note_channels = [{m.channel for m in tr if m.type == "note_on"}
                         for tr in written.tracks[1:]]
        assert programs == [{t.channel: t.program} for t in song.tracks]
        assert note_channels == [{t.channel} for t in song.tracks if t.notes] + \
            [set() for t in song.tracks if not t.notes]
        again = midi_file_to_song(song_to_midi_bytes(song))
        assert again.bar_starts(end) == song.bar_starts(end)
        assert [(t.channel, t.program) for t in again.tracks] == \
            [(t.channel, t.program) for t in song.tracks if t.notes]
    assert four_part >= 23 and with_pickup >= 17


# ---- instruments -----------------------------------------------------------------------------

def test_each_part_gets_its_instrument_and_a_channel_drums_on_ten(tmp_path):
    """A MusicXML score of violin, cello, a drum part and a part with no instrument:
    programs 40 and 42, channels 0 and 1, the drums on channel 10 (9), the last on 2."""
    from music21 import instrument, note, percussion, stream

    score = stream.Score()
    for inst, pitch in [(instrument.Violin(), "E5"), (instrument.Violoncello(), "C3"),
                        (instrument.SnareDrum(), None), (None, "G4")]:
        part = stream.Part()
        if inst is not None:
            part.insert(0, inst)
        for _ in range(4):
            part.append(note.Unpitched(displayName="C4") if pitch is None else note.Note(pitch))
        score.insert(0, part)
    path = tmp_path / "band.musicxml"
    score.write("musicxml", fp=path)
    song = score_file_to_song(path)
    assert [(t.channel, t.program, t.is_drum) for t in song.tracks] == \
        [(0, 40, False), (1, 42, False), (DRUM_CHANNEL, 0, True), (2, 0, False)]
    assert all(len(t.notes) == 4 for t in song.tracks)
    assert {n.channel for n in song.tracks[2].notes} == {DRUM_CHANNEL}
    _ = percussion  # the drum part's notes are unpitched: no pitch of their own


def test_fill_bars_are_the_scores_bars():
    """``fill --from/--to`` count bars as the score does: BWV 66.6's bar 1 starts after
    its one-beat pickup, bar 0; a song with no pickup has no bar 0."""
    from engine.errors import GenerationError
    from engine.cli.score import parse_bars
    from engine.generation.fill import bar_range_ticks

    song = load_song(CORPUS / "bach" / "bwv66.6.mxl")
    q = song.ppq
    assert bar_range_ticks(song, 0, 0) == (0, q)
    assert bar_range_ticks(song, 1, 1) == (q, 5 * q)
    assert bar_range_ticks(song, 3, 4) == (9 * q, 17 * q)
    assert parse_bars("0:1") == (0, 1)
    plain = midi_file_to_song(song_to_midi_bytes(Song(tracks=song.tracks)))
    assert bar_range_ticks(plain, 1, 1) == (0, 4 * q)
    with pytest.raises(GenerationError, match="counted from 1, not 0"):
        bar_range_ticks(plain, 0, 1)


@pytest.mark.slow
def test_every_test_split_chorale_continued_writes_a_channel_per_part():
    """Each of the test split's chorales, continued a bar in every part by poly-wavenet
    and written as the CLI writes it: every part on its own channel, each new note on
    its part's channel, read back the same."""
    from engine.generation.generator import GenerationSettings
    from engine.generation.polyphony import generate_polyphony
    from engine.models import ModelLibrary
    from engine.generation.parts_song import song_with_parts

    library = ModelLibrary()
    settings = GenerationSettings(model="poly-wavenet", bars=1, variations=1, rng_seed=2)
    paths = _test_chorales()
    assert len(paths) >= 23
    for path in paths:
        song = score_file_to_song(path)
        result = generate_polyphony(library, song, settings)
        assert result.variations[0], path.name
        out = song_with_parts(song, result, 0)
        again = midi_file_to_song(song_to_midi_bytes(out))
        pitched = [t for t in again.tracks if t.notes]
        channels = [t.channel for t in pitched]
        assert len(set(channels)) == len(channels) == len([t for t in song.tracks if t.notes])
        assert all({n.channel for n in t.notes} == {t.channel} for t in pitched), path.name
        assert len(list(again.notes())) > len(list(song.notes())), path.name
