"""The polyphonic encoding and generator on real files with real onnxruntime.

The encoding is checked on a real Bach chorale from music21's corpus (notes back,
chords, ties, re-attacks, six notes at once over five octaves, what is dropped said),
and the training windows against the grammar.  Generation needs a trained polyphonic
model: ``models/poly-lstm.json`` (or the folder in ``CONTINUO_POLY_MODELS``); without
one those tests skip and say why.  The drum test uses a real multi-track MIDI file
fetched by scripts/fetch-test-midi.sh (skips without it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.encodings import Key
from engine.encodings.polyphony import (POLYPHONY_ENCODING, STEP, PolyphonyEncoding,
                                        playable_tracks)
from engine.errors import GenerationError
from engine.song import Note, Song, TimeSignature, Track
from tests.engine.part_models import MODELS, chorale, cut, part_library, part_settings

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EXTERNAL = HERE.parent / "data" / "external"
POLY_MODEL = "poly-lstm"
# a real arrangement with drums, bass, chords and a melody (mma's examples, fetched by
# scripts/fetch-test-midi.sh): Bass, Drum (channel 10), Solo, Chord
BAND_FILE = EXTERNAL / "mma--usr_share_doc_mma_examples_harmony_smile.mid"
PPQ = 480

E = POLYPHONY_ENCODING


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def first_bars(song: Song, bars: int, tracks: list[int] | None = None) -> Song:
    """A copy with the notes starting in the first ``bars`` bars, cut at the bar line."""
    return cut(song, bars * song.ticks_per_bar_at(0), tracks)


def snapshot(song: Song):
    return [(t.name, t.channel, t.program, t.is_drum,
             [(n.pitch, n.start_tick, n.duration_ticks, n.velocity, n.channel) for n in t.notes])
            for t in song.tracks]


def roll(notes, step_ticks: int) -> tuple[set, set]:
    """(the (step, pitch) cells sounding, the (step, pitch) onsets) of ``notes``."""
    cells, onsets = set(), set()
    for n in notes:
        s, e = n.start_tick // step_ticks, n.end_tick // step_ticks
        onsets.add((s, n.pitch))
        cells.update((k, n.pitch) for k in range(s, e))
    return cells, onsets


def round_trip(notes, ppq: int = PPQ, key: Key | None = None, enc: PolyphonyEncoding = E):
    encoded = enc.encode_notes(notes, ppq, key=key)
    back = enc.decode(encoded.tokens, ppq, transpose=encoded.transpose,
                      start_step=encoded.start_step)
    return encoded, back


def tuples(notes):
    return sorted((n.pitch, n.start_tick, n.duration_ticks) for n in notes)


def check_grammar(tokens, enc: PolyphonyEncoding = E) -> None:
    """Every token of ``tokens`` is one the grammar allows after the ones before it."""
    grammar = enc.grammar(1)
    everything = np.ones(enc.vocab_size, dtype=bool)
    for i, t in enumerate(tokens):
        allowed = grammar.mask(everything)[0]
        assert allowed[int(t)], f"token {i} ({enc.token_names()[int(t)]}) breaks the grammar"
        grammar.push(np.asarray([int(t)]))


# ---------------------------------------------------------------------------------------
# the encoding
# ---------------------------------------------------------------------------------------


def test_real_chorale_round_trip_keeps_every_note():
    song = chorale()
    notes = [n for i in playable_tracks(song) for n in song.tracks[i].notes]
    assert len(song.tracks) == 4 and len(notes) > 100
    encoded, back = round_trip(notes)
    check_grammar(encoded.tokens)
    step = PPQ // E.steps_per_quarter
    # the music sounds the same: every cell and every onset, in the original key
    assert roll(back, step) == roll(notes, step)
    # notes not doubled at the unison by another part come back exactly
    def doubled(n):
        return any(m is not n and m.pitch == n.pitch and m.start_tick < n.end_tick
                   and n.start_tick < m.end_tick for m in notes)
    single = [n for n in notes if not doubled(n)]
    assert set(tuples(single)) <= set(tuples(back))
    assert len(single) > 0.8 * len(notes)
    # the unisons are the only change, and they are said
    if len(single) < len(notes):
        assert encoded.report.merged_unisons > 0
        assert any("unison" in m for m in encoded.report.other)
    assert encoded.report.dropped_over_voices == 0
    assert encoded.report.octave_shift == 0 and encoded.report.notes_moved_by_octave == 0


def test_chords_ties_and_reattacks():
    q = PPQ
    notes = [
        # a six-note chord over five octaves, held two beats (HOLD through 7 steps)
        *(Note(p, 0, 2 * q) for p in (36, 48, 60, 64, 67, 96)),
        # a note tied over the bar line (one note, 8 steps)
        Note(72, 3 * q, 2 * q),
        # re-attacks: the same pitch struck again at once, twice
        Note(62, 2 * q, q // 2), Note(62, 2 * q + q // 2, q // 2), Note(62, 3 * q, q),
    ]
    encoded, back = round_trip(notes, key=Key(0, False))
    assert tuples(back) == tuples(notes)
    names = [E.token_names()[t] for t in encoded.tokens]
    first_step = names[:names.index("STEP")]
    assert first_step == [f"NEW({p})" for p in (96, 67, 64, 60, 48, 36)]
    # the tie is one NEW then HOLDs; the re-attacks are NEWs
    assert names.count("NEW(72)") == 1 and names.count("HOLD(72)") == 7
    assert names.count("NEW(62)") == 3
    assert encoded.report.dropped_over_voices == 0 and encoded.report.merged_unisons == 0
    check_grammar(encoded.tokens)


def test_six_voices_over_five_octaves_at_the_edges_of_the_range():
    lo, hi = E.min_pitch, E.max_pitch
    chord = [Note(p, 0, PPQ) for p in (lo, lo + 12, lo + 24, lo + 36, lo + 48, lo + 60)]
    encoded, back = round_trip(chord, key=Key(0, False))
    assert tuples(back) == tuples(chord)
    chord = [Note(p, 0, PPQ) for p in (hi, hi - 12, hi - 24, hi - 36, hi - 48, hi - 60)]
    encoded, back = round_trip(chord, key=Key(0, False))
    assert tuples(back) == tuples(chord)


def test_a_forty_note_chord_keeps_its_bass_and_the_highest_and_says_so():
    chord = [Note(p, 0, PPQ) for p in range(40, 80)]
    encoded, back = round_trip(chord, key=Key(0, False))
    kept = sorted(n.pitch for n in back)
    assert kept == [40] + list(range(81 - E.max_voices, 80))
    assert encoded.report.dropped_over_voices == 40 - E.max_voices
    said = " ".join(encoded.report.messages())
    assert f"{40 - E.max_voices} notes were left out" in said
    assert f"at most {E.max_voices} notes" in said
    check_grammar(encoded.tokens)


def test_unisons_of_two_parts_become_one_note_and_are_said():
    notes = [Note(67, 0, PPQ, channel=0), Note(67, 0, PPQ, channel=1), Note(60, 0, PPQ)]
    encoded, back = round_trip(notes, key=Key(0, False))
    assert tuples(back) == [(60, 0, PPQ), (67, 0, PPQ)]
    assert encoded.report.merged_unisons == 1
    assert "1 notes doubled another part at the unison" in " ".join(encoded.report.other)


def test_training_windows_follow_the_grammar():
    songs = [chorale(), chorale("bach/bwv7.7.mxl")]
    checked = 0
    for song in songs:
        tokens = np.asarray(E.song_to_tokens(song), dtype=np.int16)
        check_grammar(tokens)
        for length in (33, 64, 257):
            windows = E.training_windows(tokens, length)
            assert len(windows) > 1
            # the windows cover the whole piece, a step never split (steps are short)
            assert sum(len(w) for w in windows) == len(tokens)
            for w in windows:
                assert 2 <= len(w) <= length
                assert w[-1] == STEP
                check_grammar(w)  # starts as a seed does: held notes begin anew
                assert E.tokens_to_grid(w)  # and decodes
                checked += 1
    assert checked > 20


def test_a_window_starting_inside_held_notes_begins_them_anew():
    notes = [Note(60, 0, 8 * PPQ), Note(64, 0, 8 * PPQ)]
    tokens = np.asarray(E.encode_notes(notes, PPQ, key=Key(0, False)).tokens)
    windows = E.training_windows(tokens, 6)
    names = [E.token_names()[t] for t in windows[1][:3]]
    assert names == ["NEW(64)", "NEW(60)", "STEP"]
    for w in windows:
        check_grammar(w)


# ---------------------------------------------------------------------------------------
# generation (needs a trained polyphonic model)
# ---------------------------------------------------------------------------------------

needs_model = pytest.mark.skipif(
    not (MODELS / f"{POLY_MODEL}.json").exists(),
    reason=f"no trained {POLY_MODEL} model: {MODELS / (POLY_MODEL + '.json')} is missing "
           f"(CONTINUO_POLY_MODELS=DIR looks in another folder)")


@pytest.fixture(scope="module")
def library():
    return part_library(POLY_MODEL)


def settings(**kw):
    return part_settings(POLY_MODEL, **{"variations": 2, "rng_seed": 3, **kw})


def generate(library, song, **kw):
    from engine.generation.polyphony import generate_polyphony

    options = {k: kw.pop(k) for k in ("start_tick", "harmonise_track") if k in kw}
    return generate_polyphony(library, song, settings(**kw), **options)


def by_track(result, variation: int) -> dict[int, list[Note]]:
    out: dict[int, list[Note]] = {}
    for n, t in zip(result.variations[variation], result.track_of[variation]):
        out.setdefault(t, []).append(n)
    return out


@needs_model
def test_a_chorale_is_continued_on_its_four_tracks_each_in_its_own_range(library):
    from engine.generation.parts_song import song_with_parts

    song = chorale()
    bar = song.ticks_per_bar_at(0)
    seed = first_bars(song, 4)
    before = snapshot(seed)
    result = generate(library, seed, start_tick=4 * bar, variations=4, rng_seed=0)
    assert snapshot(seed) == before
    assert result.start_tick == 4 * bar
    assert "Continued 4 parts together." in result.messages
    ranges = [(min(n.pitch for n in t.notes), max(n.pitch for n in t.notes))
              for t in seed.tracks]
    pooled: dict[int, list[Note]] = {t: [] for t in range(4)}
    for v in range(len(result.variations)):
        parts = by_track(result, v)
        # a variation may rest a part for its four bars, not more than one
        assert set(parts) <= {0, 1, 2, 3} and len(parts) >= 3, f"variation {v}: {sorted(parts)}"
        for t, notes in parts.items():
            assert all(4 * bar <= n.start_tick < 8 * bar for n in notes)
            pooled[t] += notes
        # and the song the user gets has them on those tracks
        out = song_with_parts(seed, result, v)
        assert [t.name for t in out.tracks] == [t.name for t in seed.tracks]
        assert sum(len(t.notes) for t in out.tracks) == \
            seed.note_count + len(result.variations[v])
    medians = []
    for t, notes in sorted(pooled.items()):
        assert notes, f"track {t} ({seed.tracks[t].name}) was not continued"
        lo, hi = ranges[t]
        inside = sum(lo - 5 <= n.pitch <= hi + 5 for n in notes) / len(notes)
        assert inside >= 0.8, f"track {t}: {inside:.0%} of its new notes in {lo - 5}-{hi + 5}"
        medians.append(float(np.median([n.pitch for n in notes])))
    # soprano over alto over tenor over bass
    assert medians == sorted(medians, reverse=True) and len(set(medians)) == 4, medians


@needs_model
def test_harmonising_the_soprano_keeps_it_note_for_note(library):
    from engine.generation.parts_song import song_with_parts

    song = first_bars(chorale(), 8, tracks=[0])
    melody = song.tracks[0].notes
    before = snapshot(song)
    result = generate(library, song, harmonise_track=0)
    assert snapshot(song) == before
    assert result.new_tracks and result.new_tracks[0] == "Alto"
    for v in range(len(result.variations)):
        out = song_with_parts(song, result, v)
        assert tuples(out.tracks[0].notes) == tuples(melody)
        assert len(out.tracks) == 1 + len(result.new_tracks)
        assert all(t >= 1 for t in result.track_of[v])
        # the voices are beneath the melody
        for n in result.variations[v]:
            above = [m.pitch for m in melody if m.start_tick <= n.start_tick < m.end_tick]
            assert not above or n.pitch < above[0], (n, above)
        assert len(result.variations[v]) >= len(melody)


@needs_model
def test_drums_are_left_untouched_and_said_so(library):
    if not BAND_FILE.exists():
        pytest.skip(f"{BAND_FILE.name} is missing: run scripts/fetch-test-midi.sh")
    from engine.formats import midi_file_to_song
    from engine.generation.parts_song import song_with_parts

    song = first_bars(midi_file_to_song(BAND_FILE), 8)
    drums = [i for i, t in enumerate(song.tracks) if t.is_drum and t.notes]
    pitched = playable_tracks(song)
    assert len(drums) == 1 and song.tracks[drums[0]].channel == 9
    assert {song.tracks[i].name for i in pitched} >= {"Bass", "Solo", "Chord"}
    before = snapshot(song)
    result = generate(library, song, bars=2)
    assert snapshot(song) == before
    said = " ".join(result.messages)
    assert "drum track" in said and "left as it is" in said
    for v in range(len(result.variations)):
        assert result.variations[v]
        assert drums[0] not in result.track_of[v]
        assert set(result.track_of[v]) <= set(pitched)
        out = song_with_parts(song, result, v)
        assert snapshot(out)[drums[0]] == before[drums[0]]


def _two_parts(high=(72, 74, 76, 77), low=(48, 43, 48, 41)) -> Song:
    return Song(ppq=PPQ, tracks=[
        Track(name="Upper", notes=[Note(p, i * PPQ, PPQ, 90, 0) for i, p in enumerate(high)]),
        Track(name="Lower", channel=1,
              notes=[Note(p, i * PPQ, PPQ, 80, 1) for i, p in enumerate(low)])],
        time_signatures=[TimeSignature(0, 4, 4)])


@needs_model
def test_a_seed_of_forty_notes_at_once_is_said_and_left_alone(library):
    song = _two_parts()
    song.tracks.append(Track(name="Cluster", channel=2,
                             notes=[Note(p, 0, 2 * PPQ, 70, 2) for p in range(40, 80)]))
    before = snapshot(song)
    try:
        result = generate(library, song, bars=1)
    except GenerationError as e:
        assert str(e)
    else:
        said = " ".join(result.messages)
        assert "left out" in said and f"at most {E.max_voices} notes" in said, said
    assert snapshot(song) == before


@needs_model
def test_an_empty_part_is_said_and_left_alone(library):
    song = _two_parts()
    song.tracks.insert(1, Track(name="Empty", channel=3))
    before = snapshot(song)
    result = generate(library, song, bars=1)
    assert snapshot(song) == before
    assert "1 track without notes was left out." in result.messages
    for tracks in result.track_of:
        assert 1 not in tracks


@needs_model
def test_a_part_outside_the_models_range_is_said_and_left_alone(library):
    song = _two_parts(high=(115, 117, 119, 120), low=(36, 31, 36, 29))
    assert max(n.pitch for n in song.notes()) > E.max_pitch
    before = snapshot(song)
    try:
        result = generate(library, song, bars=1)
    except GenerationError as e:
        assert "range" in str(e)
    else:
        said = " ".join(result.messages)
        assert "range" in said, said
        assert all(0 <= n.pitch <= 127 for v in result.variations for n in v)
    assert snapshot(song) == before


@needs_model
def test_a_lone_part_entirely_above_the_range_is_moved_by_octaves_and_said(library):
    song = _two_parts()
    song.tracks = [Track(name="Piccolo", notes=[Note(p, i * PPQ, PPQ // 2)
                                                for i, p in enumerate((110, 112, 114, 115))]),
                   Track(name="Piccolo 2", channel=1,
                         notes=[Note(p, i * PPQ, PPQ // 2, 90, 1)
                                for i, p in enumerate((105, 107, 110, 112))])]
    before = snapshot(song)
    result = generate(library, song, bars=1)
    assert snapshot(song) == before
    assert any("outside the model's range" in m for m in result.messages), result.messages


@needs_model
def test_a_polyphonic_model_refuses_a_melody_only_harmonisation_of_an_empty_track(library):
    song = _two_parts()
    song.tracks.append(Track(name="Nothing"))
    with pytest.raises(GenerationError, match="melody to harmonise"):
        generate(library, song, harmonise_track=2)


# ---------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------


def run_main(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@needs_model
def test_cli_generate_and_harmonise_write_real_midi(tmp_path):
    from engine.formats import midi_file_to_song, song_to_midi_file

    seed = tmp_path / "two.mid"
    song = _two_parts()
    song_to_midi_file(song, seed)
    out = tmp_path / "continued.mid"
    proc = run_main("generate", "--seed", str(seed), "--model", POLY_MODEL,
                    "--models-dir", str(MODELS), "--bars", "2", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and "Traceback" not in proc.stderr
    back = midi_file_to_song(out)
    pitched = [t for t in back.tracks if t.notes]
    assert len(pitched) == 2
    for orig, t in zip(song.tracks, pitched):
        assert t.name == orig.name
        new = [n for n in t.notes if n.start_tick >= song.end_tick]
        assert tuples(t.notes) == sorted(tuples(orig.notes) + tuples(new))
        assert new, f"nothing new on {t.name}"
    assert max(n.end_tick for n in back.notes()) > song.end_tick

    melody = tmp_path / "melody.mid"
    song_to_midi_file(first_bars(chorale(), 4, tracks=[0]), melody)
    out = tmp_path / "harmonised.mid"
    proc = run_main("harmonise", str(melody), "--model", POLY_MODEL, "--models-dir",
                    str(MODELS), "--variations", "2", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    for k in (1, 2):
        path = tmp_path / f"harmonised-{k}.mid"
        assert path.exists(), proc.stdout
        back = midi_file_to_song(path)
        assert tuples(back.tracks[0].notes) == tuples(midi_file_to_song(melody).tracks[0].notes)
        assert len([t for t in back.tracks if t.notes]) >= 2


def _one_absurd_note_song() -> Song:
    """The 81-byte file's song: ppq 4, four short notes on one track and one note of
    0x0FFFFFFF ticks on another (its span is 67 million beats)."""
    melody = [Note(p, 2 * i, 2, 80) for i, p in enumerate([60, 62, 64, 65])]
    return Song(ppq=4, tracks=[Track("A", notes=melody),
                               Track("B", channel=1, notes=[Note(48, 0, 0x0FFFFFFF, 80, 1)])])


def test_a_seed_with_one_absurdly_long_note_is_continued_by_the_notes_not_the_span(library):
    """The seed's texture and the parts' rhythms are read from the primed window, so one
    note of 67 million beats costs no more than an ordinary seed (it hung, looping over
    every beat of it); in a child process with a hard timeout, so a regression fails
    instead of hanging the suite."""
    from engine.formats import song_to_midi_bytes

    code = ("import sys; from engine.formats import midi_file_to_song; "
            "from engine.generation.generator import GenerationSettings; "
            "from engine.generation.polyphony import generate_polyphony; "
            "from engine.models import ModelLibrary; "
            "song = midi_file_to_song(sys.stdin.buffer.read(), 'long.mid'); "
            "r = generate_polyphony(ModelLibrary(), song, GenerationSettings("
            "model='poly-wavenet', bars=2, variations=2, rng_seed=1)); "
            "print(r.start_tick, sum(map(len, r.variations)))")
    proc = subprocess.run([sys.executable, "-c", code], input=song_to_midi_bytes(
        _one_absurd_note_song()), capture_output=True, timeout=120,
        cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr.decode()
    start, notes = map(int, proc.stdout.split())
    assert start >= 0x0FFFFFFF and notes > 0


def test_a_fill_beside_an_absurdly_long_note_reads_a_window_of_it(tmp_path):
    """Filling bar 2 of every part while one part holds a note of 67 million beats: the
    parts' rhythms and crossings are read from a window around the gap (it looped over
    every step of the note, 10 GB and minutes)."""
    from engine.formats import song_to_midi_file

    seed = tmp_path / "long.mid"
    song_to_midi_file(_one_absurd_note_song(), seed)
    proc = subprocess.run([sys.executable, "main.py", "fill", "--model", POLY_MODEL, "--seed",
                           str(seed), "--from", "2", "--to", "2", "-o",
                           str(tmp_path / "out.mid")], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert "Filled 2 parts together" in proc.stderr and "Traceback" not in proc.stderr


def test_harmonising_a_song_of_thousands_of_tracks_names_a_few_and_counts_the_rest(library):
    """The voices are matched among the tracks nearest their registers only (the
    matching tries every choice), and a message names six tracks and counts the rest."""
    melody = [Note(72 + (i % 5), 480 * i, 480, 90) for i in range(8)]
    # each line plays under the first bar only: the voices write the second
    others = [Track(f"Line {k}", channel=k % 9, notes=[Note(40 + k % 30, 480 * i, 480, 80, k % 9)
                                                        for i in range(4)])
              for k in range(400)]
    song = Song(tracks=[Track("Melody", notes=melody), *others])
    result = generate(library, song, harmonise_track=0, bars=1, variations=1)
    assert result.variations[0]
    left = [m for m in result.messages if "left as they are" in m]
    assert left and "and 391 more" in left[0] and len(left[0]) < 400  # 397 left: 6 named


def test_a_melody_longer_than_a_generation_is_refused_before_it_is_laid_out(library):
    song = _one_absurd_note_song()
    with pytest.raises(GenerationError, match="harmonises up to 128 bars"):
        generate(library, song, harmonise_track=1)
