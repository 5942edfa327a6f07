"""The auto key of a short seed (engine/encodings/keys.py key_from_likelihoods,
engine/generation/keychoice.py choose_key), on the shipped models with real
onnxruntime: two bars are enough, a note another likely key needs stays allowed, a
note the seed plays is never forbidden, and an unsure estimate locks nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.encodings import Key, estimate_song_key
from engine.encodings.keys import key_from_likelihoods
from engine.generation.generator import GenerationSettings, generate
from engine.generation.keychoice import choose_key
from engine.models import ModelLibrary
from engine.song import Note, melody_song

ROOT = Path(__file__).resolve().parents[2]


def eighths(pitches: list[int]) -> list[Note]:
    return [Note(p, i * 240, 240, 90) for i, p in enumerate(pitches)]


def test_a_clear_likelihood_locks_the_scale_of_its_shift():
    ll = np.full(12, -60.0)
    ll[5] = -40.0  # moved up 5 semitones the seed is in C major: the seed is in G
    est = key_from_likelihoods(ll, [(67, 1), (71, 1), (74, 1)], first_pitch=67)
    assert est.key == Key(7) and est.allowed == Key(7).scale_pitch_classes
    assert est.locks and est.probability > 0.99 and "G" in est.reason


def test_no_evidence_locks_nothing_and_says_so():
    est = key_from_likelihoods(np.zeros(12), [(60, 1)], first_pitch=None)
    assert not est.locks and len(est.allowed) == 12
    assert "allows every note" in est.reason


def test_two_close_keys_allow_the_note_that_tells_them_apart():
    ll = np.full(12, -60.0)
    ll[0], ll[5] = -40.0, -40.5  # C major or G major: F and F# both stay allowed
    est = key_from_likelihoods(ll, [(60, 1), (62, 1), (64, 1), (67, 1)], first_pitch=None)
    assert est.key == Key(0) and {5, 6} <= est.allowed and 1 not in est.allowed
    assert "G" in est.reason and "F#" in est.reason


def test_a_note_the_seed_plays_is_never_forbidden():
    ll = np.full(12, -60.0)
    ll[0] = -30.0  # A minor (the C major collection) ...
    est = key_from_likelihoods(ll, [(69, 2), (68, 1), (69, 1), (71, 1)], first_pitch=69)
    assert est.key == Key(9, True) and 8 in est.allowed  # ... with its leading tone
    assert "G#" in est.reason


@pytest.fixture(scope="module")
def library() -> ModelLibrary:
    lib = ModelLibrary([ROOT / "models"])
    assert {"lstm", "wavenet", "duet"} <= set(lib.names), lib.problems
    return lib


@pytest.mark.parametrize("name", ["lstm", "wavenet", "duet"])
def test_two_bars_are_enough_for_the_model(library, name):
    model = library.get(name)
    # two bars in D major that start on the dominant
    d_major = eighths([69, 66, 67, 69, 71, 69, 67, 66, 64, 66, 67, 64, 61, 62, 64, 62])
    est = choose_key(model, d_major, 480, 0, 32)
    assert est.key in (Key(2), Key(11, True)), est.reason
    assert Key(2).scale_pitch_classes <= est.allowed and 5 not in est.allowed  # no F
    # A minor with its raised seventh
    a_minor = eighths([69, 72, 71, 69, 68, 69, 71, 72, 76, 74, 72, 71, 69, 68, 69, 69])
    est = choose_key(model, a_minor, 480, 0, 32)
    assert est.key == Key(9, True) and 8 in est.allowed and 6 not in est.allowed


@pytest.mark.parametrize("pitch", [60, 64, 67])
def test_a_seed_of_one_repeated_note_keeps_that_note(library, pitch):
    est = choose_key(library.get("duet"), eighths([pitch] * 16), 480, 0, 32)
    assert pitch % 12 in est.key.scale_pitch_classes and pitch % 12 in est.allowed


def test_the_generator_locks_the_models_key_and_says_which_and_why(library):
    seed = melody_song(eighths([69, 66, 67, 69, 71, 69, 67, 66, 64, 66, 67, 64, 61, 62,
                                64, 62]), ppq=480)
    r = generate(library, seed, GenerationSettings(model="duet", bars=4, variations=4,
                                                   rng_seed=3))
    assert r.key_lock in ("D", "Bm") and r.key.name == r.key_lock
    line = next(m for m in r.messages if m.startswith("Key lock: "))
    assert r.key_lock in line and "%" in line
    est = choose_key(library.get("duet"), seed.tracks[0].notes, 480, 0, 32)
    assert all(n.pitch % 12 in est.allowed for v in r.variations for n in v)
    # with no lock the seed is still moved by the model's key, and nothing is said
    free = generate(library, seed, GenerationSettings(model="duet", key=None, bars=1))
    assert free.key_lock == "" and not any(m.startswith("Key lock") for m in free.messages)


def test_on_essen_seeds_the_lock_forbids_fewer_real_notes_than_the_key_profile(library):
    corpus_mod = pytest.importorskip("training.corpus")
    corpus = corpus_mod.load_corpus(corpus_mod.TRAIN_COLLECTION)
    if corpus is None:
        pytest.skip("training's corpus cache (training/cache) has not been built here")
    enc = corpus.encoding
    model = library.get("duet")
    outside = {"profile": 0, "model": 0}
    total = 0
    for tokens in corpus.split("test")[:60]:
        notes = enc.decode([int(t) for t in tokens[:32]], 480)
        nxt = [enc.token_pitch(int(t)) % 12 for t in tokens[32:96] if enc.onset_mask[int(t)]]
        if not notes or not nxt:
            continue
        profile = estimate_song_key(notes).scale_pitch_classes
        allowed = choose_key(model, notes, 480, 0, 32).allowed
        outside["profile"] += sum(pc not in profile for pc in nxt)
        outside["model"] += sum(pc not in allowed for pc in nxt)
        total += len(nxt)
    assert outside["model"] / total <= 0.025 < outside["profile"] / total, (outside, total)


def test_only_shifts_that_hold_the_seed_are_scored():
    from engine.generation.keychoice import plausible_shifts

    d_major = eighths([62, 64, 66, 67, 69, 71, 73, 74])
    shifts = plausible_shifts(d_major)
    assert 10 in shifts and len(shifts) < 12  # D moved down 2 semitones is C major
    assert plausible_shifts(eighths([60])) != []  # one note fits several


# ---------------------------------------------------------------------------------------
# spelling: a key writes its notes with its own letters
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, written", [
    ("C", "C C# D Eb E F F# G G# A Bb B"),
    ("F#m", "B# C# D D# E E# F# G G# A A# B"),  # raised 6th D#, 7th E#; A# its major 3rd
    ("Dm", "C C# D Eb E F F# G G# A Bb B"),  # C# the leading note, B the raised sixth
    ("F", "C Db D Eb E F Gb G Ab A Bb B"),
    ("D", "C C# D D# E F F# G G# A A# B"),
    ("Ebm", "C Db D Eb E F Gb G Ab A Bb Cb"),
    ("G#m", "B# C# D D# E E# F# F## G# A A# B"),  # the leading note wants its double sharp
])
def test_a_key_spells_its_notes_with_its_own_letters(key, written):
    from engine.encodings.keys import spell_pitch_class

    assert " ".join(spell_pitch_class(pc, Key.parse(key)) for pc in range(12)) == written


def test_every_key_uses_seven_letters_once_each_for_its_scale():
    from engine.encodings.keys import key_spelling

    for key in Key.all_keys():
        names = key_spelling(key)
        scale = [names[pc] for pc in sorted(key.scale_pitch_classes)]
        assert sorted(n[0] for n in scale) == sorted("ABCDEFG"), key
        assert Key.parse(names[key.tonic]).tonic == key.tonic


def test_the_key_lock_speaks_of_f_sharp_minors_a_sharp_not_b_flat():
    ll = np.full(12, -60.0)
    ll[3] = -30.0  # moved up 3 semitones the seed is in A minor: it is in F# minor
    seed = [(66, 2), (69, 1), (73, 1), (70, 1), (71, 1), (74, 1), (77, 1)]  # plays A# and F
    est = key_from_likelihoods(ll, seed, first_pitch=66)
    assert est.key == Key(6, True)
    assert est.reason.endswith("it plays E# and A#")


def test_the_part_music_lock_spells_the_seeds_own_notes_by_the_key():
    from engine.generation.polyphony import lock_scale

    f_sharp_minor = [Note(p, i * 480, 480) for i, p in enumerate([66, 69, 73, 70, 66])]
    _, why = lock_scale(Key(6, True), f_sharp_minor)
    assert why.endswith("the seed's own A#") and "Bb" not in why
    _, why = lock_scale(Key(5, False), [Note(p, 0, 480) for p in (65, 68, 72)])
    assert why.endswith("the seed's own Ab")
