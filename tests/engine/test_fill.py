"""Filling a gap (issue 13) with the shipped fill models and real onnxruntime: the fill
encoding, the generator's fill, its bad gaps, the service job, ``main.py fill`` and
``main.py score --fill``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.encodings import encoding_from_card
from engine.encodings.fim import PREFIX_STEPS, SUFFIX_STEPS, FillMelodyEncoding
from engine.errors import EncodingError, GenerationError, ModelError
from engine.formats import midi_file_to_song, song_to_midi_bytes, song_to_midi_file
from engine.generation.fill import apply_fill, bar_range_ticks, fill, score_gap, split_at_gap
from engine.generation.generator import GenerationSettings
from engine.models import ModelLibrary
from engine.song import Note, Song, Track, melody_song

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
FILL_MODELS = ("lstm-fill", "wavenet-fill")
TPB = 1920  # a 4/4 bar at 480 ppq


@pytest.fixture(scope="module")
def library() -> ModelLibrary:
    lib = ModelLibrary([MODELS])
    missing = [m for m in FILL_MODELS if m not in lib.names]
    assert not missing, f"missing {missing}: {lib.problems}"
    return lib


def tune(bars: int = 6, velocity_of=lambda i: 100 if i % 4 == 0 else 72) -> Song:
    """A G major tune of quarter and eighth notes, ``bars`` bars of 4/4."""
    pitches = [67, 71, 74, 72, 71, 69, 67, 66, 67, 69, 71, 72, 74, 76, 74, 71]
    notes, t, i = [], 0, 0
    while t < bars * TPB:
        d = 240 if i % 5 == 3 else 480
        notes.append(Note(pitches[i % len(pitches)], t, d, velocity_of(i)))
        t, i = t + d, i + 1
    return melody_song(notes, bpm=100)


# ---- the encoding -----------------------------------------------------------------------


def test_fill_encoding_is_registered_and_rearranges_around_the_gap():
    enc = FillMelodyEncoding()
    assert encoding_from_card(enc.card()).name == "melody-fim-16th"
    assert enc.vocab_size == 38 + 1 + 16
    tokens = [2 + 12] + [0] * 3 + [2 + 14] + [0] * 3 + [2 + 16, 0, 0, 0, 1] + [2 + 12] * 3
    seq, first = enc.fill_example(tokens, 4, 8)
    # suffix, then the gap's length, then the prefix running straight into the middle
    assert seq[0] == enc.suffix_token and seq[1:1 + len(tokens) - 8] == tokens[8:]
    p = 1 + len(tokens) - 8
    assert seq[p] == enc.middle_token(4) and seq[p + 1:first] == tokens[:4]
    assert seq[first:] == tokens[4:8]
    # what sounds at the gap's end stops there: a HOLD opening the suffix is a NOTE_OFF
    seq, _ = enc.fill_example(tokens, 2, 6)
    assert seq[0] == enc.suffix_token and seq[1] == 1
    # the first new step may not hold on the prefix's last note
    seq, first = enc.fill_example(tokens, 6, 8)
    assert not enc.first_step_allowed(seq[:first], enc.allowed_tokens())[0]
    assert len(enc.fill_prompt(list(range(2, 300)), [], 4)) == 1 + 1 + PREFIX_STEPS
    assert len(enc.suffix_window(list(range(2, 2 + 100)))) == SUFFIX_STEPS
    assert not enc.allowed_tokens()[enc.melody_vocab_size:].any(), "sentinels are never sampled"


def test_a_card_says_how_much_the_prompt_reads_on_each_side():
    """transformer-fill reads more of the music after the gap than lstm-fill: the card's
    ``sentinels`` say how much, and a card that does not say reads as lstm-fill's."""
    enc = FillMelodyEncoding(suffix_steps=96, prefix_steps=48)
    card = enc.card()
    assert card["sentinels"]["suffix_steps"] == 96 and card["sentinels"]["prefix_steps"] == 48
    again = encoding_from_card(card)
    assert (again.suffix_steps, again.prefix_steps) == (96, 48)
    tokens = [2 + 12, 0, 0, 0] * 100
    seq, first = again.fill_example(tokens, 200, 216)
    assert first == 1 + 96 + 1 + 48 and seq[1:97] == tokens[216:312]
    assert seq[98:first] == tokens[152:200]
    del card["sentinels"]
    old = encoding_from_card(card)
    assert (old.suffix_steps, old.prefix_steps) == (SUFFIX_STEPS, PREFIX_STEPS)
    lstm_fill = encoding_from_card(json.loads((MODELS / "lstm-fill.json").read_text())["encoding"])
    assert (lstm_fill.suffix_steps, lstm_fill.prefix_steps) == (48, 64)
    with pytest.raises(EncodingError):
        FillMelodyEncoding(suffix_steps=0)


def test_cards_say_which_jobs_and_a_card_without_jobs_continues(library, tmp_path):
    for name in FILL_MODELS:
        assert library.info(name).jobs == ("continue", "fill")
    assert library.info("lstm").jobs == ("continue",)
    assert "jobs" not in json.loads((MODELS / "lstm.json").read_text())
    from engine.models.card import read_card

    card = json.loads((MODELS / "lstm-fill.json").read_text())
    for f in card["files"].values():
        (tmp_path / f).write_bytes((MODELS / f).read_bytes())
    card["jobs"] = ["dance"]
    (tmp_path / "bad.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="jobs"):
        read_card(tmp_path / "bad.json")


# ---- the generator ----------------------------------------------------------------------


@pytest.mark.parametrize("model", FILL_MODELS)
def test_every_note_outside_the_gap_is_byte_identical_in_the_saved_midi(library, model,
                                                                        tmp_path):
    song = tune()
    start, end = bar_range_ticks(song, 3, 4)
    settings = GenerationSettings(model=model, variations=4, rng_seed=5, temperature=1.0)
    result = fill(library, song, settings, start_tick=start, end_tick=end)
    assert len(result.variations) == 4 and result.model == model
    assert any(result.variations), "a two-bar fill of a real model has notes"
    before, inside, after = split_at_gap(song.tracks[0].notes, start, end)
    assert inside
    song_to_midi_file(song, tmp_path / "original.mid")
    original = midi_file_to_song(tmp_path / "original.mid")
    for k, notes in enumerate(result.variations):
        assert all(start <= n.start_tick and n.end_tick <= end for n in notes)
        filled = apply_fill(song, 0, start, end, notes)
        path = tmp_path / f"{model}-{k}.mid"
        song_to_midi_file(filled, path)
        back = midi_file_to_song(path)
        # the saved file without the fill's notes is, byte for byte, the original
        # without the gap's notes
        without_fill = back.copy()
        without_fill.tracks[0].notes = [n for n in back.tracks[0].notes
                                        if not start <= n.start_tick < end]
        without_gap = original.copy()
        without_gap.tracks[0].notes = [n for n in original.tracks[0].notes
                                       if not start <= n.start_tick < end]
        assert song_to_midi_bytes(without_fill) == song_to_midi_bytes(without_gap)
        assert sorted((n for n in back.tracks[0].notes if start <= n.start_tick < end),
                      key=Note.sort_key) == sorted(notes, key=Note.sort_key)


def test_same_settings_give_the_same_fill_and_the_key_lock_holds(library):
    song = tune()
    start, end = bar_range_ticks(song, 2, 3)
    s = GenerationSettings(model="lstm-fill", variations=3, rng_seed=11, temperature=1.5)
    a = fill(library, song, s, start_tick=start, end_tick=end)
    b = fill(library, song, s, start_tick=start, end_tick=end)
    assert a.variations == b.variations and a.steps == (end - a.start_tick) // 120
    g_major = {7, 9, 11, 0, 2, 4, 6}
    assert all(n.pitch % 12 in g_major for v in a.variations for n in v)
    c = fill(library, song, GenerationSettings(model="lstm-fill", variations=3, rng_seed=12,
                                               temperature=1.5), start_tick=start,
             end_tick=end)
    assert c.variations != a.variations


def test_a_note_sounding_into_the_gap_is_kept_and_the_fill_starts_when_it_ends(library):
    song = tune()
    long_note = Note(64, TPB - 480, 960)  # from beat 4 of bar 1 into bar 2
    track = song.tracks[0]
    track.notes = [n for n in track.notes if not TPB - 480 <= n.start_tick < TPB + 480]
    track.notes.append(long_note)
    result = fill(library, song, GenerationSettings(model="wavenet-fill", variations=4),
                  start_tick=TPB, end_tick=2 * TPB)
    assert result.start_tick == TPB + 480
    assert all(n.start_tick >= TPB + 480 for v in result.variations for n in v)
    assert long_note in apply_fill(song, 0, TPB, 2 * TPB, result.variations[0]).tracks[0].notes


@pytest.mark.parametrize("end,start", [
    (TPB + 20, TPB),  # released 20 ticks late (a player's legato): the gap's own start
    (TPB + 250, TPB + 480),  # held to just past an eighth into the gap: beat 2, not 2.75
    (TPB + 1460, TPB + 1440),  # held through most of the bar: its last beat
])
def test_a_note_sounding_into_the_gap_starts_the_fill_on_the_beat_after_it(library, end,
                                                                           start):
    """A fill begins where a continuation of what sounds into the gap would: on the
    first beat after the note as read (its end to the nearest sixteenth), never on the
    sixteenth where a release happened to fall."""
    song = tune()
    note = Note(64, TPB - 480, end - (TPB - 480))
    track = song.tracks[0]
    track.notes = [n for n in track.notes if not TPB - 480 <= n.start_tick < 2 * TPB]
    track.notes.append(note)
    result = fill(library, song, GenerationSettings(model="lstm-fill", variations=2),
                  start_tick=TPB, end_tick=2 * TPB)
    assert result.start_tick == start
    assert all(n.start_tick >= start and n.start_tick % 120 == 0
               for v in result.variations for n in v)


def test_bad_gaps_and_a_model_that_cannot_fill_get_a_clear_message(library):
    song = tune(4)
    settings = GenerationSettings(model="lstm-fill")
    with pytest.raises(GenerationError, match="the gap is empty"):
        fill(library, song, settings, start_tick=TPB, end_tick=TPB)
    with pytest.raises(GenerationError, match="after the end of the song"):
        fill(library, song, settings, start_tick=5 * TPB, end_tick=6 * TPB)
    empty = Song(tracks=[Track(name="Melody")])
    with pytest.raises(GenerationError, match="the track is empty"):
        fill(library, empty, settings, start_tick=0, end_tick=TPB)
    with pytest.raises(GenerationError, match="trained to continue, not to fill"):
        fill(library, song, GenerationSettings(model="lstm"), start_tick=TPB, end_tick=2 * TPB)
    with pytest.raises(GenerationError, match="last bar comes before the first"):
        bar_range_ticks(song, 3, 2)


def test_the_service_runs_a_fill_job(library):
    from engine.generation.service import Generate, Result, decode, encode, generate_outcome

    song = tune()
    settings = GenerationSettings(model="lstm-fill", variations=2, rng_seed=3)
    request = decode(encode(Generate(1, [str(MODELS)], song, settings, 0, TPB, 3 * TPB)))
    assert request.end_tick == 3 * TPB
    outcome = generate_outcome(library, request)
    assert isinstance(outcome, Result)
    direct = fill(library, song, settings, start_tick=TPB, end_tick=3 * TPB, track_index=0)
    assert outcome.result.variations == direct.variations


def test_the_gap_scores_fewer_bits_given_both_sides(library):
    """On a tune that repeats its first phrase, the repeat's notes are far better
    predicted when the model has read what follows them."""
    enc = library.get("lstm-fill").encoding
    phrase = [2 + p - 48 for p in (67, 71, 74, 72, 71, 69, 67, 62)]
    line = []
    for p in phrase * 4:
        line += [p, 0, 0, 0]
    line += [1]
    both = score_gap(library.get("lstm-fill"), line, 32, 64)
    before = score_gap(library.get("lstm-fill"), line, 32, 64, both_sides=False)
    assert both[2] == before[2] == 8
    assert np.isfinite(both[0]) and both[0] < before[0] * 1.5
    assert enc.count_onsets(np.array(line[32:64])) == 8



def test_a_gap_is_scored_with_the_memory_in_the_songs_metre(library):
    """The memory's contexts in a gap's scoring are those of the fill job, in the song's
    metre (engine.generation.mixers.memory): in 3/8 a bar is 6 steps, so the contexts
    are by phase in 2 steps, not the mixing's 4, and the bits are those of that mixing;
    without the song, of the mixing's own period."""
    from dataclasses import replace

    from engine.generation.memory import mixing_for, override_mixing

    model = library.get("lstm-fill")
    figure = [2 + p - 48 for p in (67, 69, 71, 72, 74, 72, 71, 67, 64)]
    line = []
    for i, p in enumerate(figure * 3):
        line += [p] + [0] * (1 + i % 3)  # eighths and dotted eighths: phases 0-3 all met
    line += [1]
    song = melody_song([], time_signature=(3, 8))
    # the phrase copy, which only a song's bars set going, aside (tests/engine/test_phrase.py)
    mixing = replace(mixing_for(model.name), phrase=())
    in_three = mixing.in_metre(song, model.encoding.steps_per_quarter)
    assert (mixing.phase_period, in_three.phase_period) == (4, 2)
    gap = (24, 48)
    try:
        override_mixing(model.name, mixing)
        got = score_gap(model, line, *gap, memory=True, song=song)
        other = score_gap(model, line, *gap, memory=True)
        override_mixing(model.name, in_three)
        want = score_gap(model, line, *gap, memory=True)
    finally:
        override_mixing(model.name, None)
    assert got == want
    assert other[0] != pytest.approx(got[0], rel=1e-6)


def test_a_gap_is_scored_with_the_shares_as_score_mixes_them(library):
    """The mixing's generation power is for sampling only: a gap scored with the memory
    gets the same bits whatever the power, and on a plain model's gap (the music before
    only) exactly the bits of ``score``'s mixing (``score_tokens_with_memory``) over the
    gap's tokens, though lstm's own mixing has a power of 0.8."""
    from dataclasses import replace

    from engine.generation.memory import (memory_distributions, mix, mixing_for,
                                          override_mixing, softmax)

    model = library.get("lstm")
    mixing = mixing_for(model.name)
    assert mixing.method == "adaptive" and mixing.generation_power != 1.0
    figure = [2 + p - 48 for p in (60, 62, 64, 65, 67, 65, 64, 62, 67, 69, 71, 72)]
    line = []
    for i, p in enumerate(figure * 3):
        line += [p] + [0] * (1 + i % 3)
    line += [1]
    gap = (40, 70)
    got = score_gap(model, line, *gap, both_sides=False, memory=True)
    for power in (1.0, 0.5):
        override_mixing(model.name, replace(mixing, generation_power=power))
        try:
            assert score_gap(model, line, *gap, both_sides=False, memory=True) == got
        finally:
            override_mixing(model.name, None)
    # score's own mixing of the same tokens (it starts its memory at step 0, as does
    # the gap's scoring with no song: the phases agree)
    tokens = np.asarray(line[:gap[1]], np.int32)
    logits = model.sequence_logits(tokens[None, :-1])[0].astype(np.float64)
    p_mem, longest = memory_distributions(tokens.tolist(), logits.shape[-1],
                                          mixing.max_order, mixing.phase_period)
    p = mix(softmax(logits), p_mem[1:], mixing, longest[1:])
    targets = tokens[gap[0]:]
    want = -np.log2(p[np.arange(gap[0] - 1, gap[1] - 1), targets]).sum()
    assert got[0] == pytest.approx(want, rel=1e-9)
    assert got[1:] == (gap[1] - gap[0], model.encoding.count_onsets(targets))


def test_the_motif_memory_hears_the_music_after_the_gap(library):
    """A figure heard only after the gap: the memory that has heard the suffix predicts
    the gap's copy of it far better than one that has heard only the music before, and
    better than the network alone.  Filling with the memory, the fills take up more of
    the piece's own figures, and the music on both sides stays untouched."""
    model = library.get("lstm-fill")
    opening = [2 + p - 48 for p in (60, 62, 64, 65, 67, 65, 64, 62)]
    figure = [2 + p - 48 for p in (67, 69, 71, 72, 74, 72, 71, 67)]
    line = []
    for p in opening + figure + figure:
        line += [p, 0, 0, 0]
    line += [1]
    gap = (32, 64)  # the first statement of the figure; the second follows the gap
    alone = score_gap(model, line, *gap)
    heard = score_gap(model, line, *gap, memory=True)
    before = score_gap(model, line, *gap, both_sides=False, memory=True)
    assert alone[2] == heard[2] == before[2] == 8
    assert heard[0] < 0.5 * min(alone[0], before[0])

    notes = model.encoding.decode(line[:-1], 480, 0, 0)
    song = melody_song(notes, bpm=100)
    start, end = 2 * TPB, 4 * TPB
    kept = [n for n in song.tracks[0].notes if not start <= n.start_tick < end]
    outside = [n.pitch for n in kept]
    known = {tuple(outside[i:i + 3]) for i in range(len(outside) - 2)}
    share = {}
    for memory in (True, False):
        found = total = 0
        for seed in range(3):
            settings = GenerationSettings(model="lstm-fill", variations=4, rng_seed=seed,
                                          temperature=0.8, key=None, memory=memory)
            for v in fill(library, song, settings, start_tick=start,
                          end_tick=end).variations:
                assert [n for n in apply_fill(song, 0, start, end, v).tracks[0].notes
                        if not start <= n.start_tick < end] == kept
                pitches = [n.pitch for n in v]
                grams = [tuple(pitches[i:i + 3]) for i in range(len(pitches) - 2)]
                found += sum(g in known for g in grams)
                total += len(grams)
        share[memory] = found / max(total, 1)
    assert share[True] > share[False] + 0.2, share


# ---- the command line -------------------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_cli_fill_writes_the_song_with_the_gap_filled(tmp_path):
    seed = tmp_path / "seed.mid"
    song = tune()
    song_to_midi_file(song, seed)
    out = tmp_path / "out.mid"
    proc = run("fill", "--seed", str(seed), "--from", "3", "--to", "4", "--variations", "2",
               "--rng-seed", "4", "--temperature", "0.9", "--key", "G", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    original = midi_file_to_song(seed).tracks[0].notes
    start, end = 2 * TPB, 4 * TPB
    for k in (1, 2):
        notes = midi_file_to_song(tmp_path / f"out-{k}.mid").tracks[0].notes
        assert [n for n in notes if not start <= n.start_tick < end] == \
            [n for n in original if not start <= n.start_tick < end]
        assert f"out-{k}.mid" in proc.stdout
    bad = run("fill", "--seed", str(seed), "--from", "9", "--to", "9", "-o", str(out))
    assert bad.returncode == 1 and "after the end of the song" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    plain = run("fill", "--model", "lstm", "--seed", str(seed), "--from", "2", "--to", "2",
                "-o", str(out))
    assert plain.returncode == 1 and "not to fill" in plain.stderr


def test_cli_score_fill_prints_the_gaps_bits(tmp_path):
    seed = tmp_path / "seed.mid"
    song_to_midi_file(tune(), seed)
    proc = run("score", "--model", "wavenet-fill", "--fill", "3:4", str(seed))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["gap"] == {"from_bar": 3, "to_bar": 4, "context": "both sides"}
    assert report["notes"] > 0 and report["bits_per_note"] == pytest.approx(
        report["total_bits"] / report["notes"])
    plain = json.loads(run("score", "--model", "lstm", "--fill", "3:4", str(seed)).stdout)
    assert plain["gap"]["context"].startswith("the music before the gap only")
    assert plain["notes"] == report["notes"]
    bad = run("score", "--model", "lstm-fill", "--fill", "4:3", str(seed))
    assert bad.returncode == 2 and "--fill" in bad.stderr
