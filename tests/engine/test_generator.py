"""Generation on real onnxruntime sessions of the tiny exported models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest

from engine.encodings import DEFAULT_ENCODING, Key
from engine.errors import GenerationError
from engine.generation.keychoice import choose_key
from engine.generation.generator import (GenerationCancelled, GenerationSettings, beat_ticks,
                                         continuation_start_tick, generate, next_bar_line,
                                         next_beat)
from engine.generation.sampler import sample_tokens
from engine.formats import midi_file_to_song, song_to_midi_bytes
from engine.models import ModelLibrary
from engine.song import Note, Song, TempoChange, TempoMap, TimeSignature, Track, melody_song
from tests.engine.builders import midi_bytes

REPO = Path(__file__).resolve().parents[2]

# "Twinkle" in D major, quarter notes, with accented downbeats
D_MAJOR_TUNE = [62, 62, 69, 69, 71, 71, 69, 67, 67, 66, 66, 64, 64, 62]


def d_major_seed(ppq: int = 480, repeats: int = 1) -> Song:
    notes = []
    for i, p in enumerate(D_MAJOR_TUNE * repeats):
        velocity = 112 if i % 4 == 0 else 64
        notes.append(Note(p, i * ppq, ppq, velocity))
    return melody_song(notes, ppq=ppq, bpm=96)


@pytest.fixture(scope="module")
def library(tiny_models_dir) -> ModelLibrary:
    lib = ModelLibrary([tiny_models_dir])
    assert lib.problems == []
    return lib


def settings(**kw) -> GenerationSettings:
    return GenerationSettings(**{"model": "lstm", "bars": 2, **kw})


# ---- incremental == naive ------------------------------------------------------------


@pytest.mark.parametrize("model", ["lstm", "wavenet"])
def test_incremental_and_naive_give_the_same_logits_at_every_step(library, model):
    # 3 x 14 quarter notes = 168 steps of seed: longer than the WaveNet's 33 steps
    seed = d_major_seed(repeats=3)
    s = settings(model=model, bars=4, variations=3, rng_seed=11, key=None)
    fast = generate(library, seed, s, record_logits=True)
    slow = generate(library, seed, s, method="naive", record_logits=True)
    assert fast.logits.shape == (3, 64, 38)
    assert np.abs(fast.logits - slow.logits).max() <= 1e-4
    assert fast.tokens == slow.tokens
    assert fast.variations == slow.variations


def test_a_wavenet_primed_with_its_receptive_field_hears_the_whole_seed(library):
    """Priming only the last 33 steps of a 168-step seed gives the logits that the
    sequence model gives over the whole seed."""
    seed = d_major_seed(repeats=3)
    r = generate(library, seed, settings(model="wavenet", steps=1, key=None),
                 record_logits=True)
    tokens = DEFAULT_ENCODING.encode_notes(seed.tracks[0].notes, seed.ppq).tokens
    assert len(tokens) == 168
    whole = library.get("wavenet").sequence_logits(np.array([tokens]))[0, -1]
    assert np.abs(r.logits[0, 0] - whole).max() <= 1e-4


def test_released_states_are_reused_and_start_from_zero(library):
    model = library.get("wavenet")
    seed = d_major_seed()
    first = generate(library, seed, settings(model="wavenet", variations=2))
    state = model.initial_state(2)
    model.release(state)
    again = generate(library, seed, settings(model="wavenet", variations=2))
    assert model.initial_state(2) is state  # the pool hands it out again ...
    assert again.tokens == first.tokens  # ... and a reused state changes nothing


# ---- determinism -------------------------------------------------------------------


@pytest.mark.parametrize("model", ["lstm", "wavenet"])
def test_same_rng_seed_and_settings_give_byte_identical_midi(library, model):
    seed = d_major_seed()

    def midi(rng_seed: int) -> list[bytes]:
        r = generate(library, seed, settings(model=model, variations=3, rng_seed=rng_seed,
                                             temperature=1.3, top_p=0.9))
        out = []
        for notes in r.variations:
            song = seed.copy()
            song.tracks[0].notes += notes
            out.append(song_to_midi_bytes(song))
        return out

    first, again, other = midi(7), midi(7), midi(8)
    assert first == again
    assert first != other
    assert len(set(first)) == 3  # the variations differ from each other


def test_temperature_zero_is_greedy_and_ignores_the_rng_seed(library):
    seed = d_major_seed()
    a = generate(library, seed, settings(temperature=0, variations=2, rng_seed=1))
    b = generate(library, seed, settings(temperature=0, variations=2, rng_seed=99))
    assert a.tokens == b.tokens and a.tokens[0] == a.tokens[1]


# ---- key lock and range ------------------------------------------------------------


@pytest.mark.parametrize("model", ["lstm", "wavenet"])
@pytest.mark.parametrize("key", ["auto", "Eb", "F#m"])
def test_with_the_key_lock_every_new_note_is_in_the_scale(library, model, key):
    seed = d_major_seed()
    r = generate(library, seed, settings(model=model, key=key, bars=8, variations=4,
                                         temperature=2.0))
    if key == "auto":  # the model's own key, which may allow a note of a rival key too
        notes = seed.tracks[0].notes
        estimate = choose_key(library.get(model), notes, seed.ppq, 0,
                              DEFAULT_ENCODING.ceil_step(seed.tracks[0].end_tick, seed.ppq))
        assert r.key == estimate.key and r.key_lock in (estimate.key.name, "none")
        allowed = estimate.allowed
    else:
        assert r.key == Key.parse(key) and r.key_lock == ""
        allowed = Key.parse(key).scale_pitch_classes
    pitches = [n.pitch for v in r.variations for n in v]
    assert len(pitches) > 50
    assert all(p % 12 in allowed for p in pitches), sorted(set(p % 12 for p in pitches))


def test_without_the_lock_the_random_model_leaves_the_scale(library):
    """The lock above is doing the work: unlocked, the random tiny model's notes are
    not all in D major."""
    r = generate(library, d_major_seed(), settings(key=None, bars=8, variations=4,
                                                   temperature=2.0))
    assert not all(Key.parse("D").contains(n.pitch) for v in r.variations for n in v)


def test_pitch_range_bounds_every_new_note(library):
    r = generate(library, d_major_seed(), settings(bars=8, variations=4, temperature=2.0,
                                                   min_pitch=62, max_pitch=71))
    pitches = {n.pitch for v in r.variations for n in v}
    assert pitches and min(pitches) >= 62 and max(pitches) <= 71


def test_a_range_without_scale_notes_is_refused(library):
    with pytest.raises(GenerationError, match="no note of D"):
        generate(library, d_major_seed(), settings(min_pitch=63, max_pitch=63))


# ---- output -------------------------------------------------------------------------


def test_output_starts_on_the_beat_after_the_seed_on_its_grid_and_ppq(library):
    seed = d_major_seed(ppq=96)
    seed.tracks[0].notes[-1] = Note(62, 13 * 96, 70, 80)  # ends off the grid, at 1318
    r = generate(library, seed, settings(variations=2))
    assert r.start_tick == 14 * 96  # the beat after the quarter note released early
    for notes in r.variations:
        assert notes and all(n.start_tick >= 1344 and n.start_tick % 24 == 0 for n in notes)
        assert max(n.end_tick for n in notes) <= 1344 + 2 * 4 * 96


def test_bars_follow_the_seed_meter(library):
    seed = d_major_seed()
    seed.time_signatures = [TimeSignature(0, 3, 4)]
    r = generate(library, seed, settings(bars=2))
    assert r.steps == 24


def test_an_explicit_start_tick_continues_from_there(library):
    seed = d_major_seed()
    r = generate(library, seed, settings(), start_tick=4 * 480 + 50)
    assert r.start_tick == 4 * 480 + 120


def test_velocities_follow_the_seed_accents(library):
    r = generate(library, d_major_seed(), settings(bars=8, variations=4, temperature=1.5))
    notes = [n for v in r.variations for n in v]
    on_downbeat = {n.velocity for n in notes if n.start_tick % 1920 == 0}
    on_beats_2_to_4 = {n.velocity for n in notes if n.start_tick % 480 == 0
                       and n.start_tick % 1920 != 0}
    assert on_downbeat == {112} and on_beats_2_to_4 == {64}
    assert len({n.velocity for n in notes}) >= 2


def test_a_note_sounding_at_the_seed_end_is_not_held_on(library):
    """The seed's last note ends at the boundary, so the first new step is an event."""
    for rng_seed in range(5):
        r = generate(library, d_major_seed(), settings(variations=8, rng_seed=rng_seed))
        hold = DEFAULT_ENCODING.token_names().index("HOLD")
        assert all(row[0] != hold for row in r.tokens)


# ---- where a continuation starts ------------------------------------------------------
DEFAULT_SEED = REPO / "assets" / "default_seed.mid"


@pytest.fixture(scope="module")
def shipped() -> ModelLibrary:
    return ModelLibrary([REPO / "models"])


def as_written(notes: list[Note], end: int) -> list[Note]:
    """Each note held to the next onset (the last to ``end``): the line as a score
    writes it."""
    notes = sorted(notes, key=Note.sort_key)
    ends = [m.start_tick for m in notes[1:]] + [end]
    return [Note(n.pitch, n.start_tick, e - n.start_tick, n.velocity) for n, e in zip(notes, ends)]


def played_by_a_human(notes: list[Note], bpm: float, rng: np.random.Generator,
                      ppq: int = 480) -> list[Note]:
    """A simulated player: every onset early or late by up to 25 ms at ``bpm``, every note
    held 60-100% of its written length."""
    ticks_per_ms = ppq * bpm / 60_000
    out = []
    for n in notes:
        start = max(0, round(n.start_tick + rng.uniform(-25, 25) * ticks_per_ms))
        out.append(Note(n.pitch, start, max(1, round(n.duration_ticks * rng.uniform(0.6, 1.0))),
                        n.velocity))
    return out


def test_the_default_seed_is_continued_from_its_bar_line_on_the_beat(shipped):
    """The seed's last note is a half note on beat 3 of bar 4 played at 7/8 of its length
    (it ends at beat 15.75): the continuation starts at the bar line, beat 16, and the
    variation that put all 24 of its notes on off-sixteenths (15.75, 16.25, ...) when it
    started at 15.75 keeps to the beat."""
    seed = midi_file_to_song(DEFAULT_SEED)
    assert max(n.end_tick for n in seed.tracks[0].notes) == 15 * 480 + 360
    r = generate(shipped, seed, GenerationSettings(model="lstm", bars=4, variations=2,
                                                   rng_seed=7))
    assert r.start_tick == 16 * 480
    for notes in r.variations:
        assert notes and all(n.start_tick >= 16 * 480 and n.start_tick % 120 == 0
                             for n in notes)
        off_sixteenths = [n for n in notes if n.start_tick % 240]
        assert len(off_sixteenths) <= len(notes) // 4


@pytest.mark.parametrize("rng_seed", range(8))
def test_a_seed_played_by_a_human_starts_and_sounds_as_its_written_seed(library, rng_seed):
    """The default seed's melody as written (legato, its last half note to the bar line)
    and as a simulated player plays it at its 96 BPM (onsets within 25 ms, notes held
    60-100%): the same start, and the model hears the same line, so it plays the same
    notes."""
    melody = midi_file_to_song(DEFAULT_SEED).tracks[0].notes
    written = as_written(melody, 16 * 480)
    played = played_by_a_human(written, 96, np.random.default_rng(rng_seed))
    assert played != written
    s = settings(bars=2, variations=2, rng_seed=rng_seed)
    a = generate(library, melody_song(written, bpm=96), s)
    b = generate(library, melody_song(played, bpm=96), s)
    assert a.start_tick == b.start_tick == 16 * 480
    assert a.tokens == b.tokens
    assert [[(n.pitch, n.start_tick) for n in v] for v in a.variations] == \
        [[(n.pitch, n.start_tick) for n in v] for v in b.variations]


def test_a_human_release_is_read_as_written_but_a_written_rest_is_kept():
    enc = DEFAULT_ENCODING
    key = Key(0)
    # a quarter, a quarter rest, then a quarter played at 60% and one held to the end
    written = [Note(60, 0, 480), Note(64, 960, 480), Note(67, 1440, 480)]
    played = [Note(60, 10, 470), Note(64, 950, 290), Note(67, 1450, 300)]
    a = enc.encode_seed(written, 480, key, 0, 16)
    b = enc.encode_seed(played, 480, key, 0, 16)
    assert a.tokens == b.tokens
    names = enc.token_names()
    assert [names[t] for t in b.tokens[3:9]] == ["HOLD", "NOTE_OFF", "HOLD", "HOLD", "HOLD",
                                                "NOTE_ON(64)"]
    assert names[b.tokens[-1]] == "HOLD"  # the last note lasts to the end, as written
    staccato = enc.encode_seed([Note(60, 0, 200), Note(62, 480, 200)], 480, key, 0, 8)
    assert [names[t] for t in staccato.tokens] == [
        "NOTE_ON(60)", "HOLD", "NOTE_OFF", "HOLD", "NOTE_ON(62)", "HOLD", "NOTE_OFF", "HOLD"]


@pytest.mark.parametrize("ending,start", [
    ((13 * 480, 480), 14 * 480),  # a quarter on beat 2 of bar 4: the next beat
    ((13 * 480, 300), 14 * 480),  # ... released early
    ((12 * 480, 1200), 16 * 480),  # a whole note released at 62%: the bar line
    ((14 * 480, 600), 16 * 480),  # a half note on beat 3 held 62%: it ends the bar
    ((14 * 480, 450), 15 * 480),  # ... held under half of it (staccato): the next beat
    ((14 * 480, 990), 16 * 480),  # ... held a little over the bar line
    ((15 * 480 + 360, 120), 16 * 480),  # a sixteenth before the bar line
    ((15 * 480, 500), 16 * 480),  # a quarter held 20 ticks over the bar line
    ((15 * 480, 700), 17 * 480),  # a note tied over the bar line: the beat after it
])
def test_the_start_is_the_first_beat_after_the_seed_as_read(ending, start):
    notes = [Note(60 + i, i * 480, 480) for i in range(12)] + [Note(72, *ending)]
    assert continuation_start_tick(melody_song(notes), notes, 120) == start


def test_compound_metres_start_on_their_dotted_quarter_beat():
    """6/8 is counted in two dotted quarters: an eighth on the second eighth of bar 2,
    released early, is followed by the next dotted quarter (tick 2160), not the next
    quarter (1920)."""
    eighths = [Note(67, i * 240, 240) for i in range(7)] + [Note(69, 7 * 240, 140)]
    song = melody_song(eighths, time_signature=(6, 8))
    assert continuation_start_tick(song, eighths, 120) == 9 * 240
    assert beat_ticks(TimeSignature(0, 6, 8), 480) == 720
    assert beat_ticks(TimeSignature(0, 3, 8), 480) == 240
    assert beat_ticks(TimeSignature(0, 12, 8), 480) == 720
    # a dotted quarter that ends bar 2, released at 65%: the bar line
    dotted = [Note(67, i * 240, 240) for i in range(9)] + [Note(71, 9 * 240, 470)]
    assert continuation_start_tick(song, dotted, 120) == 2880


def test_the_start_follows_time_signature_changes_and_pickups():
    # a bar of 4/4, then 3/4: a half note on beat 1 of the 3/4 bar ends that bar
    song = melody_song([], time_signature=(4, 4))
    song.time_signatures = [TimeSignature(0, 4, 4), TimeSignature(1920, 3, 4)]
    notes = [Note(60, 0, 1920), Note(62, 1920, 900)]
    assert continuation_start_tick(song, notes, 120) == 1920 + 1440
    assert next_bar_line(song, 1920) == 3360 and next_beat(song, 3361) == 3840
    # a one-beat pickup (1/4, then 4/4): an eighth on it is followed by the bar line
    pickup = Song(time_signatures=[TimeSignature(0, 1, 4), TimeSignature(480, 4, 4)])
    assert continuation_start_tick(pickup, [Note(67, 240, 200)], 120) == 480
    assert next_beat(pickup, 2500) == 2880 and next_bar_line(pickup, 480) == 2400


def end_of_track_file(rest_ticks: int) -> bytes:
    """Three bars of quarter notes, then ``rest_ticks`` of silence before the end of
    track."""
    msgs = [mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)]
    for i in range(12):
        msgs += [mido.Message("note_on", note=67 + i % 5, velocity=90, time=0),
                 mido.Message("note_off", note=67 + i % 5, velocity=0, time=480)]
    msgs.append(mido.MetaMessage("end_of_track", time=rest_ticks))
    return midi_bytes([msgs])


@pytest.mark.parametrize("rest,start", [(0, 12 * 480), (1920, 16 * 480), (1900, 16 * 480),
                                        (960, 14 * 480), (130, 13 * 480)])
def test_a_final_rest_up_to_the_end_of_track_moves_the_start(library, rest, start):
    """MIDI's end of track says where a seed with a final rest ends: the start is the
    first beat at or after it (read to the nearest sixteenth), and saving keeps it."""
    song = midi_file_to_song(end_of_track_file(rest))
    assert song.length_ticks == (12 * 480 + rest if rest else None)
    assert song.end_tick == 12 * 480 + rest
    assert generate(library, song, settings()).start_tick == start
    again = midi_file_to_song(song_to_midi_bytes(song))
    assert again.length_ticks == song.length_ticks
    assert song.copy().length_ticks == song.length_ticks
    assert song.rescaled(96).end_tick == (12 * 480 + rest) // 5
    assert generate(library, again, settings()).start_tick == start


# ---- seeds --------------------------------------------------------------------------


@pytest.mark.parametrize("key,tonic_pc", [("auto", 0), ("Am", 9), ("Bb", 10)])
def test_an_empty_seed_starts_on_the_tonic_of_the_chosen_key(library, key, tonic_pc):
    for seed in (None, Song(tracks=[Track()])):
        r = generate(library, seed, settings(key=key, variations=2))
        assert r.start_tick == 0
        for notes in r.variations:
            assert notes[0].start_tick == 0 and notes[0].pitch % 12 == tonic_pc
            assert all(r.key.contains(n.pitch) for n in notes)
        assert any("empty" in m for m in r.messages)


@pytest.mark.parametrize("model", ["lstm", "wavenet"])
def test_an_empty_seed_is_continued_from_its_tonic_once(library, model):
    """The tonic primes the model and is the first new note; the next step's logits
    are the sequence model's after that one token (not after the tonic twice)."""
    r = generate(library, None, settings(model=model, key="Am", steps=6), record_logits=True)
    tonic = DEFAULT_ENCODING.note_on(69)  # A4, the A nearest the middle of 48-83
    assert r.tokens[0][0] == tonic and r.logits.shape == (1, 5, 38)
    expected = library.get(model).sequence_logits(np.array([r.tokens[0][:5]]))[0]
    assert np.abs(r.logits[0] - expected).max() <= 1e-4


def test_a_polyphonic_seed_uses_its_top_line_and_says_so(library):
    seed = d_major_seed()
    seed.tracks[0].notes += [Note(50, i * 480, 480, 70) for i in range(8)]  # a bass
    r = generate(library, seed, settings())
    assert any("top line" in m and "8 lower notes" in m for m in r.messages)
    assert r.key == Key.parse("D")


def test_a_seed_wider_than_the_range_is_folded_and_the_caller_told(library):
    seed = melody_song([Note(p, i * 240, 240) for i, p in enumerate([30, 62, 66, 69, 100, 74])])
    r = generate(library, seed, settings())
    assert any("moved by octaves" in m for m in r.messages)
    assert all(v for v in r.variations)


def test_a_seed_high_above_the_range_is_heard_an_octave_down_and_answered_up_there(library):
    high = [p + 24 for p in D_MAJOR_TUNE]  # 86-93: above the model's 48-83
    seed = melody_song([Note(p, i * 480, 480) for i, p in enumerate(high)])
    # an explicit key: the seed moves by its own key profile (D), not the random model's
    r = generate(library, seed, settings(temperature=0.5, variations=2, bars=4, key="D"))
    assert any("moved by 1 octave" in m for m in r.messages)
    pitches = [n.pitch for v in r.variations for n in v]
    # model space is D -> C (-2 semitones) and an octave down: the model's 48-83 is
    # 62-97 here, well above where an unshifted continuation could go (<= 85)
    assert min(pitches) >= 62 and max(pitches) <= 97
    assert max(pitches) > 85


def test_a_seed_longer_than_the_receptive_field_and_the_prime_limit(library):
    seed = d_major_seed(ppq=480, repeats=30)  # 420 quarters = 1680 steps
    for model in ("lstm", "wavenet"):
        r = generate(library, seed, settings(model=model))
        assert r.start_tick == 420 * 480
        assert all(v for v in r.variations)
        assert any("last 1024 steps" in m for m in r.messages)


def test_the_melody_track_is_chosen_and_its_channel_kept(library):
    seed = d_major_seed()
    melody = seed.tracks[0]
    seed.tracks = [Track("Bass", channel=1, notes=[Note(38, i * 960, 960, 90, 1)
                                                   for i in range(7)]),
                   Track("Tune", channel=3, notes=[Note(n.pitch, n.start_tick, n.duration_ticks,
                                                         n.velocity, 3) for n in melody.notes])]
    r = generate(library, seed, settings())
    assert all(n.channel == 3 for v in r.variations for n in v)
    r2 = generate(library, seed, settings(), track_index=0)
    assert all(n.channel == 1 for v in r2.variations for n in v)
    with pytest.raises(GenerationError, match="no track 3"):
        generate(library, seed, settings(), track_index=2)


def test_output_keeps_the_seed_tempo_map_untouched(library):
    seed = d_major_seed()
    seed.tempo_map = TempoMap(480, [TempoChange(0, 700_000)])
    before = seed.copy()
    generate(library, seed, settings())
    assert seed.tempo_map == before.tempo_map and seed.tracks == before.tracks


# ---- progress and cancel ------------------------------------------------------------


def test_progress_is_reported_every_step(library):
    calls = []
    r = generate(library, d_major_seed(), settings(bars=1),
                 progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 16) for i in range(1, 17)] and r.steps == 16


def test_cancel_is_checked_every_step(library):
    done = []

    def cancelled() -> bool:
        return len(done) >= 5

    with pytest.raises(GenerationCancelled):
        generate(library, d_major_seed(), settings(bars=4),
                 progress=lambda d, t: done.append(d), is_cancelled=cancelled)
    assert done == [1, 2, 3, 4, 5]


# ---- settings and sampling ------------------------------------------------------------


@pytest.mark.parametrize("kw,phrase", [
    ({"temperature": -0.1}, "temperature must be between 0 and 2"),
    ({"temperature": 2.5}, "temperature must be between 0 and 2"),
    ({"top_p": 0.0}, "top-p must be above 0"),
    ({"top_p": 1.5}, "top-p must be above 0"),
    ({"bars": 0}, "bars must be between 1 and 32"),
    ({"bars": 33}, "bars must be between 1 and 32"),
    ({"steps": 0}, "steps must be between 1 and 2048"),
    ({"variations": 9}, "variations must be between 1 and 8"),
    ({"variations": 2.0}, "must be a whole number"),
    ({"rng_seed": -1}, "random seed must be zero or more"),
    ({"key": "H"}, "'H' is not a key"),
    ({"min_pitch": 128}, "lowest pitch must be a MIDI note number"),
    ({"min_pitch": 70, "max_pitch": 60}, "is above the highest"),
    ({"temperature": float("nan")}, "must be a number"),
])
def test_out_of_range_settings_are_refused_with_a_sentence(kw, phrase):
    with pytest.raises(GenerationError, match=phrase):
        GenerationSettings(**kw).validate()


def test_unknown_model_is_a_model_error(library):
    from engine.errors import ModelError

    with pytest.raises(ModelError, match="no model named 'gru'"):
        generate(library, None, settings(model="gru"))


def test_top_p_keeps_only_the_nucleus():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 2000))
    allowed = np.ones(4, dtype=bool)
    rng = np.random.default_rng(0)
    draws = sample_tokens(logits, allowed, 1.0, 0.75, rng)
    assert set(draws.tolist()) == {0, 1}  # 0.5 + 0.3 reaches 0.75
    share = np.mean(draws == 0)
    assert abs(share - 0.5 / 0.8) < 0.05
    assert set(sample_tokens(logits, allowed, 1.0, 1e-9, rng).tolist()) == {0}


def test_sampling_follows_the_softmax_and_respects_the_mask():
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4]] * 20000))
    allowed = np.array([True, True, False, True])
    draws = sample_tokens(logits, allowed, 1.0, 1.0, np.random.default_rng(3))
    counts = np.bincount(draws, minlength=4) / len(draws)
    assert counts[2] == 0
    assert np.allclose(counts, [0.1 / 0.7, 0.2 / 0.7, 0, 0.4 / 0.7], atol=0.02)
    # a low temperature sharpens towards the likeliest allowed token
    cold = sample_tokens(logits, allowed, 0.1, 1.0, np.random.default_rng(3))
    assert np.mean(cold == 3) > 0.99


@pytest.mark.parametrize("temperature, top_p", [(0.5, 1.0), (1.7, 1.0), (0.5, 0.999)])
def test_both_draws_follow_the_tempered_softmax(temperature, top_p):
    """Gumbel-max (no top-p) and the inverse CDF (top-p) give the same distribution:
    softmax(logits / T) over the allowed tokens."""
    logits = np.array([[1.0, -0.5, 2.0, 0.3, 0.0]] * 40000, dtype=np.float32)
    allowed = np.array([True, True, True, True, False])
    draws = sample_tokens(logits, allowed, temperature, top_p, np.random.default_rng(9))
    expected = np.exp(logits[0, :4] / temperature)
    expected /= expected.sum()
    counts = np.bincount(draws, minlength=5) / len(draws)
    assert counts[4] == 0
    assert np.allclose(counts[:4], expected, atol=0.01)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("temperature, top_p", [(1.0, 1.0), (0.0, 1.0), (1.0, 0.9)])
def test_invalid_logits_are_refused_by_every_draw(bad, temperature, top_p):
    logits = np.zeros((3, 6), dtype=np.float32)
    logits[1, 4] = bad
    with pytest.raises(GenerationError, match="invalid numbers"):
        sample_tokens(logits, np.ones(6, bool), temperature, top_p, np.random.default_rng(0))


def test_the_engine_imports_no_qt_and_no_tensorflow():
    code = ("import engine.generation.generator, engine.models, engine.cli.generate, sys; "
            "bad = {'PySide6', 'tensorflow', 'keras'} & "
            "{m.split('.')[0] for m in sys.modules}; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_generations_in_parallel_threads_match_sequential_ones(library):
    """Each generation has its own bound state: two threads on one model do not mix."""
    import threading

    seed = d_major_seed()
    jobs = [settings(model="wavenet", variations=k, rng_seed=k) for k in (1, 2, 3, 4)] * 2
    expected = [generate(library, seed, s).tokens for s in jobs]
    got: list = [None] * len(jobs)

    def work(i: int) -> None:
        got[i] = generate(library, seed, jobs[i]).tokens

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected


def test_a_model_computing_nan_stops_with_a_sentence(tiny_models_dir, tmp_path):
    import hashlib
    import json
    import shutil

    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    folder = tmp_path / "m"
    shutil.copytree(tiny_models_dir, folder)
    path = folder / "lstm.onnx"
    proto = onnx.load(str(path))
    # the first layer's per-token table (embedding x kernel): one row per token
    table = next(t for t in proto.graph.initializer if list(t.dims[:1]) == [38] and
                 len(t.dims) == 2)
    shape = numpy_helper.to_array(table).shape
    table.CopyFrom(numpy_helper.from_array(np.full(shape, np.nan, np.float32), table.name))
    path.write_bytes(proto.SerializeToString())
    card = json.loads((folder / "lstm.json").read_text())
    card["sha256"]["lstm.onnx"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "lstm.json").write_text(json.dumps(card))
    # the seed is primed by the sequence graph, left intact here: the first logits the
    # damaged step graph computes are those after the first new step
    with pytest.raises(GenerationError, match="invalid numbers .* at step 2;"):
        generate(ModelLibrary([folder]), d_major_seed(), settings())


def test_a_final_rest_longer_than_the_model_hears_starts_afresh_in_the_seeds_key(shipped):
    """Three bars, then a rest (to the end of track) of 0x0FFFFFF ticks: no seed note is
    left in the primed window, so the auto key comes from the notes themselves and the
    continuation starts on its tonic after the rest, saying why (it was a traceback)."""
    song = midi_file_to_song(end_of_track_file(0x0FFFFFF))
    result = generate(shipped, song, GenerationSettings(model="lstm", bars=2, rng_seed=1))
    assert result.start_tick >= 12 * 480 + 0x0FFFFFF and result.variations[0]
    # the key the model finds for the same notes with no final rest
    plain = generate(shipped, midi_file_to_song(end_of_track_file(0)),
                     GenerationSettings(model="lstm", bars=2, rng_seed=1))
    assert result.key == plain.key
    assert any("ends in silence" in m for m in result.messages)
    assert any("longer than the 1024 steps the model hears" in m for m in result.messages)
