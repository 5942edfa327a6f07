"""Suggesting chords for a melody (engine/generation/progressions.py) with the shipped
progression model, a style folder's own counts, and ``main.py chords --suggest``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.encodings.chords import chord_at, parse_chord
from engine.errors import EncodingError, ModelError
from engine.formats import midi_file_to_song, song_to_midi_file
from engine.generation import progressions as P
from engine.song import Chord, Note, Song, TimeSignature, Track, melody_song

ROOT = Path(__file__).resolve().parents[2]
Q = 480


def arpeggios(bars: list[tuple[int, ...]], octave: int = 72) -> Song:
    """A melody that spells one triad a bar in quarter notes (the root twice)."""
    notes = []
    for b, tones in enumerate(bars):
        for i, pc in enumerate((tones[0], tones[1], tones[2], tones[0])):
            notes.append(Note(octave + pc - (12 if pc > 7 else 0), (4 * b + i) * Q, Q))
    return melody_song(notes, ppq=Q)


C, F, G, AM = (0, 4, 7), (5, 9, 0), (7, 11, 2), (9, 0, 4)


def test_the_shipped_model_loads_with_its_card():
    model = P.load_model()
    assert model.card["command"].startswith("python -m training progressions")
    figures = model.card["figures"]["test_four_part_chorales"]
    assert set(figures) == set(P.UNITS)
    assert model.counts.pieces > 100
    assert all(w > 0 for w in model.fit_weight.values())


def test_a_melody_that_spells_its_chords_gets_them():
    song = arpeggios([C, F, G, C, AM, F, G, C])
    chords = P.suggest_chords(song, per="bar")
    roots = [chord_at(chords, b * 4 * Q).root_pc for b in range(8)]
    assert roots == [0, 5, 7, 0, 9, 5, 7, 0]
    assert chord_at(chords, 4 * 4 * Q).quality in ("m", "m7")  # A minor, not A major
    assert chords[0].tick == 0
    assert all(a.symbol != b.symbol for a, b in zip(chords, chords[1:]))  # changes only


def test_per_half_bar_and_beat_change_no_more_often_than_asked():
    song = arpeggios([C, F, G, C])
    bar_starts = {b * 4 * Q for b in range(4)}
    half = P.suggest_chords(song, per="half")
    assert {c.tick for c in half} <= bar_starts | {t + 2 * Q for t in bar_starts}
    beat = P.suggest_chords(song, per="beat")
    assert all(c.tick % Q == 0 for c in beat)
    with pytest.raises(EncodingError, match="per beat, half, bar"):
        P.suggest_chords(song, per="fortnight")


def test_the_melody_is_the_top_line_of_a_song_with_a_bass():
    song = arpeggios([C, F, G, C])
    song.tracks.append(Track("Bass", notes=[Note(36 + 7, b * 4 * Q, 4 * Q) for b in range(4)]))
    roots = [chord_at(P.suggest_chords(song), b * 4 * Q).root_pc for b in range(4)]
    assert roots == [0, 5, 7, 0]


def test_a_three_four_melody_gets_a_chord_a_bar():
    notes = [Note(72 + pc - (12 if pc > 7 else 0), (3 * b + i) * Q, Q)
             for b, tones in enumerate([C, G, G, C]) for i, pc in enumerate(tones)]
    song = melody_song(notes, ppq=Q, time_signature=(3, 4))
    chords = P.suggest_chords(song, per="bar")
    assert {c.tick % (3 * Q) for c in chords} == {0}
    assert [chord_at(chords, b * 3 * Q).root_pc for b in range(4)] == [0, 7, 7, 0]


def test_next_chords_ranks_the_chord_that_resolves():
    song = arpeggios([C, F, G, C])
    song.chords = [Chord(0, "C"), Chord(4 * Q, "F"), Chord(8 * Q, "G7")]
    ranked = P.next_chords(song, 12 * Q, k=5)
    assert len(ranked) == 5
    assert ranked[0][0] == "C"
    probs = [p for _, p in ranked]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-9
    assert all(parse_chord(s) for s, _ in ranked)


def test_next_chords_hears_the_chord_before():
    song = arpeggios([C, C, C, C])
    song.tracks[0].notes[:] = [n for n in song.tracks[0].notes if n.start_tick < 12 * Q]
    after_g7 = dict(P.next_chords(replace_chords(song, [Chord(8 * Q, "G7")]), 12 * Q, k=108))
    after_c = dict(P.next_chords(replace_chords(song, [Chord(8 * Q, "C")]), 12 * Q, k=108))
    assert after_g7["C"] > after_c["C"]  # V7 goes to I more than I stays (silence: no melody)
    with pytest.raises(EncodingError, match="tick"):
        P.next_chords(song, -1)


def replace_chords(song: Song, chords: list[Chord]) -> Song:
    out = song.copy()
    out.chords = chords
    return out


def c_and_ab(transpose: int) -> Song:
    """Sixteen bars that go C, Ab, C, Ab ... (I to bVI: a move the chorales rarely
    make), the triad on top and the root in the bass."""
    tracks = [Track("Top", notes=[]), Track("Bass", notes=[])]
    for b in range(16):
        root, tones = (0, (0, 4, 7)) if b % 2 == 0 else (8, (8, 0, 3))
        for i, pc in enumerate(tones):
            tracks[0].notes.append(Note(72 + (pc + transpose) % 12, (4 * b + i) * Q, Q))
        tracks[1].notes.append(Note(36 + (root + transpose) % 12, 4 * b * Q, 4 * Q))
    return Song(ppq=Q, tracks=tracks, time_signatures=[TimeSignature(0, 4, 4)])


def test_a_style_folder_adds_its_own_progressions(tmp_path):
    for k in range(3):
        song_to_midi_file(c_and_ab(k), tmp_path / f"piece{k}.mid")
    (tmp_path / "notes.txt").write_text("not music")
    counts = P.style_counts(tmp_path)
    assert counts.pieces == 3
    assert counts.pairs["bar"]["major"].sum() + counts.pairs["bar"]["minor"].sum() >= 3 * 16
    # the first piece's top line, its chords so far, and the bar after it: what comes
    # after C is Ab far more often with the style than without
    song = c_and_ab(0)
    song.tracks = song.tracks[:1]
    song.chords = [Chord(4 * b * Q, "C" if b % 2 == 0 else "Ab") for b in range(16)]
    song.tracks[0].notes[:] = [n for n in song.tracks[0].notes if n.start_tick < 15 * 4 * Q]
    plain = dict(P.next_chords(song, 15 * 4 * Q, k=P.N_CHORDS))
    styled = dict(P.next_chords(song, 15 * 4 * Q, k=P.N_CHORDS, style=tmp_path))
    assert styled["Ab"] > 3 * plain["Ab"]
    assert max(styled, key=styled.get) == "Ab"
    with pytest.raises(ModelError, match="does not exist"):
        P.style_counts(tmp_path / "nowhere")


def test_no_melody_and_a_bad_model_say_so(tmp_path):
    with pytest.raises(EncodingError, match="no melody"):
        P.suggest_chords(Song(ppq=Q, tracks=[Track("Empty")]))
    bad = tmp_path / "progressions.json"
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ModelError, match="not a progression model"):
        P.load_model(bad)
    with pytest.raises(ModelError, match="no progression model"):
        P.load_model(tmp_path / "missing.json")


def test_main_chords_suggest_prints_and_writes_the_chord_track(tmp_path):
    melody = tmp_path / "melody.mid"
    song_to_midi_file(arpeggios([C, F, G, C]), melody)
    out = tmp_path / "with-chords.mid"
    run = subprocess.run([sys.executable, str(ROOT / "main.py"), "chords", "--suggest",
                          str(melody), "--json", "-o", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [r["symbol"][0] for r in rows] == ["C", "F", "G", "C"]
    back = midi_file_to_song(out)
    assert [c.symbol for c in back.chords] == [r["symbol"] for r in rows]
    assert back.tracks[0].notes == midi_file_to_song(melody).tracks[0].notes
    text = subprocess.run([sys.executable, str(ROOT / "main.py"), "chords", "--suggest",
                           str(melody), "--per", "half"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert text.returncode == 0 and text.stdout.startswith("bar   1: C")
    wrong = subprocess.run([sys.executable, str(ROOT / "main.py"), "chords", str(melody),
                            "-o", str(out)], capture_output=True, text=True, cwd=ROOT,
                           timeout=300)
    assert wrong.returncode != 0 and "go with --suggest" in wrong.stderr


# ---- the root classifier (a chord a beat) ------------------------------------------------

def test_root_examples_are_written_above_the_tonic_whatever_the_key():
    mode, rel, strengths, roots = P.root_examples(c_and_ab(0))
    assert rel.shape == (len(roots), 24) and len(strengths) == len(roots)
    assert list(strengths[:4]) == [2, 0, 1, 0]  # 4/4: a bar line, a beat, a half bar, a beat
    chorded = roots[roots >= 0]
    assert len(chorded) >= 60 and set((chorded - chorded[0]) % 12) == {0, 8}  # C, Ab
    features = P.root_features(rel, strengths)
    assert features.shape == (len(roots), P.N_ROOT_FEATURES)
    assert (features[:, -1] == 1).all()  # the constant is the last column
    for shift in (2, 7):  # the same tune in another key: the same examples
        mode_t, rel_t, strengths_t, roots_t = P.root_examples(c_and_ab(shift))
        assert mode_t == mode and (roots_t == roots).all()
        assert np.allclose(P.root_features(rel_t, strengths_t), features)


def test_the_shipped_root_classifier_hears_a_cadence():
    """Mi re do in C major, the do held: the classifier names V under the re and I under
    the held do (roots above the tonic), and a chord a beat ends G C."""
    model = P.load_model()
    assert model.roots is not None and model.roots.weight > 0
    notes = [Note(p, i * Q, Q) for i, p in enumerate([67, 72, 71, 72, 76, 74])]
    notes.append(Note(72, 6 * Q, 2 * Q))
    song = melody_song(notes, ppq=Q)
    units = P.melody_units(song, "beat")
    features = P.root_features(P.above_tonic(units.weights, 0), units.strengths)
    probs = model.roots.log_probs(features, "major")
    assert probs[5].argmax() == 7 and probs[6].argmax() == 0
    chords = P.suggest_chords(song, per="beat", model=model)
    assert [chord_at(chords, t * Q).root_pc for t in (5, 6)] == [7, 0]


def test_the_root_classifier_is_written_read_and_refused_when_unreadable():
    model = P.load_model()
    data = json.loads(json.dumps(model.to_json()))
    back = P.model_from_json(data, "copy")
    song = arpeggios([C, F, G, C, AM, F, G, C])
    assert P.suggest_chords(song, "beat", model=back) == P.suggest_chords(song, "beat", model=model)
    older = {k: v for k, v in data.items() if k != "root_classifier"}
    older["version"] = 2  # a model from before the classifier: the progressions alone
    assert P.model_from_json(older, "older").roots is None
    wrong = json.loads(json.dumps(data))
    wrong["root_classifier"]["features"] = 99
    with pytest.raises(ModelError, match="layout 99"):
        P.model_from_json(wrong, "wrong")
    short = json.loads(json.dumps(data))
    short["root_classifier"]["minor"]["weights"] = [0.5, 1.0]
    with pytest.raises(ModelError, match="root classifier cannot be read"):
        P.model_from_json(short, "short")
    with pytest.raises(ModelError, match="versions 2, 3"):
        P.model_from_json({**data, "version": 1}, "old")


def test_a_style_folder_still_moves_a_chord_a_beat(tmp_path):
    """The classifier is the corpus's; a style folder's progressions still count with it
    (the same classifier, other chords)."""
    for k in range(3):
        song_to_midi_file(c_and_ab(k), tmp_path / f"piece{k}.mid")
    song = c_and_ab(0)
    song.tracks = song.tracks[:1]
    model = P.load_model()
    styled_model = model.with_style(P.style_counts(tmp_path))
    assert styled_model.roots is model.roots is not None
    plain = P.suggest_chords(song, per="beat", model=model)
    styled = P.suggest_chords(song, per="beat", style=tmp_path)
    assert styled == P.suggest_chords(song, per="beat", model=styled_model)
    assert styled != plain
