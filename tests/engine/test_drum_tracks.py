"""Every drum track goes on (issue 24): a song with two drum tracks continues both, each
with its own groove, on real MIDI with the shipped models; and a groove is taken bar by
bar (drum_memory.GrooveTake): each new bar one of the seed's bars, not a mosaic of them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.encodings import CONTINUE
from engine.encodings.drums import DRUM_CHANNEL, KIT, kit_piece
from engine.formats import load_song
from engine.generation import jobs
from engine.generation.drum_memory import seed_groove
from engine.generation.jobs.drums import drum_tracks
from engine.generation.parts_song import song_with_drums, song_with_parts
from engine.generation.request import GenerationRequest, GenerationSettings
from engine.generation.service import Result, decode, encode
from engine.song import Note, Track
from tests.engine.drum_rig import ROOT, groove, library, only_drums  # noqa: F401

# mma's example of a drum track taken from a MIDI file found on the net: two drum tracks
# (and pitched parts), the second with a groove of its own
COUNTME = ROOT / "tests" / "data" / "external" / \
    "mma--usr_share_doc_mma_examples_midi-inc_mid2seq_countme.mid"


def _settings(**kw) -> GenerationSettings:
    return GenerationSettings(**{"model": "poly-lstm", "variations": 2, "rng_seed": 3,
                                 "memory": True, "bars": 4, **kw})


def _pieces(notes) -> set[int]:
    return {kit_piece(n.pitch) for n in notes} - {None}


def _own_share(new: list[Note], seed: list[Note]) -> float:
    """The share of ``new``'s hits on kit pieces that ``seed`` strikes."""
    own = _pieces(seed)
    hits = [kit_piece(n.pitch) for n in new if kit_piece(n.pitch) is not None]
    return sum(p in own for p in hits) / max(1, len(hits))


def test_every_drum_track_of_a_real_song_goes_on_with_its_own_groove(library):
    if not COUNTME.exists():
        pytest.skip("tests/data/external is fetched by scripts/fetch-test-midi.sh")
    song = load_song(str(COUNTME))
    # three tracks on channel 10: a kit ('Drums'), snare rolls and crashes ('Cymbals &
    # Drum Rolls'), and a bell glissando on note 84, which no kit piece plays
    heard = [i for i in drum_tracks(song)
             if any(kit_piece(n.pitch) is not None for n in song.tracks[i].notes)]
    bells = [i for i in drum_tracks(song) if i not in heard]
    assert len(heard) == 2 and len(bells) == 1
    assert any(t.notes and not t.is_drum for t in song.tracks)
    drums = heard
    result = jobs.run(library, song, GenerationRequest(CONTINUE, _settings(), parts=True))
    assert result.drum_track == drums[0] and result.drum_track_of is not None
    assert any("stays as it is" in m and song.tracks[bells[0]].name in m
               for m in result.messages), result.messages
    assert any("drum tracks" in m and "each with its own groove" in m
               for m in result.messages), result.messages
    for v in range(len(result.drums)):
        assert len(result.drum_track_of[v]) == len(result.drums[v])
        assert set(result.drum_track_of[v]) == set(drums)
        written = song_with_parts(song, result, v)
        for d in drums:
            seed = song.tracks[d].notes
            new = written.tracks[d].notes[len(seed):]
            assert written.tracks[d].notes[:len(seed)] == seed
            assert new and all(n.start_tick >= result.start_tick and n.channel == DRUM_CHANNEL
                               for n in new)
            share = _own_share(new, seed)
            print(f"variation {v}, track {d + 1}: {len(new)} new hits, {share:.2f} on the "
                  f"track's own pieces")
            assert share >= 0.9  # its own groove, not the other drum track's
        assert written.tracks[bells[0]] == song.tracks[bells[0]]
        # the melody path's helper puts each note on its own track too
        assert song_with_drums(song, result, v).tracks[drums[1]] == written.tracks[drums[1]]
    # the field travels through the generation service
    back = decode(encode(Result(1, result, 0)))
    assert back.result.drum_track_of == result.drum_track_of
    assert back.result.drums == result.drums


def test_a_song_of_two_drum_tracks_only_continues_both(library, groove):
    """mma's swing drums split into two drum tracks (kick and snare; the cymbals and
    everything else): Generate continues each on its own track from its own hits."""
    song = only_drums(groove)
    notes = song.tracks[0].notes
    low = [n for n in notes if kit_piece(n.pitch) in (KIT.index("kick"), KIT.index("snare"))]
    high = [n for n in notes if n not in low]
    assert low and high
    song.tracks = [Track(name="Kick and snare", channel=DRUM_CHANNEL, is_drum=True, notes=low),
                   Track(name="Cymbals", channel=DRUM_CHANNEL, is_drum=True, notes=high)]
    assert all(t.is_drum for t in song.tracks)
    result = jobs.run(library, song, GenerationRequest(CONTINUE, _settings(model="lstm")))
    assert any("each with its own groove" in m for m in result.messages), result.messages
    for t in (0, 1):  # (one track with all of them: half its hits the other's pieces)
        mine = [n for new, tracks in zip(result.variations, result.track_of)
                for n, i in zip(new, tracks) if i == t]
        share = _own_share(mine, song.tracks[t].notes)
        print(f"track {t + 1}: {len(mine)} hits, {share:.2f} its own")
        assert share >= 0.85
    for v, (new, tracks) in enumerate(zip(result.variations, result.track_of)):
        assert set(tracks) == {0, 1}
        written = song_with_parts(song, result, v)
        assert [len(t.notes) for t in written.tracks] == \
            [len(t.notes) + tracks.count(i) for i, t in enumerate(song.tracks)]
    # one drum track as before: every new note on it
    one = only_drums(groove)
    alone = jobs.run(library, one, GenerationRequest(CONTINUE, _settings(model="lstm")))
    assert all(set(t) == {0} for t in alone.track_of)
    assert not any("each with its own groove" in m for m in alone.messages)
    # one style for the kit, heard in both tracks together: the one the whole kit gets
    # on one track (kick and snare alone were heard as a waltz, the cymbals as latin)
    styles = [m for m in result.messages if m.startswith("Drum style")]
    assert styles == [m for m in alone.messages if m.startswith("Drum style")], \
        result.messages


def test_a_groove_is_taken_bar_by_bar_each_new_bar_one_of_the_seeds():
    """Four different bars of seed: where a new bar is taken whole, it is one of them
    exactly (a step drawn on its own from the mixture mixes them up), and each place's
    tokens still come as often as the groove's mixture says.  How often a bar is taken
    whole is how often the seed's own bars repeat: never here, always for a seed of one
    bar played four times, 2 of 3 for A A B A."""
    bar, vocab, rows = 12, 10, 4000
    bars = [[1 + b if s % 3 == 0 else 0 for s in range(bar)] for b in range(3)]
    bars.append([4 + s % 6 for s in range(bar)])  # a fill: something at every step
    prime = [t for b in bars for t in b]
    lines = [0, 12, 24, 36, 48]
    varied = seed_groove(prime, 48, lines, bar, vocab, share=1.0)
    assert varied.whole == 0.0
    assert seed_groove(bars[0] * 4, 48, lines, bar, vocab).whole == 1.0
    aaba = seed_groove(bars[0] * 2 + bars[1] + bars[0], 48, lines, bar, vocab)
    assert aaba.whole == pytest.approx(2 / 3)
    # tokens 1 and 2 the same hits at another loudness: the bars repeat
    same = np.array([0, 1, 1, 3, 4, 5, 6, 7, 8, 9])
    assert seed_groove(bars[0] + bars[1] + bars[0] + bars[1], 48, lines, bar, vocab,
                       hit_sets=same).whole == 1.0
    seed_bars = {tuple(b) for b in bars}
    logits = np.zeros((rows, vocab))
    for whole in (1.0, 0.0):
        groove = dataclasses.replace(varied, whole=whole)
        take = groove.take(np.random.default_rng(0))
        out = np.stack([take(logits, step).argmax(axis=1) for step in range(48, 96)], axis=1)
        for step in range(48, 96):
            counts = np.bincount(out[:, step - 48], minlength=vocab) / rows
            assert np.abs(counts - groove.at(step)).max() < 0.04
        for b in range(4):
            played = [tuple(row) for row in out[:, b * bar:(b + 1) * bar]]
            if whole:
                assert all(p in seed_bars for p in played)
                assert len(set(played)) == 4  # every bar of the seed heard
            else:  # each step on its own: bars that match none of the seed's
                assert sum(p not in seed_bars for p in played) > rows / 2


def test_a_groove_without_its_sources_is_taken_step_by_step():
    bar = 12
    one = [5] + [0] * 5 + [3] + [0] * 5
    groove = seed_groove(one * 4, 48, [0, 12, 24, 36, 48], bar, 8, share=0.9)
    plain = dataclasses.replace(groove, window=None, sources=None)
    z = np.zeros((2, 8))
    assert np.allclose(plain.take(np.random.default_rng(1))(z, 48), groove(z, 48))
    # a bar played four times: taken bar by bar or step by step, the same
    assert np.allclose(groove.take(np.random.default_rng(1))(z, 48), groove(z, 48))


def test_a_song_of_more_drum_tracks_than_continue_at_once_keeps_the_rest_and_says_so(
        library, groove):
    """Each drum track is a generation of its own, so a file with hundreds of them (the
    hostile corpus's 10,000 tracks hold 625) took 19 s of CPU; past MAX_DRUM_TRACKS the
    rest stay as they are, in one sentence, and the first ones go on."""
    from engine.generation.jobs.drums import MAX_DRUM_TRACKS

    song = only_drums(groove)
    kit = song.tracks[0]
    extra = 4
    song.tracks = [Track(name=f"Kit {i + 1}", channel=DRUM_CHANNEL, is_drum=True,
                         notes=list(kit.notes)) for i in range(MAX_DRUM_TRACKS + extra)]
    result = jobs.run(library, song, GenerationRequest(CONTINUE, _settings(model="lstm",
                                                                           variations=1)))
    went = set(result.track_of[0])
    assert went == set(range(MAX_DRUM_TRACKS)), sorted(went)
    assert f"{extra} more drum tracks stay as they are: Continuo continues at most " \
        f"{MAX_DRUM_TRACKS} drum tracks at once." in result.messages, result.messages
    written = song_with_parts(song, result, 0)
    assert written.tracks[MAX_DRUM_TRACKS:] == song.tracks[MAX_DRUM_TRACKS:]
