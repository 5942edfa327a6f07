"""The part models' motif memory (engine/generation/part_memory.py): on by default for
continue, harmonise and fill, fitted shares from each part card, the network alone with
the memory off, the repeat control scaling it, and ``score`` mixing it in."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from engine.generation import jobs
from engine.generation.memory import MemoryMixer, mixing_for, score_tokens_with_memory
from engine.generation.part_memory import PartMixers, part_memory, with_memory
from engine.generation.request import GenerationRequest, GenerationSettings
from engine.song import Note, Song, TimeSignature, Track
from tests.engine.part_models import REPO, part_library

CHORALE = REPO / "tests" / "engine" / "data" / "golden_chorale.mid"


@pytest.fixture(scope="module")
def library():
    return part_library("poly-wavenet")


def seed() -> Song:
    """Two bars of four parts that play the same figure twice."""
    figure = [(72, 67, 64, 48), (74, 67, 65, 50), (76, 67, 64, 48), (72, 69, 65, 53)]
    tracks = [Track(name, i, 52, notes=[Note(c[i], (k % 4) * 480 + (k // 4) * 1920, 480,
                                             90, i) for k, c in enumerate(figure * 2)])
              for i, name in enumerate(("Soprano", "Alto", "Tenor", "Bass"))]
    return Song(ppq=480, time_signatures=[TimeSignature(0, 4, 4)], tracks=tracks)


def run(library, job="continue", **kw):
    s = GenerationSettings(**{"model": "poly-wavenet", "bars": 1, "rng_seed": 3,
                              "variations": 2, **kw})
    song = seed()
    if job == "harmonise":  # the soprano alone, the voices beneath it written anew
        song.tracks = song.tracks[:1]
    req = GenerationRequest(job=job, settings=s, **(
        dict(start_tick=1920, end_tick=3840) if job == "fill" else
        dict(track=0) if job == "harmonise" else {}))
    return jobs.run(library, song, req)


def test_each_part_card_holds_its_fitted_memory(library):
    for name in ("poly-lstm", "poly-wavenet"):
        mixing = mixing_for(name)
        assert mixing.method == "adaptive"
        assert mixing.phase_period == 1  # a step is several tokens: blind to the beat
        assert len(mixing.table) == mixing.buckets_for(mixing.max_order)
        card = json.loads((REPO / "models" / f"{name}.json").read_text())
        assert "validation" in card["memory"]["chosen_on"]


@pytest.mark.parametrize("job", ["continue", "harmonise", "fill"])
def test_the_memory_changes_what_each_part_job_writes_and_off_it_does_not(library, job):
    on = run(library, job)
    again = run(library, job)
    off = run(library, job, memory=False)
    assert on.variations == again.variations  # the same seed: the same music
    assert on.variations != off.variations
    assert all(on.variations) and all(off.variations)


def test_the_repeat_control_steers_a_part_model_through_its_memory(library):
    plain, more = run(library), run(library, repeat=2)
    assert plain.variations != more.variations
    # a model that writes parts without a memory has nothing for repeat to steer
    with pytest.raises(Exception, match="memory"):
        run(library, repeat=2, memory=False)


def test_without_memory_tokens_the_controls_alone_are_what_the_loop_calls(library):
    model = library.get("poly-wavenet")
    settings = GenerationSettings(model="poly-wavenet")
    assert part_memory(model, settings, 2, None, 10) is None  # a job without a memory
    off = GenerationSettings(model="poly-wavenet", memory=False)
    assert part_memory(model, off, 2, [0, 0], 10) is None
    controls = object()
    assert with_memory(None, controls) is controls
    memory = part_memory(model, settings, 2, [60 - 24 + 1, 0], 10)
    assert isinstance(memory, MemoryMixer)
    mixers = with_memory(memory, None)
    assert isinstance(mixers, PartMixers)
    logits = np.zeros((2, model.encoding.vocab_size))
    out = mixers(logits, np.ones((2, model.encoding.vocab_size), bool))
    assert out.shape == logits.shape and np.isfinite(out).all()
    # the memory has heard the prime: the token after NEW(60) that it saw comes first
    assert int(np.argmax(out[0])) == 0


def test_the_memory_lowers_the_bits_of_a_bach_chorale(library):
    model = library.get("poly-wavenet")
    tokens = model.encoding.song_to_tokens(_read(CHORALE))
    alone, _, notes = model.score_tokens(tokens)
    mixed, _, notes2 = score_tokens_with_memory(model, tokens, mixing_for(model.name))
    assert notes == notes2 > 100
    assert mixed < alone


def test_score_mixes_the_part_memory_in_and_says_so():
    def score(*opts):
        proc = subprocess.run([sys.executable, str(REPO / "main.py"), "score", "--model",
                               "poly-lstm", *opts, str(CHORALE)], capture_output=True,
                              cwd=REPO, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        return json.loads(proc.stdout)
    on, off = score(), score("--memory", "off")
    assert on["memory"].startswith("on (adaptive")
    assert off["memory"] == "off"
    assert on["notes"] == off["notes"]
    assert on["bits_per_note"] < off["bits_per_note"]


def _read(path):
    from engine.formats import midi_file_to_song

    return midi_file_to_song(path)


@pytest.fixture
def rule_off():
    """The beat-to-beat parallels rule switched off for one test."""
    from engine.generation.constraints import parallels

    parallels.ENABLED = False
    yield
    parallels.ENABLED = True


def _parallels_in(result, song, start: int, end: int) -> int:
    from bench.chorales import beats_in, parallels

    count = 0
    for notes, tracks in zip(result.variations, result.track_of):
        parts = [[n for n, t in zip(notes, tracks) if t == i] for i in range(4)]
        count += parallels(parts, beats_in(song, start, end))
    return count


def _continue_chorale(library, names=("bwv66.6", "bwv253")):
    """Each chorale's first 4 bars continued by 4 bars, 4 variations, memory off."""
    from tests.engine.part_models import chorale, cut

    out = 0
    for i, name in enumerate(names):
        song = chorale(f"bach/{name}.mxl")
        bar = song.ticks_per_bar_at(0)
        seed = cut(song, 4 * bar)
        s = GenerationSettings(model="poly-wavenet", bars=4, variations=4, rng_seed=i,
                               memory=False)
        result = jobs.run(library, seed, GenerationRequest(job="continue", settings=s,
                                                           start_tick=4 * bar))
        out += _parallels_in(result, song, 4 * bar, 8 * bar)
    return out


def test_parts_keep_out_of_parallels_from_beat_to_beat(library, request):
    with_rule = _continue_chorale(library)
    request.getfixturevalue("rule_off")
    without = _continue_chorale(library)
    assert with_rule < without
    assert with_rule <= 1
