"""The key lock under followed chords: the chord the user typed wins on its own span.
A secondary dominant's leading tone (E7's G# under a lock on C) is reachable where E7
sounds, with follow chords strict or loose, and nowhere else; with chords off the lock
is the key's alone, and where every chord lies in the key nothing changes."""

from __future__ import annotations

import pytest

from engine.encodings.chord_chart import parse_chart, with_chart
from engine.encodings.chords import chord_at
from engine.generation import jobs
from engine.generation.constraints import StepContext
from engine.generation.constraints.key import ChordKeyLock
from engine.generation.request import GenerationRequest, GenerationSettings
from engine.models import ModelLibrary
from engine.song import Note, melody_song

C_MAJOR = {0, 2, 4, 5, 7, 9, 11}
G_SHARP = 68  # G#4: E7's third, C major's raised fifth


@pytest.fixture(scope="module")
def library():
    return ModelLibrary()


@pytest.fixture(scope="module")
def song():
    """Two bars of C major, then a chart that moves between C and E7."""
    seed = melody_song([Note(p, i * 480, 480) for i, p in enumerate(
        [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72, 71, 67, 65, 64])])
    return with_chart(seed, parse_chart("C | E7 | C | E7"), seed.end_tick)


def run(library, song, job="continue", **settings):
    settings = dict(dict(key="C", bars=4, variations=8, rng_seed=3), **settings)
    gap = settings.pop("gap", (None, None))
    return jobs.run(library, song, GenerationRequest(job, GenerationSettings(**settings),
                                                     0 if job == "fill" else None, *gap))


def notes_by_chord(song, result) -> dict[str, list[Note]]:
    out: dict[str, list[Note]] = {}
    for notes in result.variations:
        for n in notes:
            out.setdefault(str(chord_at(song.chords, n.start_tick)), []).append(n)
    return out


def on_the_beat(song, notes):
    return [n for n in notes if song.bar_beat_at(n.start_tick)[2] == 0]


@pytest.mark.parametrize("model", ["lstm", "wavenet"])
def test_strict_reaches_e7s_g_sharp_under_a_lock_on_c(library, song, model):
    # G4 to A4: of E7's tones only G# lies in the range, so every beat of E7 needs it
    narrow = dict(model=model, min_pitch=67, max_pitch=69)
    by_chord = notes_by_chord(song, run(library, song, follow_chords="strict", **narrow))
    e7_beats = on_the_beat(song, by_chord["E7"])
    assert len(e7_beats) >= 8 and {n.pitch for n in e7_beats} == {G_SHARP}
    assert all(n.pitch != G_SHARP for n in by_chord["C"])  # C's span keeps the key
    # chords off: the key lock alone, and no G# anywhere
    off = run(library, song, follow_chords="off", **narrow)
    assert all(n.pitch != G_SHARP for v in off.variations for n in v)


def test_loose_lets_the_chord_tone_in_on_its_span_only(library, song):
    by_chord = notes_by_chord(song, run(library, song, model="wavenet", min_pitch=67,
                                        max_pitch=69, follow_chords="loose"))
    assert any(n.pitch == G_SHARP for n in by_chord["E7"])
    assert all(n.pitch % 12 in C_MAJOR for n in by_chord["C"])
    # at its full range too: whatever leaves the key is a tone of the chord sounding
    for mode in ("loose", "strict"):
        for chord, notes in notes_by_chord(song, run(library, song, model="lstm",
                                                     follow_chords=mode)).items():
            for n in notes:
                assert n.pitch % 12 in C_MAJOR or (chord == "E7" and n.pitch % 12 == 8), n


def test_a_fill_under_e7_reaches_its_g_sharp(library, song):
    bar = song.ticks_per_bar_at(0)
    inside = with_chart(song, parse_chart("C | E7 | C"), bar)  # the seed's bars 2 to 4
    result = run(library, inside, "fill", model="lstm-fill", follow_chords="strict",
                 gap=(2 * bar, 3 * bar), variations=4, rng_seed=5)
    notes = [n for v in result.variations for n in v]
    assert any(n.pitch % 12 == 8 for n in notes)  # E7's G#, in a fill of its bar
    assert all(n.pitch % 12 in C_MAJOR | {8} for n in notes)
    off = run(library, inside, "fill", model="lstm-fill", follow_chords="off",
              gap=(2 * bar, 3 * bar), variations=4, rng_seed=5)
    assert all(n.pitch % 12 in C_MAJOR for v in off.variations for n in v)


def test_no_lock_and_chords_in_the_key_leave_the_plain_key_lock(library, song):
    model = library.get("lstm")
    settings = GenerationSettings(model="lstm", key="C", follow_chords="strict")
    start = model.encoding.tick_to_step(song.chords[0].tick, song.ppq)
    steps = 64
    scale = sorted(C_MAJOR)
    lock = ChordKeyLock.for_melody(StepContext(model, settings, None, scale), song, start,
                                   steps)
    assert lock is not None and lock.scale == sorted(C_MAJOR | {8})
    assert ChordKeyLock.for_melody(StepContext(model, settings, None, None), song, start,
                                   steps) is None  # no key lock
    off = GenerationSettings(model="lstm", key="C", follow_chords="off")
    assert ChordKeyLock.for_melody(StepContext(model, off, None, scale), song, start,
                                   steps) is None
    in_key = with_chart(song, parse_chart("C | Am | F G7 | C"), song.chords[0].tick)
    assert ChordKeyLock.for_melody(StepContext(model, settings, None, scale), in_key,
                                   start, steps) is None
