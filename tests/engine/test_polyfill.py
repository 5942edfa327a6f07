"""Filling a gap in every part at once with a polyphonic model (issue 13): the shipped
poly-wavenet through onnxruntime on Bach's chorale BWV 66.6 (music21's corpus, read
through engine.formats) and on a three-part song in C major; the fill's steps, the
notes outside the gap byte for byte in the saved MIDI, a note held into the gap, the
messages for bad gaps, the candidates' resampling, the service job and ``main.py fill``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.encodings.polyphony import STEP, playable_tracks
from engine.errors import GenerationError
from engine.formats import midi_file_to_song, song_to_midi_file
from engine.generation.fill import CANDIDATES, bar_range_ticks, fill
from engine.generation.generator import GenerationSettings
from engine.generation.polyfill import apply_parts, encode_gap, fill_polyphony
from engine.models import ModelLibrary
from engine.song import Note, Song, TimeSignature, Track
from tests.engine.part_models import MODELS, part_library

REPO = Path(__file__).resolve().parents[2]
POLY = "poly-wavenet"
TPB = 1920  # a 4/4 bar at 480 ppq


@pytest.fixture(scope="module")
def library() -> ModelLibrary:
    return part_library(POLY)


def chorale() -> Song:
    music21 = pytest.importorskip("music21", reason="music21 reads the Bach chorales")
    from engine.formats.scores import score_file_to_song

    return score_file_to_song(Path(music21.common.getCorpusFilePath()) / "bach/bwv66.6.mxl")


def three_parts() -> Song:
    """Four bars of C major in three parts; the bass's C from bar 2 beat 3 is held
    into bar 3 (to its beat 3)."""
    sop = [72, 74, 76, 77, 79, 77, 76, 74, 72, 74, 76, 79, 77, 76, 74, 72]
    alto = [64, 65, 67, 65, 64, 65, 67, 64]
    bass = [(48, 0, 960), (43, 960, 960), (41, 1920, 960), (48, 2880, 1920),
            (43, 4800, 960), (41, 5760, 960), (43, 6720, 960)]
    return Song(ppq=480, time_signatures=[TimeSignature(0, 4, 4)], tracks=[
        Track("Soprano", 0, 73, notes=[Note(p, i * 480, 480, 90, 0) for i, p in enumerate(sop)]),
        Track("Alto", 1, 71, notes=[Note(p, i * 960, 960, 80, 1) for i, p in enumerate(alto)]),
        Track("Bass", 2, 70, notes=[Note(p, s, d, 85, 2) for p, s, d in bass])])


def settings(**kw) -> GenerationSettings:
    base = dict(model=POLY, variations=3, rng_seed=5, temperature=1.0)
    base.update(kw)
    return GenerationSettings(**base)


def outside(song: Song, start: int, end: int):
    return [(t.name, t.channel, t.program,
             [(n.pitch, n.start_tick, n.duration_ticks, n.velocity, n.channel)
              for n in t.sorted_notes() if not start <= n.start_tick < end])
            for t in song.tracks]


def test_the_gap_is_written_step_for_step_and_nothing_outside_it_changes(library, tmp_path):
    song = chorale()
    start, end = bar_range_ticks(song, 3, 4)
    result = fill(library, song, settings(), start_tick=start, end_tick=end, track_index=0)
    steps = (end - start) // (song.ppq // 4)
    assert result.steps == steps == 32 and result.start_tick == start
    assert len(result.variations) == 3 and len(result.track_of) == 3
    saved = tmp_path / "seed.mid"
    song_to_midi_file(song, saved)
    before = outside(midi_file_to_song(saved), start, end)
    for i, (notes, tracks) in enumerate(zip(result.variations, result.track_of)):
        assert sum(t == STEP for t in result.tokens[i]) == steps
        assert notes and all(start <= n.start_tick and n.end_tick <= end for n in notes)
        assert set(tracks) <= set(playable_tracks(song)) and len(set(tracks)) >= 3
        assert all(n.channel == song.tracks[t].channel for n, t in zip(notes, tracks))
        path = tmp_path / f"filled-{i}.mid"
        song_to_midi_file(apply_parts(song, start, end, notes, tracks), path)
        back = midi_file_to_song(path)
        assert outside(back, start, end) == before
        inside = sorted((n.pitch, n.start_tick, n.duration_ticks)
                        for t in back.tracks for n in t.notes if start <= n.start_tick < end)
        assert inside == sorted((n.pitch, n.start_tick, n.duration_ticks) for n in notes)


def test_the_same_settings_give_the_same_notes(library):
    song = chorale()
    start, end = bar_range_ticks(song, 3, 4)
    a = fill_polyphony(library, song, settings(), start_tick=start, end_tick=end)
    b = fill_polyphony(library, song, settings(), start_tick=start, end_tick=end)
    c = fill_polyphony(library, song, settings(rng_seed=6), start_tick=start, end_tick=end)
    assert a.variations == b.variations and a.track_of == b.track_of
    assert a.variations != c.variations


def test_a_note_sounding_into_the_gap_is_kept_and_held(library):
    song = three_parts()
    start, end = TPB * 2, TPB * 3  # bar 3; the bass's C (48) sounds to its beat 3
    enc = library.get(POLY).encoding
    result = fill(library, song, settings(variations=4), start_tick=start, end_tick=end)
    assert result.key.name == "C"  # model space is the song's own: HOLD(48) is the C's
    for notes, tokens, tracks in zip(result.variations, result.tokens, result.track_of):
        steps, step = [], []
        for t in tokens:
            step.append(t)
            if t == STEP:
                steps.append(step)
                step = []
        assert len(steps) == 16
        assert all(enc.hold(48) in s and enc.new(48) not in s for s in steps[:8])
        assert enc.hold(48) not in steps[8]  # not held on after it ended
        # nothing new starts at that pitch while it sounds
        assert not [n for n in notes if n.pitch == 48 and n.start_tick < 2880 + 1920]
        filled = apply_parts(song, start, end, notes, tracks)
        assert Note(48, 2880, 1920, 85, 2) in filled.tracks[2].notes
        assert outside(filled, start, end) == outside(song, start, end)


def test_bad_gaps_get_a_clear_message(library):
    song = chorale()
    start, end = bar_range_ticks(song, 3, 4)
    with pytest.raises(GenerationError, match="the gap is empty"):
        fill(library, song, settings(), start_tick=start, end_tick=start)
    with pytest.raises(GenerationError, match="after the end of the song"):
        fill(library, song, settings(), start_tick=40 * TPB, end_tick=41 * TPB)
    with pytest.raises(GenerationError, match="no notes to fill between"):
        fill(library, Song(tracks=[Track("Empty")]), settings(), start_tick=0, end_tick=TPB)
    with pytest.raises(GenerationError, match="nothing comes before the gap"):
        fill(library, song, settings(), start_tick=0, end_tick=TPB)
    with pytest.raises(GenerationError, match="holds no step"):
        fill(library, song, settings(), start_tick=start + 1, end_tick=start + 60)


def test_the_resampling_favours_fills_that_lead_into_the_music_after_the_gap(library):
    """Every variation is one of its group's candidates; the model finds the first
    step with onsets after the gap likelier after the chosen ones than after the
    others (scored here independently, by the sequence graph over the whole prime,
    candidate and junction)."""
    song = chorale()
    start, end = bar_range_ticks(song, 3, 4)
    model = library.get(POLY)
    chosen = fill(library, song, settings(variations=8), start_tick=start, end_tick=end)
    every = fill_polyphony(library, song, settings(variations=8), start_tick=start,
                           end_tick=end, candidates=True)
    assert len(every.tokens) == 8 * CANDIDATES
    gap = encode_gap(model.encoding, song, start, end, chosen.key)
    assert gap.junction and any(model.encoding.onset_mask[t] for t in gap.junction)

    def junction_logp(row: list[int]) -> float:
        seq = np.array(gap.prime + row + gap.junction)
        logits = model.sequence_logits(seq[None, :-1])[0].astype(np.float64)
        at = len(seq) - len(gap.junction) - 1
        z = logits[at:]
        log_z = z.max(axis=1) + np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1))
        return float((z[np.arange(len(gap.junction)), gap.junction] - log_z).sum())

    scores = np.array([junction_logp(r) for r in every.tokens]).reshape(8, CANDIDATES)
    picked = []
    for g, row in enumerate(chosen.tokens):
        group = every.tokens[g * CANDIDATES:(g + 1) * CANDIDATES]
        assert row in group
        picked.append(group.index(row))
    chosen_scores = scores[np.arange(8), picked]
    others = np.ma.masked_array(scores, mask=np.eye(CANDIDATES, dtype=bool)[picked])
    assert chosen_scores.mean() > others.mean() + 1.0, (chosen_scores, scores)


def test_the_service_runs_a_polyphonic_fill_of_every_part(library):
    from engine.generation.service import Generate, Result, decode, encode, generate_outcome

    song = chorale()
    start, end = bar_range_ticks(song, 3, 4)
    request = decode(encode(Generate(1, [str(MODELS)], song, settings(), 2, start, end,
                                     polyphonic=True)))
    outcome = generate_outcome(library, request)
    assert isinstance(outcome, Result), outcome
    direct = fill_polyphony(library, song, settings(), start_tick=start, end_tick=end)
    assert outcome.result.variations == direct.variations
    assert outcome.result.track_of == direct.track_of


def test_cli_fill_with_a_polyphonic_model_writes_every_part(tmp_path):
    seed, out = tmp_path / "chorale.mid", tmp_path / "filled.mid"
    song_to_midi_file(chorale(), seed)
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), "fill", "--model", POLY,
                           "--models-dir", str(MODELS), "--seed", str(seed), "--from", "3",
                           "--to", "4", "--variations", "2", "-o", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "on 4 tracks" in proc.stdout
    original = midi_file_to_song(seed)
    start, end = bar_range_ticks(original, 3, 4)
    for k in (1, 2):
        back = midi_file_to_song(tmp_path / f"filled-{k}.mid")
        assert outside(back, start, end) == outside(original, start, end)
        filled = [t for t in back.tracks
                  if any(start <= n.start_tick < end for n in t.notes)]
        assert len(filled) >= 3
