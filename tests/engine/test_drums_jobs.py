"""The drum jobs (engine/generation/jobs/drums.py) with the shipped drum model and real
MIDI: Add Drums, the drum track continued with every other part (the pitched parts as
without drums), a song of drums only, a fill on a drum track, the styles, and the
service carrying a drums request."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from engine.encodings import CONTINUE, FILL
from engine.encodings.drums import (DRUM_CHANNEL, KIT, STYLES, bar_steps, kit_piece,
                                    piece_note)
from engine.errors import GenerationError
from engine.generation import jobs
from engine.generation.jobs.drums import DrumPlan, auto_style, drum_model, sample_drums
from engine.generation.parts_song import song_with_drums, song_with_parts
from engine.generation.request import DRUMS, GenerationRequest, GenerationSettings
from engine.generation.service import Generate, Result, decode, encode, generate_outcome
from engine.song import Note, Song, TempoChange, TempoMap, TimeSignature, Track, bpm_to_us
from tests.engine.drum_rig import ROOT, groove, library, only_drums, without_drums  # noqa: F401

KIT_NOTES = {piece_note(i) for i in range(len(KIT))}


def _settings(**kw) -> GenerationSettings:
    return GenerationSettings(**{"model": "drums-lstm", "variations": 2, "rng_seed": 3,
                                 "memory": False, **kw})


def test_add_drums_writes_a_new_drum_track_over_the_whole_song(library, groove):
    song = without_drums(groove)
    request = GenerationRequest(DRUMS, _settings(), drum_style="rock")
    result = jobs.run(library, song, request)
    assert result.new_tracks == ["Drums"] and len(result.variations) == 2
    assert all(set(t) == {len(song.tracks)} for t in result.track_of)
    end = max(n.end_tick for t in song.tracks for n in t.notes)
    bar = song.ticks_per_bar_at(0)
    for notes in result.variations:
        assert notes and all(n.channel == DRUM_CHANNEL and n.pitch in KIT_NOTES for n in notes)
        assert min(n.start_tick for n in notes) < 2 * bar  # from the start...
        assert max(n.start_tick for n in notes) > end - 2 * bar  # ...to the end
        assert max(n.start_tick for n in notes) < end + bar
    assert result.variations[0] != result.variations[1]
    written = song_with_parts(song, result, 0)
    drums = written.tracks[-1]
    assert drums.is_drum and drums.channel == DRUM_CHANNEL and drums.name == "Drums"
    assert written.tracks[:-1] == song.tracks  # the song's own tracks as they were
    again = jobs.run(library, song, request)
    assert again.variations == result.variations  # the same seed, the same drums


def test_the_style_and_the_parts_onsets_reach_the_model(library, groove):
    """The real drums after a step, scored under each row's conditioning: rows that hear
    the same thing score them the same, a row that hears a bass on every beat or
    another style does not."""
    model = drum_model(library, "drums-lstm")
    drum = next(i for i, t in enumerate(groove.tracks) if t.is_drum)
    real = model.encoding.encode_tracks([groove.tracks[drum]], groove.ppq, 0, 192).tokens
    scores = {}
    for style in ("rock", "waltz"):
        onsets = np.zeros((3, 1, 2), np.float32)
        plan = DrumPlan(model, 0, 1, [], STYLES.index(style), [0], 48, onsets,
                        np.zeros((1, 2), np.float32))
        plan.onsets = np.zeros((3, 200, 2), np.float32)
        plan.onsets[2, ::12, 0] = 1.0  # row 2's bass plays every quarter
        out, logp = sample_drums(plan, _settings(temperature=0.0), np.random.default_rng(0),
                                 junction=real)
        assert out.shape == (3, 1)
        scores[style] = logp
    rock = scores["rock"]
    assert rock[0] == pytest.approx(rock[1]) and abs(rock[2] - rock[0]) > 1e-3
    assert abs(scores["waltz"][0] - rock[0]) > 1e-3


def test_auto_reads_the_metre_and_the_feel():
    def song(meter=(4, 4), bpm=120.0, offbeat=240) -> Song:
        ppq = 480
        notes = [Note(60, q * ppq + d, 120) for q in range(16) for d in (0, offbeat)]
        tempo = TempoMap(ppq, [TempoChange(0, bpm_to_us(bpm))])
        return Song(ppq, [Track(name="m", notes=notes)], tempo, [TimeSignature(0, *meter)])

    assert auto_style(song((3, 4)))[0] == "waltz"
    assert auto_style(song((6, 8)))[0] == "ballad"
    assert auto_style(song())[0] == "rock"
    assert auto_style(song(bpm=70))[0] == "ballad"
    swung = auto_style(song(offbeat=320))  # eighths on the triplet grid: a swing feel
    assert swung[0] in ("swing", "shuffle") and "triplet" in swung[1]
    assert auto_style(song((7, 8)))[0] == "other"


def test_an_unknown_style_is_refused_naming_the_styles(library, groove):
    with pytest.raises(GenerationError, match="no drum style named 'polka-dots'.*rock"):
        jobs.run(library, without_drums(groove),
                 GenerationRequest(DRUMS, _settings(), drum_style="polka-dots"))
    with pytest.raises(GenerationError, match="takes no track"):
        GenerationRequest(DRUMS, _settings(), track=0)


def test_a_7_8_song_gets_drums_in_bars_of_seven_eighths_and_a_sentence(library, groove):
    song = without_drums(groove)
    song = Song(song.ppq, song.tracks, song.tempo_map, [TimeSignature(0, 7, 8)])
    result = jobs.run(library, song, GenerationRequest(DRUMS, _settings(), drum_style="auto"))
    assert any("7/8" in m for m in result.messages)
    assert bar_steps(TimeSignature(0, 7, 8)) == 42
    assert all(n.channel == DRUM_CHANNEL for n in result.variations[0])


def test_a_song_of_drums_only_continues_its_drums_and_refuses_add_drums(library, groove):
    song = only_drums(groove)
    with pytest.raises(GenerationError, match="only drums"):
        jobs.run(library, song, GenerationRequest(DRUMS, _settings()))
    # Generate, whatever melody model the request names: the drum track goes on
    result = jobs.run(library, song, GenerationRequest(CONTINUE, _settings(model="lstm")))
    end = max(n.start_tick for n in song.tracks[0].notes)
    assert all(set(t) == {0} for t in result.track_of)
    assert all(n.start_tick > end and n.channel == DRUM_CHANNEL for n in result.variations[0])
    assert result.model == "drums-lstm" and any("only drums" in m for m in result.messages)


def test_the_drum_track_goes_on_with_the_parts_which_stay_as_without_it(library, groove):
    request = GenerationRequest(CONTINUE, _settings(model="poly-lstm", bars=2), parts=True)
    model = library.get("poly-lstm")
    alone = jobs.job_for(request, model)(library, groove, request, model)
    result = jobs.run(library, groove, request)
    assert result.variations == alone.variations  # the pitched parts, note for note
    drum = next(i for i, t in enumerate(groove.tracks) if t.is_drum)
    assert result.drum_track == drum and len(result.drums) == 2
    assert not any("left as it is" in m for m in result.messages)
    assert any("went on with the other parts" in m for m in result.messages)
    for notes in result.drums:
        assert notes and all(n.start_tick >= result.start_tick for n in notes)
        assert all(n.channel == DRUM_CHANNEL for n in notes)
    written = song_with_parts(groove, result, 1)
    assert len(written.tracks[drum].notes) == len(groove.tracks[drum].notes) + len(result.drums[1])


def test_a_melody_continuation_carries_the_drums_beside_it(library, groove):
    request = GenerationRequest(CONTINUE, _settings(model="lstm", bars=2))
    result = jobs.run(library, groove, request)
    assert result.track_of is None and result.drums and result.drum_track == 0
    # drums that run on past the melody's start are kept: the new ones follow them
    last = groove.tracks[0].notes[-1].start_tick
    assert all(n.start_tick > last and n.start_tick >= result.start_tick
               for notes in result.drums for n in notes)
    written = song_with_drums(groove, result, 0)
    assert written.tracks[0].notes == sorted(groove.tracks[0].notes + result.drums[0],
                                             key=Note.sort_key)
    assert written.tracks[1:] == groove.tracks[1:]


def test_notes_outside_the_percussion_map_are_kept_and_reported(library, groove):
    song = groove.copy()
    drum = next(i for i, t in enumerate(song.tracks) if t.is_drum)
    odd = [Note(20, 480 * q, 60, 90, DRUM_CHANNEL) for q in range(0, 16, 4)]
    assert all(kit_piece(n.pitch) is None for n in odd)
    song.tracks[drum].notes = sorted(song.tracks[drum].notes + odd, key=Note.sort_key)
    result = jobs.run(library, song, GenerationRequest(CONTINUE, _settings(model="lstm",
                                                                          bars=1)))
    assert any("not in the General MIDI percussion map" in m and "kept" in m
               for m in result.messages)
    assert all(n in song_with_drums(song, result, 0).tracks[drum].notes for n in odd)
    # a fill over them keeps them too
    start, end = 480 * 4, 480 * 12
    filled = jobs.run(library, song, GenerationRequest(FILL, _settings(), drum, start, end))
    for notes in filled.variations:
        assert [n for n in odd if start <= n.start_tick < end] == \
            [n for n in notes if n.pitch == 20]


def test_a_gap_on_a_drum_track_fills_through_the_fill_job(library, groove):
    from engine.generation.fill import apply_fill

    drum = next(i for i, t in enumerate(groove.tracks) if t.is_drum)
    start, end = 2 * groove.ticks_per_bar_at(0), 4 * groove.ticks_per_bar_at(0)
    result = jobs.run(library, groove, GenerationRequest(FILL, _settings(model="lstm-fill"),
                                                        drum, start, end))
    assert result.model == "drums-lstm" and result.track_of is None
    for notes in result.variations:
        assert notes and all(start <= n.start_tick < end for n in notes)
    filled = apply_fill(groove, drum, start, end, result.variations[0])
    outside = [n for n in groove.tracks[drum].notes if not start <= n.start_tick < end]
    assert [n for n in filled.tracks[drum].notes if not start <= n.start_tick < end] == outside
    assert [t for i, t in enumerate(filled.tracks) if i != drum] == \
        [t for i, t in enumerate(groove.tracks) if i != drum]


def test_a_drums_request_travels_through_the_service(library, groove):
    song = without_drums(groove)
    request = GenerationRequest(DRUMS, _settings(), drum_style="swing")
    message = Generate(1, [str(ROOT / "models")], song, request.settings, request=request)
    back = decode(encode(message))
    assert back.request == request
    outcome = generate_outcome(library, back)
    assert isinstance(outcome, Result)
    assert outcome.result.variations == jobs.run(library, song, request).variations
    carried = decode(encode(dataclasses.replace(outcome, result=dataclasses.replace(
        outcome.result, drums=[outcome.result.variations[0]], drum_track=0))))
    assert carried.result.drums == [outcome.result.variations[0]]
    assert STYLES[0] == "other"


@pytest.mark.slow
def test_add_drums_runs_in_the_helper_process(library, groove):
    from engine.generation.service import GenerationService

    song = without_drums(groove)
    request = GenerationRequest(DRUMS, _settings(), drum_style="auto")
    service = GenerationService()
    try:
        outcome = service.run(library.folders, song, request.settings, request=request)
    finally:
        service.close()
    assert isinstance(outcome, Result) and outcome.pid != os.getpid()
    assert outcome.result.variations == jobs.run(library, song, request).variations
    assert outcome.result.new_tracks == ["Drums"]


@pytest.mark.parametrize("bars,last", [((), 48), ([0, 36, 84, 120], 42), ([5, 53], 36)])
def test_the_positions_worked_out_at_once_are_the_encodings_one_by_one(bars, last):
    from engine.encodings.drums import position_at, positions_at

    at_once = positions_at(-3, 400, bars, last)
    assert np.array_equal(at_once, np.stack([position_at(t, bars, last)
                                             for t in range(-3, 397)]))


def test_auto_goes_on_in_the_style_the_model_hears_in_the_seeds_drums(library, groove):
    """mma's swing groove goes on swung (a swing, or jazz, as the drum model hears it),
    not as the straight 4/4 rock its metre and feel would suggest."""
    result = jobs.run(library, groove, GenerationRequest(CONTINUE, _settings(
        model="poly-lstm", bars=1), parts=True))
    said = [m for m in result.messages if m.startswith("Drum style ")]
    assert len(said) == 1 and said[0].endswith(
        "(auto: the style the drum model hears in the drums before).")
    assert said[0].split()[2] in ("swing", "jazz", "shuffle", "blues")
    named = jobs.run(library, groove, GenerationRequest(CONTINUE, _settings(
        model="poly-lstm", bars=1), parts=True, drum_style="rock"))
    assert "Drum style rock." in named.messages
    assert named.variations == result.variations


def test_the_seeds_groove_makes_bars_come_back(library, monkeypatch):
    """Continued drums keep the seed's groove (drum_memory.seed_groove), so after a seed
    whose bars come back (two of its three after the first), new bars come back as the
    seed's bars on the grid, the way real grooves do (real next bars repeat an earlier
    one 0.87-0.95 of the time after such a seed); the network alone at temperature 1
    hardly ever plays a bar twice.  (A seed that never repeats, as mma's swing, goes on
    varying: test_a_seed_that_never_repeats_is_not_read_as_a_four_bar_cycle.)"""
    import engine.generation.drum_memory as drum_memory

    enc, bar = library.get("drums-lstm").encoding, 48
    song = _kit_song([ROCK, ROCK, [h for h in ROCK if h != (42, 5)], ROCK])
    request = GenerationRequest(CONTINUE, _settings(bars=4, variations=4))

    def grid(notes, start):
        tokens = enc.encode_steps(notes, song.ppq, start, start + 4 * bar).tokens
        return [(enc.piece_levels[np.asarray(tokens[b:b + bar])] > 0).tobytes()
                for b in range(0, 4 * bar, bar)]

    def repeated() -> int:
        result = jobs.run(library, song, request)
        start = enc.ceil_step(result.start_tick, song.ppq)
        seed = grid(song.tracks[0].notes, start - 4 * bar)
        count = 0
        for notes in result.variations:
            seen = list(seed)
            for b in grid(notes, start):
                count += b in seen
                seen.append(b)
        return count

    with_groove = repeated()
    monkeypatch.setattr(drum_memory, "GROOVE_SHARE", 0.0)
    monkeypatch.setattr(drum_memory, "GROOVE_SHARE_ALONE", 0.0)
    without = repeated()
    print(f"bars that came back of 16: {with_groove} with the seed's groove, {without} without")
    assert with_groove >= 10 and without < with_groove


def _kit_song(bars: list[list[tuple[int, int]]], ppq: int = 96) -> Song:
    """A song of one drum track: per bar of 4/4, (GM note, eighth of the bar) hits."""
    notes = [Note(pitch, b * 4 * ppq + eighth * ppq // 2, ppq // 4, 90, DRUM_CHANNEL)
             for b, hits in enumerate(bars) for pitch, eighth in hits]
    return Song(ppq=ppq, tracks=[Track(name="Drums", channel=DRUM_CHANNEL,
                                       notes=sorted(notes, key=Note.sort_key))])


STICKS = [(37, 0), (37, 2), (37, 4), (37, 6)]  # a count-in: sticks on the beats
ROCK = [(36, 0), (36, 4), (38, 2), (38, 6)] + [(42, e) for e in range(8)]


def test_the_groove_is_read_from_the_bars_alike_the_last(library):
    """groove_bars: a count-in before the groove is not read as the groove; bars of one
    groove varied (a hi-hat left out here and there) all are; a last bar like none
    before it (a fill, an ending) leaves every bar read; a silent bar at the end is
    passed over."""
    from engine.generation.jobs.drums import groove_bars

    enc = library.get("drums-lstm").encoding

    def tokens(bars):
        song = _kit_song(bars)
        return enc.encode_steps(song.tracks[0].notes, song.ppq, 0, 48 * len(bars)).tokens

    varied = [[h for h in ROCK if h != (42, k)] for k in (1, 3, 5, 7)]
    assert groove_bars(enc, tokens([STICKS, STICKS, ROCK, ROCK]), 48) == 2
    assert groove_bars(enc, tokens([STICKS, ROCK, STICKS, ROCK]), 48) == 3
    assert groove_bars(enc, tokens(varied), 48) == 4
    assert groove_bars(enc, tokens([ROCK] * 3 + [STICKS]), 48) == 4
    assert groove_bars(enc, tokens([STICKS, STICKS, ROCK, ROCK, []]), 48) == 2
    assert groove_bars(enc, tokens([ROCK] * 6), 48) == 4


def test_a_count_in_does_not_come_back_in_the_drums_that_go_on(library, monkeypatch):
    """Two bars of sticks, then the groove: the drums that go on play the groove, not the
    count-in (read as part of the groove, a bar in five took the sticks' bar whole)."""
    import engine.generation.jobs.drums as drum_jobs

    song = _kit_song([STICKS, STICKS, ROCK, ROCK])
    request = GenerationRequest(CONTINUE, _settings(bars=4, variations=4))

    def sticks() -> int:
        result = jobs.run(library, song, request)
        return sum(n.pitch == 37 for notes in result.variations for n in notes)

    now = sticks()
    monkeypatch.setattr(drum_jobs, "GROOVE_ALIKE", 0.0)  # every bar read, as before
    before = sticks()
    print(f"side sticks in 16 new bars: {now}, with the count-in read as groove {before}")
    assert before >= 8 and now <= before // 4


def test_a_seed_that_never_repeats_is_not_read_as_a_four_bar_cycle(library):
    """Four bars of one groove, each with another hi-hat left out: nothing says the seed
    is a cycle of four bars, so a new bar's third bar copies the seed's third bar less
    than the four-bar pattern would have it (the seed's bars weighed alike, the one-bar
    pattern leant on)."""
    from engine.generation.drum_memory import seed_groove
    from engine.generation.jobs.drums import _hit_sets, _seed_groove

    enc = library.get("drums-lstm").encoding
    varied = [[h for h in ROCK if h != (42, k)] for k in (1, 3, 5, 7)]
    song = _kit_song(varied)
    prime = enc.encode_steps(song.tracks[0].notes, song.ppq, 0, 192).tokens
    bars = [0, 48, 96, 144, 192]
    cycled = seed_groove(prime, 192, bars, 48, enc.vocab_size, memory=False,
                         hit_sets=_hit_sets(enc))
    mine = _seed_groove(enc, prime, 192, bars, 48, False)
    assert cycled.whole == mine.whole == 0.0
    # at the places of the cycle's third bar, the weight of the seed's third bar's steps
    third = slice(96, 144)
    weight = lambda g: float(g.sources[96:144, third].sum(axis=1).mean())  # noqa: E731
    print(f"seed bar 3's weight in new bar 3: {weight(cycled):.3f} -> {weight(mine):.3f}")
    assert weight(mine) < weight(cycled) - 0.1
    # every bar of the seed is drawn from somewhere in each new bar
    for b in range(4):
        assert mine.sources[96:144, 48 * b:48 * b + 48].sum() > 0


def test_the_style_heard_in_a_seed_is_weighed_once_per_seed(library, groove, monkeypatch):
    """Generate again on the same song does not weigh every style over the same drums
    again (the style kept per model and seed); other drums before the new bars are
    weighed anew, and a cleared cache weighs again, to the same style."""
    from engine.generation.jobs.drums import clear_seed_styles, continue_drums

    model = library.get("drums-lstm")
    calls = []
    real = model.sequence_logits

    def counted(tokens, *args, **kwargs):
        calls.append(np.shape(tokens))
        return real(tokens, *args, **kwargs)

    monkeypatch.setattr(model, "sequence_logits", counted)
    settings = _settings(bars=1, variations=1)
    song = only_drums(groove)

    def style(s: Song) -> str:
        messages: list[str] = []
        continue_drums(library, s, settings, start_tick=s.end_tick, new_notes=None,
                       messages=messages)
        return next(m for m in messages if m.startswith("Drum style"))

    clear_seed_styles()
    first = style(song)
    assert len(calls) == 1 and calls[0][0] == len(STYLES) - 1  # every style, one row each
    assert style(song) == first and len(calls) == 1  # kept
    shorter = song.copy()
    cut = shorter.end_tick - shorter.ticks_per_bar_at(0)
    for t in shorter.tracks:
        t.notes = [n for n in t.notes if n.start_tick < cut]
    style(shorter)
    assert len(calls) == 2  # other drums before the new bars: weighed anew
    clear_seed_styles()
    assert style(song) == first and len(calls) == 3
