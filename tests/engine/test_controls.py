"""The steering controls (issue 26): density, leaps, repeat, register, syncopation and
dynamics, each a whole number -2..2 in the settings and on the command line, neutral at
0 (the golden tests hold the bytes), each moving its own statistic the way it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.encodings import FILL, HARMONISE
from engine.errors import GenerationError
from engine.generation import jobs, mixers
from engine.generation.generator import generate
from engine.generation.memory import MemoryMixer, Mixing
from engine.encodings.polyphony import STEP, PartGrammar, PartRules
from engine.generation.mixers.control import (CONTROL_MIXERS, control_mixers, onset_pitches,
                                              part_mixer)
from engine.generation.request import CONTROLS, REGENERATE, GenerationRequest, GenerationSettings
from engine.generation.sampling import Velocities
from engine.models import ModelLibrary
from engine.song import Note, Song, TimeSignature, Track, melody_song

ROOT = Path(__file__).resolve().parents[2]
NAMES = [c[0] for c in CONTROLS]


@pytest.fixture(scope="module")
def library():
    return ModelLibrary()


def seed():
    return melody_song([Note(p, i * 240, 240, 100 if i % 2 == 0 else 70)
                        for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62] * 2)])


def test_the_controls_are_six_settings_with_labels_and_neutral_defaults():
    assert NAMES == ["density", "leaps", "repeat", "register", "syncopation", "dynamics"]
    assert all(len(c) == 4 and all(isinstance(x, str) and x for x in c) for c in CONTROLS)
    s = GenerationSettings()
    assert all(getattr(s, name) == 0 for name in NAMES)
    assert s.controls() == {} and control_mixers(s) == []
    assert GenerationSettings(leaps=-2, dynamics=1).controls() == {"leaps": -2, "dynamics": 1}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("value,says", [(3, "from -2 to 2, not 3"), (-3, "not -3"),
                                        (1.0, "a whole number, not 1.0"),
                                        (True, "a whole number, not True"),
                                        ("1", "a whole number")])
def test_a_control_out_of_range_is_refused_with_a_sentence(name, value, says):
    with pytest.raises(GenerationError, match=f"the {name} control .*{says}"):
        GenerationSettings(**{name: value}).validate()


def test_repeat_needs_the_motif_memory_and_controls_are_not_mixers_to_name():
    with pytest.raises(GenerationError, match="repeat control steers the motif memory"):
        GenerationSettings(repeat=1, memory=False).validate()
    GenerationSettings(repeat=1).validate()
    with pytest.raises(GenerationError, match="density control is the density setting"):
        GenerationSettings(mixers=("density",)).validate()


def test_a_part_model_takes_the_controls_and_repeat_but_regenerate_refuses_it(library):
    model = library.get("poly-lstm")
    for job, gap in (("continue", {}), (FILL, dict(start_tick=0, end_tick=1920)),
                     (HARMONISE, {}), (REGENERATE, dict(start_tick=0, end_tick=1920))):
        request = GenerationRequest(job=job, settings=GenerationSettings(
            model="poly-lstm", density=1, leaps=-1, register=2, syncopation=-2,
            dynamics=1), track=0, **gap)
        assert jobs.job_for(request, model) is jobs.JOBS[(job, True)]
        request = GenerationRequest(job=job, settings=GenerationSettings(
            model="poly-lstm", repeat=1), track=0, **gap)
        if job != REGENERATE:  # the part memory (engine/generation/part_memory.py)
            assert jobs.job_for(request, model) is jobs.JOBS[(job, True)]
            continue
        with pytest.raises(GenerationError, match="repeat control steers the motif memory, "
                                                  "which Regenerate Part does not use"):
            jobs.job_for(request, model)


def _part_grammar(enc, rows=1):
    """Two parts, soprano 60..84 over bass 36..59, one note each, free rhythm."""
    T = 32
    rules = PartRules(capacity=np.array([1, 1]), least=np.array([1, 1]),
                      floor=np.array([60, 36]), ceiling=np.array([84, 59]),
                      crosses=np.zeros((2, 2), bool), must=np.zeros((T, 2), bool),
                      attack=np.zeros((T, 2), np.int8), centre=np.array([72.0, 48.0]),
                      start_top=np.array([72, 48]))
    return PartGrammar(enc, rows, rules, voice_leading=False)


def _part_probs(name, position, enc, grammar, song=None, start_step=0):
    mixer = part_mixer(GenerationSettings(**{name: position}), enc, grammar, song,
                       start_step)
    mask = grammar.mask(np.ones(enc.vocab_size, bool))
    z = np.where(mask, mixer(np.zeros((grammar.batch, enc.vocab_size)), mask), -np.inf)
    return _probs(z), mask, mixer


def test_each_control_moves_a_part_models_distribution_its_way(library):
    enc = library.get("poly-lstm").encoding
    n = enc.pitches
    new = slice(1, 1 + n)
    pitch = np.arange(n) + enc.min_pitch

    def new_mass(p):
        return p[0, new].sum()

    def mean_pitch(p):
        return float((p[0, new] * pitch).sum() / new_mass(p))

    def mean_leap(p):  # the soprano's first note: from its last, 72
        q = p[0, new] * (pitch >= 60)
        return float((q * np.abs(pitch - 72)).sum() / q.sum())

    assert part_mixer(GenerationSettings(repeat=1, dynamics=2), enc, _part_grammar(enc),
                      None, 0) is None  # neither is a mixer of the logits
    flat = _probs(np.where(_part_grammar(enc).mask(np.ones(enc.vocab_size, bool)),
                           0.0, -np.inf))
    for name, figure in {"density": new_mass, "register": mean_pitch,
                         "leaps": mean_leap}.items():
        got = [figure(_part_probs(name, v, enc, _part_grammar(enc))[0])
               for v in (-2, -1, 1, 2)]
        assert got[0] < got[1] < figure(flat) < got[2] < got[3], (name, got)
    for name in ("leaps", "register"):  # how often a note starts stays the network's
        assert new_mass(_part_probs(name, 2, enc, _part_grammar(enc))[0]) == \
            pytest.approx(new_mass(flat))
    # syncopation: on the beat (step 16 of 4/4) note starts fall; a step later they rise
    grammar = _part_grammar(enc)
    p, _, mixer = _part_probs("syncopation", 2, enc, grammar, seed(), 16)
    assert new_mass(p) < new_mass(flat)
    grammar.push(np.array([STEP]))
    mixer.update(np.array([STEP]))
    mask = grammar.mask(np.ones(enc.vocab_size, bool))
    assert new_mass(_probs(np.where(mask, mixer(np.zeros((1, enc.vocab_size)), mask),
                                    -np.inf))) > new_mass(flat)
    # leaps follow each part's own last note: after the soprano's 79, the bass's last
    # note (48) is the one a bass note leaps from
    grammar = _part_grammar(enc)
    _, _, mixer = _part_probs("leaps", 2, enc, grammar)
    token = np.array([enc.new(79)])
    grammar.push(token)
    mixer.update(token)
    mask = grammar.mask(np.ones(enc.vocab_size, bool))
    p = _probs(np.where(mask, mixer(np.zeros((1, enc.vocab_size)), mask), -np.inf))
    q = p[0, new] * (pitch < 60)
    assert q.sum() > 0 and float((q * np.abs(pitch - 48)).sum() / q.sum()) > 6


def chorale() -> Song:
    """Four bars of C major in four voices, a chord a half note."""
    chords = [(72, 67, 64, 48), (72, 69, 65, 53), (71, 67, 62, 55), (72, 67, 64, 48),
              (74, 69, 65, 50), (71, 67, 62, 55), (76, 67, 60, 48), (74, 67, 65, 55)]
    tracks = [Track(name, i, 52, notes=[Note(c[i], k * 960, 960, 90 - 5 * i, i)
                                        for k, c in enumerate(chords)])
              for i, name in enumerate(("Soprano", "Alto", "Tenor", "Bass"))]
    return Song(ppq=480, time_signatures=[TimeSignature(0, 4, 4)], tracks=tracks)


def _chorale_seed():
    song = chorale()
    for track in song.tracks:  # one bar of seed: its rhythm leaves the parts free
        track.notes = [n for n in track.notes if n.start_tick < 1920]
    return song


@pytest.mark.parametrize("model", ["poly-lstm"])
def test_the_controls_steer_every_part_job(library, model):
    song = _chorale_seed()

    def run(job, song, **controls):
        gap = {"continue": {}, HARMONISE: {},
               FILL: dict(start_tick=1920, end_tick=3840),
               REGENERATE: dict(start_tick=1920, end_tick=3840)}[job]
        s = GenerationSettings(model=model, bars=2, rng_seed=5, variations=4, **controls)
        return jobs.run(library, song, GenerationRequest(
            job=job, settings=s, track=0 if job == HARMONISE else 1, **gap))

    def notes(result):
        return [n for v in result.variations for n in v]

    def mean(values):
        return sum(values) / len(values)

    base = run("continue", song)
    assert run("continue", song, **{n: 0 for n in NAMES}).variations == base.variations
    high, low = run("continue", song, register=2), run("continue", song, register=-2)
    assert mean([n.pitch for n in notes(low)]) < mean([n.pitch for n in notes(base)]) \
        < mean([n.pitch for n in notes(high)])
    assert len(notes(run("continue", song, density=2))) > len(notes(base)) > \
        len(notes(run("continue", song, density=-2)))
    loud, soft = run("continue", song, dynamics=2), run("continue", song, dynamics=-2)
    assert mean([n.velocity for n in notes(soft)]) < mean([n.velocity for n in notes(base)]) \
        < mean([n.velocity for n in notes(loud)])
    for name in ("leaps", "syncopation"):
        assert run("continue", song, **{name: 2}).variations != base.variations, name
    full = chorale()
    melody = Song(ppq=480, time_signatures=full.time_signatures, tracks=full.tracks[:1])
    for job in (HARMONISE, FILL, REGENERATE):
        neutral = run(job, melody if job == HARMONISE else full)
        moved = run(job, melody if job == HARMONISE else full, register=2, dynamics=2)
        assert moved.variations != neutral.variations, job
        assert mean([n.velocity for n in notes(moved)]) > \
            mean([n.velocity for n in notes(neutral)]), job


def _mixer(library, name, position, prefix, rows=1, start_step=None, song=None):
    model = library.get("lstm")
    settings = GenerationSettings(**{name: position})
    return mixers.chain([name], mixers.MixContext(model, settings, rows, prefix, song,
                                                  start_step=start_step))


def _probs(z):
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def test_each_logit_control_moves_the_distribution_its_way(library):
    enc = library.get("lstm").encoding
    pitches = onset_pitches(enc)
    onsets = np.asarray(enc.onset_mask)
    note = enc.note_on(66)
    flat = np.zeros((1, enc.vocab_size))

    def onset_mass(p):
        return p[0, onsets].sum()

    def mean_pitch(p):
        q = p[0, onsets] / p[0, onsets].sum()
        return float((q * pitches[onsets]).sum())

    def mean_leap(p):
        q = p[0, onsets] / p[0, onsets].sum()
        return float((q * np.abs(pitches[onsets] - 66)).sum())

    figures = {"density": onset_mass, "register": mean_pitch, "leaps": mean_leap}
    for name, figure in figures.items():
        got = [figure(_probs(_mixer(library, name, v, [note])(flat))) for v in (-2, -1, 1, 2)]
        neutral = figure(_probs(flat))
        assert got[0] < got[1] < neutral < got[2] < got[3], (name, got, neutral)
    # leaps and register keep how often a note starts; density does not
    for name in ("leaps", "register"):
        p = _probs(_mixer(library, name, 2, [note])(flat))
        assert onset_mass(p) == pytest.approx(onset_mass(_probs(flat)))
    # syncopation: note starts rise off the beat and fall on it (4/4, a step a 16th)
    song = seed()
    on_beat = _mixer(library, "syncopation", 2, [note], start_step=16, song=song)
    assert onset_mass(_probs(on_beat(flat))) < onset_mass(_probs(flat))
    on_beat.update(np.array([0]))  # step 17: off the beat
    assert onset_mass(_probs(on_beat(flat))) > onset_mass(_probs(flat))


def test_repeat_scales_the_memorys_share():
    tokens = [2, 0, 4, 0, 2, 0, 4, 0] * 4
    logits = np.zeros((1, 10))
    shares = []
    for share in (0.0, 0.6, 1.0, 1.4, 2.0):
        m = MemoryMixer(10, 1, tokens, Mixing(method="linear", weight=0.3, max_order=4),
                        share=share)
        shares.append(_probs(m(logits))[0, 2])  # the memory expects token 2 next
    assert shares[0] == pytest.approx(0.1)  # the network alone
    assert all(a < b for a, b in zip(shares, shares[1:]))


def test_dynamics_moves_the_level_and_scales_the_accents():
    song = seed()
    enc = ModelLibrary().get("lstm").encoding
    by = {d: [Velocities(song, song.tracks[0].notes, enc, d).at(t) for t in (0, 240)]
          for d in (-2, -1, 0, 1, 2)}
    assert by[0] == [100, 70]
    means = [sum(v) / 2 for v in by.values()]
    spreads = [v[0] - v[1] for v in by.values()]
    assert means == sorted(means) and len(set(means)) == 5
    assert spreads == sorted(spreads) and spreads[0] == 0


def test_controls_at_zero_are_byte_identical_and_each_control_changes_the_music(library):
    base = generate(library, seed(), GenerationSettings(model="lstm", bars=2, rng_seed=4,
                                                        variations=4))
    zero = generate(library, seed(), GenerationSettings(
        model="lstm", bars=2, rng_seed=4, variations=4, **{n: 0 for n in NAMES}))
    assert zero.tokens == base.tokens and zero.variations == base.variations
    for name in NAMES:
        # (a seed this repetitive is the memory's already: repeat moves it the other way)
        position = -2 if name == "repeat" else 2
        moved = generate(library, seed(), GenerationSettings(model="lstm", bars=2,
                                                             rng_seed=4, variations=4,
                                                             **{name: position}))
        assert moved.variations != base.variations, name


def test_a_fill_takes_the_controls(library):
    from engine.generation.fill import fill

    song = seed()

    def mean_velocity(**controls):
        s = GenerationSettings(model="lstm-fill", rng_seed=2, **controls)
        result = fill(library, song, s, start_tick=960, end_tick=2880)
        notes = [n for n in result.variations[0] if 960 <= n.start_tick < 2880]
        return sum(n.velocity for n in notes) / len(notes)

    assert mean_velocity(density=2, dynamics=2) > mean_velocity() > mean_velocity(dynamics=-2)


def test_control_mixers_are_named_in_order_and_registered():
    assert set(CONTROL_MIXERS) <= set(mixers.MIXERS)
    s = GenerationSettings(syncopation=-1, density=2, repeat=1, dynamics=1)
    assert control_mixers(s) == ["density", "syncopation"]


def test_the_command_line_takes_the_controls(tmp_path):
    seed_file = Path(__file__).parent / "data" / "golden_seed.mid"

    def run(*extra):
        return subprocess.run([sys.executable, str(ROOT / "main.py"), "generate", "--seed",
                               str(seed_file), "--bars", "2", "-o", str(tmp_path / "o.mid"),
                               *extra], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)

    ok = run("--density", "2", "--leaps", "-1", "--register", "1", "--syncopation", "-2",
             "--repeat", "1", "--dynamics", "-1")
    assert ok.returncode == 0, ok.stderr
    bad = run("--register", "5")
    assert bad.returncode == 1
    assert "the register control must be a whole number from -2 to 2, not 5" in bad.stderr


def test_the_controls_travel_through_the_service(library):
    from engine.generation.service import Generate, Result, decode, encode, generate_outcome

    settings = GenerationSettings(model="lstm", bars=2, rng_seed=3, density=-1, leaps=2,
                                  repeat=1, register=-2, syncopation=1, dynamics=2)
    message = decode(encode(Generate(1, [], seed(), settings)))
    assert message.settings == settings
    outcome = generate_outcome(library, message)
    assert isinstance(outcome, Result)
    assert outcome.result.tokens == generate(library, seed(), settings).tokens


def test_the_controls_steer_a_part_model_writing_voice_blind(library):
    """Nine parts (more than the encoding's eight voices) are written voice-blind; the
    controls steer the notes all the same, and an empty seed takes the dynamics."""
    tracks = [Track(f"T{i}", i if i < 9 else i + 1, 0,
                    notes=[Note(40 + 5 * i + (k % 2) * 2, k * 480, 480, 80, i)
                           for k in range(8)]) for i in range(9)]
    song = Song(ppq=480, time_signatures=[TimeSignature(0, 4, 4)], tracks=tracks)

    def notes(song, **controls):
        s = GenerationSettings(model="poly-lstm", bars=1, rng_seed=3, variations=3,
                               **controls)
        result = jobs.run(library, song, GenerationRequest(job="continue", settings=s))
        return [n for v in result.variations for n in v]

    assert len(notes(song, density=2)) > len(notes(song)) > len(notes(song, density=-2))
    assert notes(song, leaps=2, syncopation=-1) != notes(song)
    empty = Song(ppq=480, time_signatures=[TimeSignature(0, 4, 4)], tracks=[])
    assert {n.velocity for n in notes(empty)} == {90}
    assert min(n.velocity for n in notes(empty, dynamics=2)) > 90
