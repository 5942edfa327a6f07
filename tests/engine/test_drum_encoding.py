"""The drum encoding (drums-12th v1): the kit map, round trips on the twelve-a-quarter
grid (straight, swung, triplets, 3/4, 6/8, 7/8), velocity levels, what it cannot hear
reported, its card, its conditioning values, and a real mma MIDI file read through it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.encodings import ENCODINGS, EncodingReport, encoding_from_card
from engine.encodings.drums import (DRUM_CHANNEL, KIT, LEVEL_VELOCITY, REST, STYLES,
                                    DrumContext, DrumEncoding, bar_lines, bar_steps,
                                    kit_piece, onsets_per_step, piece_note, position_at,
                                    style_id, unmapped_notes)
from engine.errors import EncodingError
from engine.formats.midi import midi_file_to_song
from engine.song import Note, Song, TimeSignature, Track

PPQ = 480
KICK, SNARE, HAT = 36, 38, 42


def drum_track(hits: list[tuple[int, int, int]]) -> Track:
    """[(gm note, start tick, velocity)] -> a drum track on channel 10."""
    return Track("Drums", channel=DRUM_CHANNEL, is_drum=True,
                 notes=[Note(p, s, 60, v, DRUM_CHANNEL) for p, s, v in hits])


def round_trip(hits: list[tuple[int, int, int]], ppq: int = PPQ) -> list[tuple[int, int, int]]:
    enc = DrumEncoding()
    encoded = enc.encode_tracks([drum_track(hits)], ppq, start_step=0)
    notes = enc.decode(encoded.tokens, ppq, start_step=encoded.start_step)
    assert all(n.channel == DRUM_CHANNEL for n in notes)
    return sorted((n.pitch, n.start_tick, n.velocity) for n in notes)


def test_the_kit_maps_gm_percussion_and_writes_each_piece_as_one_note() -> None:
    assert kit_piece(35) == kit_piece(36) == KIT.index("kick")
    assert kit_piece(40) == KIT.index("snare")
    assert kit_piece(44) == KIT.index("pedal_hat") and kit_piece(46) == KIT.index("open_hat")
    assert kit_piece(57) == KIT.index("crash") and kit_piece(53) == KIT.index("ride")
    assert kit_piece(80) is None and kit_piece(20) is None  # triangle, below the map
    for i in range(len(KIT)):
        assert kit_piece(piece_note(i)) == i
    with pytest.raises(EncodingError):
        piece_note(len(KIT))


def test_straight_sixteenths_survive_at_every_level() -> None:
    hits = [(HAT, i * 120, (50, 85, 112)[i % 3]) for i in range(16)] + \
        [(KICK, 0, 112), (SNARE, 480, 85), (KICK, 960, 112), (SNARE, 1440, 85)]
    assert round_trip(hits) == sorted(hits)


def test_swung_eighths_and_triplets_keep_their_places() -> None:
    # swung eighths: the off-beat two thirds into the beat; 8th triplets; 16th triplets
    swing = [(HAT, b * 480 + o, 85) for b in range(4) for o in (0, 320)]
    triplets = [(SNARE, 1920 + i * 160, 85) for i in range(6)]
    sixteenth_triplets = [(KICK, 3840 + i * 80, 112) for i in range(6)]
    hits = swing + triplets + sixteenth_triplets
    assert round_trip(hits) == sorted(hits)
    enc = DrumEncoding()
    assert enc.encode_tracks([drum_track(hits)], PPQ).report.max_quantize_error_ticks == 0


def test_velocities_read_as_three_levels() -> None:
    got = round_trip([(SNARE, 0, 20), (SNARE, 120, 63), (SNARE, 240, 64), (SNARE, 360, 99),
                      (SNARE, 480, 100), (SNARE, 600, 127)])
    assert [v for _, _, v in got] == [LEVEL_VELOCITY[0]] * 2 + [LEVEL_VELOCITY[1]] * 2 + \
        [LEVEL_VELOCITY[2]] * 2


@pytest.mark.parametrize("meter,steps", [((4, 4), 48), ((3, 4), 36), ((6, 8), 36),
                                         ((7, 8), 42), ((5, 4), 60)])
def test_metres_round_trip_and_count_their_steps(meter, steps) -> None:
    ts = TimeSignature(0, *meter)
    enc = DrumEncoding()
    assert bar_steps(ts) == steps and enc.steps_for(2, ts) == 2 * steps
    assert enc.steps_for(2, ts.ticks_per_bar(PPQ), PPQ) == 2 * steps
    bar = ts.ticks_per_bar(PPQ)
    eighth = PPQ // 2
    hits = [(KICK, b * bar, 112) for b in range(2)] + \
        [(HAT, b * bar + i * eighth, 85) for b in range(2) for i in range(bar // eighth)]
    song = Song(ppq=PPQ, tracks=[drum_track(hits)], time_signatures=[ts])
    tokens = enc.song_to_tokens(song)
    assert len(tokens) == 2 * steps
    notes = enc.decode(tokens, PPQ)
    assert sorted((n.pitch, n.start_tick, n.velocity) for n in notes) == sorted(hits)


def test_other_ppqs_land_on_the_grid() -> None:
    hits = [(HAT, i * 64, 85) for i in range(9)]  # 8th triplets at ppq 192
    assert round_trip(hits, ppq=192) == sorted(hits)


def test_notes_outside_the_map_are_reported_not_heard() -> None:
    hits = [(KICK, 0, 112), (81, 120, 85), (81, 240, 85), (20, 360, 85)]
    track = drum_track(hits)
    assert [n.pitch for n in unmapped_notes(track.notes)] == [81, 81, 20]
    encoded = DrumEncoding().encode_tracks([track], PPQ, start_step=0)
    (message,) = encoded.report.messages()
    assert "3 drum notes are not in the General MIDI percussion map" in message
    assert "20, 81" in message
    assert DrumEncoding().count_onsets(np.array(encoded.tokens)) == 1


def test_a_set_the_vocabulary_lacks_keeps_what_matters_and_says_so() -> None:
    enc = DrumEncoding([[], [[0, 2]], [[0, 2], [4, 1]], [[1, 1]]])  # kick, kick+hat, snare
    kick, hat, snare, crash = (KIT.index(n) for n in ("kick", "closed_hat", "snare", "crash"))
    assert enc.nearest({kick: 2, hat: 1}) == (2, 0, 0)
    assert enc.nearest({kick: 1, hat: 1, crash: 2}) == (2, 1, 1)  # crash out, kick levelled
    assert enc.nearest({crash: 1}) == (REST, 1, 0)
    track = drum_track([(36, 0, 112), (42, 0, 85), (49, 0, 112), (38, 120, 120)])
    report = enc.encode_tracks([track], PPQ).report
    assert any("1 drum hit of 4 struck together with others was left out" in m
               for m in report.messages())
    assert any("1 drum hit of 4 was heard at another loudness" in m for m in report.messages())


def test_the_card_round_trips_through_the_registry() -> None:
    enc = DrumEncoding([[], [[0, 2]], [[0, 1], [4, 1]]], note_steps=2)
    assert ENCODINGS[("drums-12th", 1)] is DrumEncoding
    back = encoding_from_card(enc.card())
    assert isinstance(back, DrumEncoding) and back.combos == enc.combos
    assert back.note_steps == 2 and back.token_names()[2] == "kick:medium+closed_hat:medium"
    bad = {**enc.card(), "vocab_size": 7}
    with pytest.raises(EncodingError, match="vocabulary size"):
        encoding_from_card(bad)
    with pytest.raises(EncodingError, match="cannot play"):
        DrumEncoding([[], [[99, 0]]])
    with pytest.raises(EncodingError, match="REST"):
        DrumEncoding([[[0, 1]]])


def test_bits_per_note_count_drum_hits_and_steps_count_tokens() -> None:
    enc = DrumEncoding()
    tokens = np.array([REST, enc.token([("kick", "accent"), ("closed_hat", "medium")]),
                       enc.token([("snare", 1)]), REST])
    assert enc.count_onsets(tokens) == 3 and enc.count_steps(tokens) == 4
    assert enc.start_token(0, enc.allowed_tokens()) == enc.token([("kick", "accent")])


def test_styles_have_ids_and_an_unknown_one_is_named() -> None:
    assert STYLES[style_id("Swing")] == "swing" and style_id("other") == 0
    with pytest.raises(EncodingError, match="no drum style named 'zydeco-x'.*rock"):
        style_id("zydeco-x")


def test_conditioning_describes_the_step_about_to_be_written() -> None:
    enc = DrumEncoding()
    song = Song(ppq=PPQ, time_signatures=[TimeSignature(0, 4, 4), TimeSignature(1920, 3, 4)])
    bars, last = bar_lines(song, 1920 * 3)
    assert bars[:3] == [0, 48, 84] and last == 36
    bass = Track("Bass", notes=[Note(36, 0, 480), Note(40, 480 + 40, 480)])
    chords = Track("Piano", notes=[Note(60, 160, 300), Note(64, 160, 300)])
    onsets = onsets_per_step([bass, chords, drum_track([(36, 0, 100)])], PPQ, 100)
    assert onsets.shape == (100, 2)
    assert onsets[0].tolist() == [1, 0] and onsets[4].tolist() == [0, 1]
    assert onsets[13].tolist() == [1, 0] and onsets.sum() == 3  # 520 ticks -> step 13
    enc.context = DrumContext(origin=10, style=style_id("waltz"), bars=bars, bar_steps=last,
                              onsets=onsets)
    values = enc.conditioning(2)  # token 2 is step 12; the model writes step 13 next
    assert values["style"] == STYLES.index("waltz")
    assert values["onsets"].tolist() == [1, 0]
    position = values["position"]
    assert position[1] == 1 and position[12 + 1] == 1 and position.sum() == 2
    assert position_at(48 + 36 + 36 + 13, bars, last)[12 + 1] == 1  # a 3/4 bar later
    rows = enc.conditioning_rows(5)
    assert rows["position"].shape == (5, 20) and rows["onsets"][2].tolist() == [1, 0]


def test_a_real_mma_groove_reads_on_the_grid() -> None:
    """mma's Swing groove (4 bars at ppq 192, humanised by a few ticks): every hit lands,
    exactly with a vocabulary that has its sets, and the default one says what it
    left out."""
    path = Path(__file__).parents[1] / "data" / "drums" / "swing-tiny.mid"
    song = midi_file_to_song(path)
    drums = [n for t in song.tracks if t.is_drum or t.channel == DRUM_CHANNEL for n in t.notes]
    enc = DrumEncoding()
    rows = enc.step_hits(drums, song.ppq, 0, 4 * 48, EncodingReport())
    hits = sum(len(r) for r in rows)
    assert hits == len({(kit_piece(n.pitch), enc.tick_to_step(n.start_tick, song.ppq))
                        for n in drums}) == 73
    own = DrumEncoding([[]] + sorted({tuple(sorted(r.items())) for r in rows if r}))
    tokens = own.song_to_tokens(song)
    assert len(tokens) == 4 * 48 and own.count_onsets(np.array(tokens)) == hits
    encoded = enc.encode_tracks(song.tracks, song.ppq, start_step=0)
    left = [int(m.split()[0]) for m in encoded.report.messages() if "left out" in m]
    assert enc.count_onsets(np.array(encoded.tokens)) + sum(left) == hits
