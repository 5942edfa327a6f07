"""Follow chords: the chart parser, the setting, strict on real models (melody, parts,
harmonise, fill, Regenerate Part), loose, off untouched, scoring with chords, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.cli.common import seed_end
from engine.encodings.chord_chart import chart_to_chords, parse_chart, with_chart
from engine.encodings.chords import chord_at, parse_chord
from engine.errors import EncodingError, GenerationError
from engine.formats.midi import midi_file_to_song
from engine.generation import jobs
from engine.generation.constraints.chords import chord_plan
from engine.generation.mixers.chords import score_with_chords
from engine.generation.request import GenerationRequest, GenerationSettings
from engine.models import ModelLibrary
from engine.resources import default_seed
from engine.song import Note, Song, TimeSignature, Track

ROOT = Path(__file__).resolve().parents[2]
CHART = "G | Em | C D7 | G | C | Am7 | D7 | G"


@pytest.fixture(scope="module")
def library():
    return ModelLibrary()


@pytest.fixture(scope="module")
def seed():
    return midi_file_to_song(default_seed())


def strong_beat_tones(song: Song, notes) -> tuple[int, int]:
    """(chord tones, notes) among the notes that start on a beat where a chord sounds."""
    tones = total = 0
    for n in notes:
        if song.bar_beat_at(n.start_tick)[2] != 0:
            continue
        chord = chord_at(song.chords, n.start_tick)
        if chord is None:
            continue
        total += 1
        tones += n.pitch % 12 in chord.pitch_classes
    return tones, total


def run(library, song, job="continue", **settings):
    settings.setdefault("variations", 4)
    settings.setdefault("rng_seed", 5)
    track = settings.pop("track", None)
    start, end = settings.pop("start_tick", None), settings.pop("end_tick", None)
    return jobs.run(library, song, GenerationRequest(job, GenerationSettings(**settings),
                                                     track, start, end))


# ---- the chart ----------------------------------------------------------------------


def test_a_chart_is_bars_of_chords_that_split_each_bar_evenly():
    bars = parse_chart("C | Am | F G7 | % | C")
    assert [[str(c) for c in bar] for bar in bars] == \
        [["C"], ["Am"], ["F", "G7"], ["F", "G7"], ["C"]]
    song = Song(time_signatures=[TimeSignature(0, 4, 4)])
    bar = song.ticks_per_bar_at(0)
    chords = chart_to_chords(bars, song, bar + 10)  # from bar 2, where the tick falls
    assert [(c.tick, c.symbol) for c in chords] == [
        (bar, "C"), (2 * bar, "Am"), (3 * bar, "F"), (3 * bar + bar // 2, "G7"),
        (4 * bar, "F"), (4 * bar + bar // 2, "G7"), (5 * bar, "C")]


def test_a_chart_in_three_four_splits_its_bar_in_thirds():
    song = Song(time_signatures=[TimeSignature(0, 3, 4)])
    chords = chart_to_chords(parse_chart("C F G"), song, 0)
    assert [c.tick for c in chords] == [0, song.ppq, 2 * song.ppq]


def test_a_chart_keeps_the_songs_own_chords_before_it(seed):
    from engine.song import Chord

    song = seed.copy()
    song.chords = [Chord(0, "G"), Chord(song.ticks_per_bar_at(0) * 3, "Bm")]
    out = with_chart(song, parse_chart("C | D"), song.ticks_per_bar_at(0) * 2)
    assert [c.symbol for c in out.chords] == ["G", "C", "D"]
    assert song.chords[1].symbol == "Bm"  # the song itself unchanged


@pytest.mark.parametrize("chart, words", [
    ("C | Hm | G", ["bar 2", "'Hm'"]),
    ("C || G", ["bar 2", "empty"]),
    ("% | C", ["bar 1", "repeat"]),
    ("", ["empty"]),
    ("C | Fmaj7x", ["bar 2", "Fmaj7x"]),
])
def test_a_bad_chart_names_the_bar_and_the_symbol(chart, words):
    with pytest.raises(EncodingError) as e:
        parse_chart(chart)
    for w in words:
        assert w in str(e.value)


def test_follow_chords_is_off_loose_or_strict():
    for value in ("off", "loose", "strict"):
        GenerationSettings(follow_chords=value).validate()
    with pytest.raises(GenerationError, match="off, loose or strict, not 'sometimes'"):
        GenerationRequest(settings=GenerationSettings(follow_chords="sometimes"))


# ---- what a chord tone is ------------------------------------------------------------


def test_chord_tones_of_sevenths_sus_and_slash_chords(library):
    enc = library.get("lstm").encoding
    song = Song()
    for symbol, tones in (("C7", {0, 4, 7, 10}), ("Csus4", {0, 5, 7}), ("C/Bb", {0, 4, 7, 10}),
                          ("Am7b5", {9, 0, 3, 7}), ("C9", {0, 4, 7, 10, 2})):
        song.chords = with_chart(song, parse_chart(symbol), 0).chords
        plan = chord_plan(song, enc, 0, 4, transpose=0)
        assert set(np.nonzero(plan.tones[0])[0]) == tones, symbol
        moved = chord_plan(song, enc, 0, 4, transpose=2)  # the model's key, two up
        assert set(np.nonzero(moved.tones[0])[0]) == {(t + 2) % 12 for t in tones}
    song.chords = with_chart(song, parse_chart("C/E"), 0).chords
    assert chord_plan(song, enc, 0, 4, 0).bass[0] == 4
    assert list(chord_plan(song, enc, 0, 8, 0).strong) == [True, False, False, False] * 2


# ---- strict on the real models ------------------------------------------------------


@pytest.mark.parametrize("model", ["lstm", "wavenet", "poly-lstm"])
def test_strict_puts_every_strong_beat_on_a_chord_tone(library, seed, model):
    song = with_chart(seed, parse_chart(CHART), seed_end(seed))
    result = run(library, song, model=model, bars=8, follow_chords="strict")
    for notes in result.variations:
        tones, total = strong_beat_tones(song, notes)
        assert total >= 8 and tones == total
    off = run(library, song, model=model, bars=8)
    tones, total = np.sum([strong_beat_tones(song, v) for v in off.variations], axis=0)
    assert tones < total  # without following, the model strays from this chart


def test_strict_notes_between_beats_pass_by_step(library, seed):
    song = with_chart(seed, parse_chart(CHART), seed_end(seed))
    result = run(library, song, model="lstm", bars=8, follow_chords="strict")
    for notes in result.variations:
        notes = sorted(notes, key=lambda n: n.start_tick)
        for before, n in zip(notes, notes[1:]):
            if song.bar_beat_at(n.start_tick)[2] == 0:
                continue
            if n.pitch % 12 not in chord_at(song.chords, n.start_tick).pitch_classes:
                assert abs(n.pitch - before.pitch) <= 2, (before, n)


def test_off_leaves_the_music_as_it_was_with_a_chord_track(library, seed):
    song = with_chart(seed, parse_chart(CHART), seed_end(seed))
    for model in ("lstm", "poly-lstm"):
        a = run(library, seed, model=model, bars=4)
        b = run(library, song, model=model, bars=4, follow_chords="off")
        assert a.tokens == b.tokens and a.variations == b.variations


def test_loose_raises_the_share_of_chord_tones(library, seed):
    song = with_chart(seed, parse_chart(CHART), seed_end(seed))
    for model in ("lstm", "poly-lstm"):
        share = {}
        for mode in ("off", "loose"):
            counts = [strong_beat_tones(song, v) for seed_ in (1, 2) for v in
                      run(library, song, model=model, bars=8, follow_chords=mode,
                          rng_seed=seed_).variations]
            tones, total = np.sum(counts, axis=0)
            share[mode] = tones / total
        assert share["loose"] > share["off"] + 0.1, share


def chorale_soprano():
    """A soprano line in G (two phrases of quarters and halves)."""
    pitches = [67, 67, 69, 71, 72, 71, 69, 67, 71, 72, 74, 72, 71, 69, 67, 67]
    notes, t = [], 0
    for i, p in enumerate(pitches):
        d = 960 if i in (7, 15) else 480
        notes.append(Note(p, t, d, 80))
        t += d
    return Song(tracks=[Track(name="Soprano", notes=notes)],
                time_signatures=[TimeSignature(0, 4, 4)])


def test_harmonise_to_my_chords_puts_the_bass_on_the_chords_bass_note(library):
    melody = chorale_soprano()
    song = with_chart(melody, parse_chart("G | C/E G/D | C D | G | Em | C/E D | G D7 | G"), 0)
    result = run(library, song, "harmonise", model="poly-lstm", track=0,
                 follow_chords="strict")
    bass_track = max(set(result.track_of[0]))  # the new voices: alto, tenor, bass
    checked = 0
    for notes, tracks in zip(result.variations, result.track_of):
        for n, t in zip(notes, tracks):
            if t != bass_track or song.bar_beat_at(n.start_tick)[2] != 0:
                continue
            chord = chord_at(song.chords, n.start_tick)
            assert n.pitch % 12 == chord.bass_pc, (n, chord)
            checked += 1
        tones, total = strong_beat_tones(song, notes)
        assert tones == total
    assert checked >= 8


def test_a_melody_fill_follows_chords_strictly(library, seed):
    bar = seed.ticks_per_bar_at(0)
    song = with_chart(seed, parse_chart("C | F G7"), bar)
    result = run(library, song, "fill", model="lstm-fill", start_tick=bar, end_tick=3 * bar,
                 follow_chords="strict", track=0)
    for notes in result.variations:
        tones, total = strong_beat_tones(song, notes)
        assert total >= 2 and tones == total


def test_a_part_fill_and_regenerate_part_follow_chords_strictly(library, seed):
    bar = seed.ticks_per_bar_at(0)
    song = with_chart(seed, parse_chart("C | F G7"), bar)
    fill = run(library, song, "fill", model="poly-lstm", start_tick=bar, end_tick=3 * bar,
               follow_chords="strict")
    regen = run(library, song, "regenerate", model="poly-lstm", track=1, start_tick=bar,
                end_tick=3 * bar, follow_chords="strict", memory=False)
    for result in (fill, regen):
        for notes in result.variations:
            tones, total = strong_beat_tones(song, [n for n in notes
                                                    if bar <= n.start_tick < 3 * bar])
            assert total >= 2 and tones == total


# ---- scoring -------------------------------------------------------------------------


def test_scoring_with_no_bias_is_the_models_own_score(library, seed):
    song = with_chart(seed, parse_chart("G | G | C | D"), 0)
    for name in ("lstm", "poly-lstm"):
        model = library.get(name)
        plain = model.score_tokens(model.encoding.song_to_tokens(song))
        bits, tokens, notes = score_with_chords(model, song, bias=0.0)
        assert (tokens, notes) == plain[1:] and bits == pytest.approx(plain[0], rel=1e-9)
        assert score_with_chords(model, song)[0] != pytest.approx(plain[0], rel=1e-6)


# ---- the command line ----------------------------------------------------------------


def cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_generate_with_a_chart_on_the_command_line(tmp_path, seed):
    out = tmp_path / "out.mid"
    proc = cli("generate", "--seed", str(default_seed()), "--model", "lstm", "--bars", "4",
               "--chords", "C | Am | F G7 | C", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    written = midi_file_to_song(out)
    start = seed_end(seed)
    song = with_chart(written, parse_chart("C | Am | F G7 | C"), start)
    new = [n for t in written.tracks for n in t.notes if n.start_tick >= start]
    tones, total = strong_beat_tones(song, new)
    assert total >= 4 and tones == total


def test_a_bad_chart_on_the_command_line_is_one_line(tmp_path):
    proc = cli("generate", "--seed", str(default_seed()), "--chords", "C | Xm7", "-o",
               str(tmp_path / "o.mid"))
    assert proc.returncode == 1
    assert "bar 2 of the chord chart" in proc.stderr and "'Xm7'" in proc.stderr
    proc = cli("harmonise", str(default_seed()), "--follow-chords", "strict", "-o",
               str(tmp_path / "h.mid"))
    assert proc.returncode == 1 and "has none: give a chart with --chords" in proc.stderr


def test_score_follow_chords_loose_scores_with_the_detected_chords(library, seed):
    import json

    from engine.encodings.chords import chord_track, detect_chords

    proc = cli("score", "--model", "poly-lstm", "--follow-chords", "loose",
               str(default_seed()))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert "detected from its parts" in report["follow_chords"]
    song = seed.copy()
    song.chords = chord_track(detect_chords(seed))
    bits, _, notes = score_with_chords(library.get("poly-lstm"), song)
    assert report["notes"] == notes and report["total_bits"] == pytest.approx(bits)


def test_strict_steers_parts_written_voice_blind_from_nothing(library):
    song = with_chart(Song(), parse_chart("C | Am | F G7 | C"), 0)  # no notes: voice-blind
    result = run(library, song, model="poly-lstm", bars=4, follow_chords="strict")
    tones, total = np.sum([strong_beat_tones(song, v) for v in result.variations], axis=0)
    assert total >= 8 and tones == total


def test_the_helper_process_follows_the_songs_chords(library, seed):
    """The GUI's path: the song (with its chord track) travels to the generation
    service and the job there follows it as here."""
    from engine.generation.service import GenerationService, Result

    song = with_chart(seed, parse_chart(CHART), seed_end(seed))
    settings = GenerationSettings(model="lstm", bars=4, variations=2, rng_seed=3,
                                  follow_chords="strict")
    here = run(library, song, model="lstm", bars=4, variations=2, rng_seed=3,
               follow_chords="strict")
    service = GenerationService()
    try:
        there = service.run(library.folders, song, settings)
    finally:
        service.close()
    assert isinstance(there, Result), there
    assert there.result.variations == here.variations
    for notes in there.result.variations:
        tones, total = strong_beat_tones(song, notes)
        assert total >= 4 and tones == total
