"""Regenerate Part (issue 26): one track written anew by the shipped poly-wavenet while
every other track stays note for note, byte for byte in the saved MIDI; a range of bars
or the whole part; a melody over the parts that stay; the request, the clear sentences
for a bad track, an empty range, a drum track and a melody model; the service job and
``main.py generate --only-part``."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from engine.encodings.polyphony import STEP
from engine.errors import GenerationError
from engine.formats import midi_file_to_song, song_to_midi_bytes, song_to_midi_file
from engine.generation import jobs
from engine.generation.fill import bar_range_ticks
from engine.generation.constraints import StepContext
from engine.generation.constraints.grammar import PartGrammarConstraint
from engine.generation.jobs.regenerate import (FixedParallels, apply_part, part_range,
                                               regeneration)
from engine.generation.parts_song import POLYPHONIC_DEFAULTS
from engine.generation.request import REGENERATE, GenerationRequest, GenerationSettings
from engine.generation.sampler import Sampler
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
    """Eight bars of C major in four voices, a chord a half note (I IV V I ...); the
    bass's last note of bar 2 is held into bar 3."""
    chords = [(72, 67, 64, 48), (72, 69, 65, 53), (71, 67, 62, 55), (72, 67, 64, 48),
              (74, 69, 65, 50), (71, 67, 62, 55), (76, 67, 60, 48), (74, 67, 65, 55),
              (72, 64, 67, 57), (72, 69, 65, 53), (74, 67, 65, 55), (71, 67, 62, 55),
              (72, 67, 64, 48), (69, 65, 60, 53), (71, 67, 62, 55), (72, 64, 55, 48)]
    names = ("Soprano", "Alto", "Tenor", "Bass")
    tracks = [Track(name, i, 52, notes=[]) for i, name in enumerate(names)]
    for k, chord in enumerate(chords):
        for v, p in enumerate(chord):
            if v == 3 and k == 3:  # held on from bar 2 into bar 3
                tracks[3].notes.append(Note(p, k * 960, 1440, 80, 3))
                continue
            if v == 3 and k == 4:
                tracks[3].notes.append(Note(p, k * 960 + 480, 480, 80, 3))
                continue
            tracks[v].notes.append(Note(p, k * 960, 960, 90 - 5 * v, v))
    return Song(ppq=480, time_signatures=[TimeSignature(0, 4, 4)], tracks=tracks)


def melody_over_chords() -> Song:
    """A melody (track 1) over a track of three-note chords and a bass, four bars."""
    tune = [72, 74, 76, 77, 79, 77, 76, 74, 72, 71, 72, 74, 76, 74, 72, 72]
    chords = [(64, 67, 60), (65, 69, 60), (62, 67, 65), (64, 67, 60)]
    bass = [48, 53, 43, 48]
    return Song(ppq=480, time_signatures=[TimeSignature(0, 4, 4)], tracks=[
        Track("Tune", 0, 73, notes=[Note(p, i * 480, 480, 96, 0) for i, p in enumerate(tune)]),
        Track("Piano", 1, 0, notes=[Note(p, b * TPB + h * 960, 960, 70, 1)
                                    for b, c in enumerate(chords) for h in range(2)
                                    for p in c]),
        Track("Bass", 2, 32, notes=[Note(p, b * TPB, TPB, 80, 2) for b, p in enumerate(bass)]),
        Track("Drums", 9, 0, True, notes=[Note(36 + 2 * (i % 2), i * 480, 120, 100, 9)
                                    for i in range(16)])])


def settings(**kw) -> GenerationSettings:
    base = dict(model=POLY, variations=3, rng_seed=7, temperature=1.0, memory=False)
    base.update(kw)
    return GenerationSettings(**base)


def regenerate(library, song, track, start=None, end=None, **kw):
    return jobs.run(library, song, GenerationRequest(REGENERATE, settings(**kw), track,
                                                     start, end))


def track_chunks(data: bytes) -> list[bytes]:
    """The MTrk chunks of a standard MIDI file, the conductor's first."""
    chunks, pos = [], 14
    while pos < len(data):
        size = struct.unpack(">I", data[pos + 4:pos + 8])[0]
        chunks.append(data[pos:pos + 8 + size])
        pos += 8 + size
    return chunks


def notes_of(track: Track):
    return [(n.pitch, n.start_tick, n.duration_ticks, n.velocity, n.channel)
            for n in track.sorted_notes()]


# ---------------------------------------------------------------------------------------
# the request
# ---------------------------------------------------------------------------------------


def test_a_regenerate_request_needs_a_track_and_a_whole_range_or_none():
    GenerationRequest(REGENERATE, settings(), 1)
    assert GenerationRequest(REGENERATE, settings(), 1, 0, 960).gap == (0, 960)
    assert GenerationRequest(REGENERATE, settings(), 1).gap is None
    with pytest.raises(GenerationError, match="choose the track"):
        GenerationRequest(REGENERATE, settings())
    with pytest.raises(GenerationError, match="a start and an end, or over all of it"):
        GenerationRequest(REGENERATE, settings(), 1, 0)
    with pytest.raises(GenerationError, match="whole ticks"):
        GenerationRequest(REGENERATE, settings(), 1, 0.5, 960)


def test_a_bad_track_an_empty_range_a_drum_track_and_a_melody_model_are_refused(library):
    song = melody_over_chords()
    with pytest.raises(GenerationError, match="no track 7; its tracks are numbered 1 to 4"):
        regenerate(library, song, 6)
    with pytest.raises(GenerationError, match="the range is empty"):
        regenerate(library, song, 0, 960, 960)
    with pytest.raises(GenerationError, match="track 4 'Drums' is a drum track"):
        regenerate(library, song, 3)
    with pytest.raises(GenerationError, match="needs a polyphonic model .* lstm writes one "
                                              "line"):
        regenerate(library, song, 0, model="lstm")
    with pytest.raises(GenerationError, match="starts after the song ends"):
        regenerate(library, song, 0, 8 * TPB, 9 * TPB)
    song.tracks.append(Track("Empty", 4, 0))
    with pytest.raises(GenerationError, match="track 5 'Empty' has no notes"):
        regenerate(library, song, 4)


def test_a_part_longer_than_a_generation_is_regenerated_a_range_at_a_time(library):
    song = Song(ppq=480, tracks=[
        Track("A", 0, 0, notes=[Note(60 + i % 5, i * 480, 480, 80, 0) for i in range(700)]),
        Track("B", 1, 0, notes=[Note(48 + i % 3, i * 480, 480, 80, 1) for i in range(700)])])
    with pytest.raises(GenerationError, match="2,800 steps long; .* 2,048 steps at most"):
        regenerate(library, song, 0)
    result = regenerate(library, song, 0, TPB, 3 * TPB, variations=1)
    assert any("the other part (track 2 'B') stays note for note" in m
               for m in result.messages)


# ---------------------------------------------------------------------------------------
# the music
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("track", [0, 1, 2, 3])
def test_every_other_part_stays_byte_for_byte_and_only_the_range_is_rewritten(
        library, track):
    song = chorale()
    start, end = bar_range_ticks(song, 3, 4)
    result = regenerate(library, song, track, start, end)
    assert result.steps == 32 and result.start_tick == start
    assert len(result.variations) == 3 and result.track_of == \
        [[track] * len(v) for v in result.variations]
    original = track_chunks(song_to_midi_bytes(song))
    target = song.tracks[track]
    low = min(n.pitch for n in target.notes) - 3
    high = max(n.pitch for n in target.notes) + 3
    changed = 0
    for notes, tokens in zip(result.variations, result.tokens):
        assert sum(t == STEP for t in tokens) == 32
        assert notes and all(start <= n.start_tick and n.end_tick <= end for n in notes)
        assert all(low <= n.pitch <= high for n in notes)
        assert all(n.channel == target.notes[0].channel for n in notes)
        out = apply_part(song, track, notes, start, end)
        chunks = track_chunks(song_to_midi_bytes(out))
        for i in range(len(song.tracks)):
            if i != track:
                assert chunks[1 + i] == original[1 + i]
        kept = [x for x in notes_of(out.tracks[track])
                if not start <= x[1] < end]
        assert kept == [x for x in notes_of(target) if not start <= x[1] < end]
        changed += [(n.pitch, n.start_tick) for n in notes] != \
            [(n.pitch, n.start_tick) for n in target.notes if start <= n.start_tick < end]
    assert changed  # a variation, not a copy


def test_the_model_hears_the_parts_that_stay_as_forced_tokens(library):
    song = chorale()
    start, end = bar_range_ticks(song, 5, 6)
    enc = library.get(POLY).encoding
    result = regenerate(library, song, 1, start, end, variations=2)
    # per step, the other parts' pitches as the model read them (C major: no transposition)
    for tokens in result.tokens:
        steps, step = [], set()
        for t in tokens:
            if t == STEP:
                steps.append(step)
                step = set()
            else:
                step.add(int(enc.token_pitches[t]))
        assert len(steps) == 32
        for i in (0, 2, 3):
            for n in song.tracks[i].notes:
                if start <= n.start_tick < end:
                    s = (n.start_tick - start) // 120
                    assert n.pitch in steps[s]


def test_a_note_of_the_part_sounding_into_the_range_is_kept_and_held(library):
    song = chorale()
    start, end = bar_range_ticks(song, 2, 3)
    held = next(n for n in song.tracks[3].notes if n.start_tick < TPB * 2 < n.end_tick)
    start = TPB * 2  # bar 3: the bass's C of bar 2 sounds to its beat 2
    result = regenerate(library, song, 3, start, end, variations=2)
    enc = library.get(POLY).encoding
    for notes, tokens in zip(result.variations, result.tokens):
        first = tokens[:tokens.index(STEP) + 1]
        assert enc.hold(held.pitch) in first and enc.new(held.pitch) not in first
        assert all(n.start_tick >= held.end_tick for n in notes)
        out = apply_part(song, 3, notes, start, end)
        assert held in out.tracks[3].notes


def test_the_whole_part_is_rewritten_without_a_range(library):
    song = chorale()
    result = regenerate(library, song, 2, variations=2)
    r = part_range(library.get(POLY).encoding, song, 2)
    assert (r.start_tick, r.end_tick) == (0, 8 * TPB) and result.steps == 128
    for notes in result.variations:
        out = apply_part(song, 2, notes)
        assert out.tracks[2].sorted_notes() == sorted(notes, key=Note.sort_key)
        assert [notes_of(t) for i, t in enumerate(out.tracks) if i != 2] == \
            [notes_of(t) for i, t in enumerate(song.tracks) if i != 2]


def test_a_melody_is_rewritten_over_the_parts_that_stay(library):
    song = melody_over_chords()
    start, end = bar_range_ticks(song, 2, 3)
    result = regenerate(library, song, 0, start, end, variations=2)
    assert any("Drums" in m and "left as it is" in m for m in result.messages)
    for notes in result.variations:
        assert notes and all(start <= n.start_tick < end for n in notes)
        # the melody stays on top: above every note of the chords sounding with it
        for n in notes:
            under = [c.pitch for c in song.tracks[1].notes
                     if c.start_tick <= n.start_tick < c.end_tick]
            assert not under or n.pitch > max(under)
        out = apply_part(song, 0, notes, start, end)
        assert [notes_of(t) for t in out.tracks[1:]] == [notes_of(t) for t in song.tracks[1:]]


def test_the_same_settings_give_the_same_notes(library):
    song = chorale()
    start, end = bar_range_ticks(song, 3, 4)
    a = regenerate(library, song, 0, start, end)
    b = regenerate(library, song, 0, start, end)
    c = regenerate(library, song, 0, start, end, rng_seed=8)
    assert a.variations == b.variations and a.variations != c.variations


@pytest.mark.parametrize("track", range(4))
def test_the_forced_parts_read_ahead_give_the_grammars_own_masks(library, track):
    """A token that every row has forced is not drawn (the forced notes are read ahead
    once): at every call of a real regeneration the mask read ahead is the grammar's
    own, every token goes to the same part, and most calls need no mask of the
    grammar's."""
    model = library.get(POLY)
    song, s = chorale(), settings()
    start, end = bar_range_ticks(song, 3, 6)
    result = regenerate(library, song, track, start, end)
    g = regeneration(model, song, s, track, start, end)
    k = s.variations
    ahead, plain = (PartGrammarConstraint.lines(StepContext(model, s, rows=k), g.rules,
                                                g.max_hold) for _ in range(2))
    ahead.plan_forced()
    for rule in (ahead, plain):
        rule.count_steps(g.range.steps)
    base = np.broadcast_to(g.allowed, (k, model.encoding.vocab_size))
    calls = max(map(len, result.tokens))
    read = 0
    for i in range(calls):
        tokens = np.array([row[i] if i < len(row) else STEP for row in result.tokens])
        assert (ahead.narrow(i, base) == plain.narrow(i, base)).all()
        if ahead.known is not None:
            read += 1
            assert (ahead.known == tokens).all()
        ahead.update(tokens)
        plain.update(tokens)
        assert (ahead.grammar.part_of == plain.grammar.part_of).all()
    assert ahead.done.all() and plain.done.all()
    assert read > calls // 3


@pytest.mark.parametrize("temperature, top_p", [(1.0, 1.0), (0.8, 0.9), (0.0, 1.0)])
def test_a_token_not_drawn_draws_from_the_generator_what_a_draw_would(temperature, top_p):
    logits = np.random.default_rng(1).normal(size=(4, 30))
    mask = Sampler.mask(np.ones((4, 30), bool))
    drawn, skipped = np.random.default_rng(5), np.random.default_rng(5)
    Sampler(temperature, top_p, drawn)(logits, mask)
    Sampler(temperature, top_p, skipped).skip(logits.shape)
    assert drawn.random() == skipped.random()


def fixed_parallels(model, forced, steps, prev_top, beats=None):
    """The constraint for a free part 0 over a forced part 1, its grammar at ``steps``
    with the parts' last tops ``prev_top`` (pitch indices)."""
    class Grammar:
        pass

    class Rule:
        grammar = Grammar()
        done = np.array([False])
        known = None  # the grammar's forced-only tokens (none here)

    Rule.grammar.steps = np.array([steps])
    Rule.grammar.prev_top = np.array([prev_top])
    Rule.grammar.count = np.zeros((1, 2), np.int64)
    forced_part = np.zeros(forced.shape[:2], bool)
    forced_part[:, 1] = True
    return FixedParallels.of(model, 1, forced, forced_part, 0, np.array([-1, -1]),
                             beats)(Rule())


def test_fixed_parallels_keeps_the_part_out_of_parallels_with_parts_beneath_it(library):
    model = library.get(POLY)
    enc = model.encoding
    lo = enc.min_pitch
    # a forced part beneath moves C4 -> D4; the free part sounded G4
    forced = np.zeros((2, 2, enc.pitches), np.int8)
    forced[0, 1, 60 - lo] = 1
    forced[1, 1, 62 - lo] = 1
    rule = fixed_parallels(model, forced, 1, [67 - lo, 60 - lo])
    mask = rule.narrow(0, np.ones((1, enc.vocab_size), bool))
    assert not mask[0, enc.new(69)]  # parallel fifths
    assert mask[0, enc.new(65)] and mask[0, enc.new(64)]
    assert mask[0, enc.hold(67)]  # holding is oblique motion
    assert mask[0, enc.new(62)]  # the forced note itself is never taken away


def test_fixed_parallels_hears_the_beat_before_through_a_passing_note(library):
    model = library.get(POLY)
    enc = model.encoding
    lo = enc.min_pitch
    # beats of two steps: the forced part C4 C4 | D4; the free part G4 F4 | ?
    forced = np.zeros((3, 2, enc.pitches), np.int8)
    forced[0, 1, 60 - lo] = 1
    forced[1, 1, 60 - lo] = 2
    forced[2, 1, 62 - lo] = 1
    rule = fixed_parallels(model, forced, 2, [65 - lo, 60 - lo], beats=(0, 2))
    rule.hist[0, 0] = 67 - lo
    mask = rule.narrow(0, np.ones((1, enc.vocab_size), bool))
    assert not mask[0, enc.new(69)]  # G-C on the beat before, A-D now: parallel fifths
    assert mask[0, enc.new(67)] and mask[0, enc.new(71)]
    without = fixed_parallels(model, forced, 2, [65 - lo, 60 - lo])
    without.hist[0, 0] = 67 - lo
    assert without.narrow(0, np.ones((1, enc.vocab_size), bool))[0, enc.new(69)]


# ---------------------------------------------------------------------------------------
# the service and the command line
# ---------------------------------------------------------------------------------------


def test_the_service_runs_the_job_as_the_engine_does(library):
    from engine.generation.service import Generate, Result, generate_outcome

    song = chorale()
    start, end = bar_range_ticks(song, 3, 4)
    request = GenerationRequest(REGENERATE, settings(variations=2), 1, start, end)
    outcome = generate_outcome(library, Generate(1, [], song, request.settings,
                                                 request=request))
    assert isinstance(outcome, Result), outcome
    assert outcome.result.variations == regenerate(library, song, 1, start, end,
                                                   variations=2).variations


def run_cli(*argv: str) -> tuple[int, str, str]:
    import contextlib
    import io

    import main as continuo

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = continuo.main(list(argv))
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def test_cli_only_part_writes_the_song_with_one_part_regenerated(tmp_path):
    seed, out = tmp_path / "chorale.mid", tmp_path / "out.mid"
    song_to_midi_file(chorale(), seed)
    code, stdout, stderr = run_cli("generate", "--seed", str(seed), "--only-part", "3",
                                   "--from", "5", "--to", "8", "--variations", "2",
                                   "--models-dir", str(MODELS), "-o", str(out))
    assert code == 0, stderr
    # the default model of a seed of several voices
    assert f"model {POLYPHONIC_DEFAULTS[0]}" in stdout
    assert "track 3 'Tenor', bars 5-8" in stdout
    original = track_chunks(seed.read_bytes())
    song = midi_file_to_song(seed)
    start, end = bar_range_ticks(song, 5, 8)
    for k in (1, 2):
        path = tmp_path / f"out-{k}.mid"
        chunks = track_chunks(path.read_bytes())
        assert [c for i, c in enumerate(chunks) if i != 3] == \
            [c for i, c in enumerate(original) if i != 3]
        back = midi_file_to_song(path)
        assert [x for x in notes_of(back.tracks[2]) if not start <= x[1] < end] == \
            [x for x in notes_of(song.tracks[2]) if not start <= x[1] < end]


@pytest.mark.parametrize("argv, message", [
    (["--only-part", "9"], "there is no track 9 in the seed (it has 4)"),
    (["--only-part", "2", "--from", "6", "--to", "5"],
     "the range from bar 6 to bar 5 is empty"),
    (["--only-part", "2", "--from", "12"], "the song ends in bar 8, so there is no bar 12"),
    (["--only-part", "2", "--model", "lstm"], "needs a polyphonic model"),
    (["--from", "2"], "give --only-part N too"),
    (["--only-part", "2", "--track", "1"], "leave out --track"),
])
def test_cli_only_part_refuses_with_a_sentence(tmp_path, argv, message):
    seed = tmp_path / "chorale.mid"
    song_to_midi_file(chorale(), seed)
    code, _, stderr = run_cli("generate", "--seed", str(seed), *argv, "--models-dir",
                              str(MODELS), "-o", str(tmp_path / "out.mid"))
    assert code == 1 and message in stderr and "Traceback" not in stderr, stderr
    assert stderr.count("\n") == 1


def test_cli_only_part_of_a_drum_track_is_refused(tmp_path):
    seed = tmp_path / "song.mid"
    song_to_midi_file(melody_over_chords(), seed)
    code, _, stderr = run_cli("generate", "--seed", str(seed), "--only-part", "4",
                              "--models-dir", str(MODELS), "-o", str(tmp_path / "o.mid"))
    assert code == 1 and "is a drum track" in stderr, stderr


def test_a_song_of_too_many_parts_is_refused_at_once():
    """Each part's rules are read against every other part's: a file of thousands of
    one-note tracks spent minutes there before it was refused."""
    from engine.generation.jobs.regenerate import MAX_PARTS

    tracks = [Track(f"t{i}", i % 9, 0, notes=[Note(40 + i % 48, i % 4 * 96, 96, 80, i % 9)])
              for i in range(MAX_PARTS + 1)]
    song = Song(tracks=tracks)
    with pytest.raises(GenerationError, match=f"{MAX_PARTS + 1} parts with notes"):
        part_range(None, song, 0)
