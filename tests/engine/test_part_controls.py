"""Controls per part (issue 26): a part model's continuation takes a value of each
control per track (``GenerationSettings.part_controls``), applied to the notes going
to that track's part; all at 0 the music is byte for byte what it was."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import GenerationError
from engine.generation import jobs
from engine.generation.request import GenerationRequest, GenerationSettings
from engine.song import Note, Song, TimeSignature, Track
from tests.engine.part_models import part_library


@pytest.fixture(scope="module")
def library():
    return part_library("poly-lstm")


def chorale_seed() -> Song:
    """One bar of C major in four voices (soprano, alto, tenor, bass: tracks 0-3)."""
    chords = [(72, 67, 64, 48), (72, 69, 65, 53)]
    tracks = [Track(name, i, 52, notes=[Note(c[i], k * 960, 960, 90 - 5 * i, i)
                                        for k, c in enumerate(chords)])
              for i, name in enumerate(("Soprano", "Alto", "Tenor", "Bass"))]
    return Song(ppq=480, time_signatures=[TimeSignature(0, 4, 4)], tracks=tracks)


def run(library, song, job="continue", **kw):
    s = GenerationSettings(**{"model": "poly-lstm", "bars": 2, "rng_seed": 5,
                              "variations": 4, **kw})
    return jobs.run(library, song, GenerationRequest(job=job, settings=s, **(
        dict(track=1, start_tick=960, end_tick=1920) if job == "regenerate" else {})))


def per_track(result) -> dict[int, list[Note]]:
    out: dict[int, list[Note]] = {}
    for notes, tracks in zip(result.variations, result.track_of):
        for n, t in zip(notes, tracks):
            out.setdefault(t, []).append(n)
    return out


@pytest.mark.parametrize("value, says", [
    (((0, "density"),), "a part control is (track, control, position)"),
    (((0, "repeat", 1),), "no part control 'repeat' (the repeat control scales"),
    (((0, "tempo", 1),), "no part control 'tempo'"),
    (((-1, "density", 1),), "numbered from 0, not -1"),
    (((1, "density", 3),), "the density control of track 2 must be a whole number from "
                           "-2 to 2, not 3"),
    (((1, "leaps", 1), (1, "leaps", -1)), "track 2 has two values for the leaps control"),
    ("density", "a tuple of (track, control, position)"),
])
def test_a_bad_part_control_is_refused_with_a_sentence(value, says):
    with pytest.raises(GenerationError, match=None) as e:
        GenerationSettings(part_controls=value).validate()
    assert says in str(e.value)


def test_part_controls_from_lists_become_tuples_and_each_part_reads_its_own():
    s = GenerationSettings(density=1, part_controls=[[2, "density", -2], [0, "leaps", 2]])
    s.validate()
    assert s.part_controls == ((2, "density", -2), (0, "leaps", 2))
    assert s.control_of("density", 2) == -2 and s.control_of("density", 0) == 1
    assert s.control_of("density", None) == 1 and s.control_of("leaps", 0) == 2
    assert s.steers_parts()
    assert not GenerationSettings(part_controls=((1, "register", 0),)).steers_parts()


def test_a_melody_model_and_a_track_the_song_lacks_are_refused(library):
    song = chorale_seed()
    with pytest.raises(GenerationError, match="the song has tracks 1 to 4"):
        GenerationRequest(settings=GenerationSettings(part_controls=((4, "density", 1),))
                          ).check_song(song)
    lib = __import__("engine.models", fromlist=["ModelLibrary"]).ModelLibrary()
    melody = Song(ppq=480, time_signatures=song.time_signatures, tracks=song.tracks[:1])
    with pytest.raises(GenerationError, match="controls per part steer a model that writes "
                                              "several parts; lstm writes one line"):
        jobs.run(lib, melody, GenerationRequest(settings=GenerationSettings(
            model="lstm", part_controls=((0, "density", 1),))))


def test_part_controls_at_zero_or_equal_to_the_control_change_nothing(library):
    song = chorale_seed()
    base = run(library, song)
    assert run(library, song, part_controls=((0, "density", 0), (3, "leaps", 0))
               ).variations == base.variations
    same = run(library, song, density=1)
    assert run(library, song, density=1, part_controls=tuple(
        (t, "density", 1) for t in range(4))).variations == same.variations


def test_each_part_follows_its_own_control(library):
    song = chorale_seed()
    base = per_track(run(library, song))

    def mean(notes, what):
        return float(np.mean([getattr(n, what) for n in notes]))

    dense = per_track(run(library, song, part_controls=((3, "density", 2), (0, "density", -2))))
    assert len(dense[3]) > len(base[3]) and len(dense[0]) < len(base[0])
    # the bass up and the soprano down, then the other way round
    apart = per_track(run(library, song, variations=8,
                          part_controls=((3, "register", 2), (0, "register", -2))))
    closer = per_track(run(library, song, variations=8,
                           part_controls=((3, "register", -2), (0, "register", 2))))
    assert mean(apart[3], "pitch") > mean(closer[3], "pitch")
    assert mean(apart[0], "pitch") < mean(closer[0], "pitch")
    loud = per_track(run(library, song, part_controls=((3, "dynamics", 2),)))
    # dynamics moves velocities only: the same notes, the bass louder, the rest as they were
    assert [n.pitch for n in loud[3]] == [n.pitch for n in base[3]]
    assert mean(loud[3], "velocity") > mean(base[3], "velocity")
    for t in (0, 1, 2):
        assert loud[t] == base[t]
    for name in ("leaps", "syncopation"):
        moved = per_track(run(library, song, part_controls=((3, name, 2),)))
        assert moved != base, name


def test_regenerate_part_takes_the_regenerated_tracks_control(library):
    song = chorale_seed()
    base = run(library, song, "regenerate")
    loud = run(library, song, "regenerate", part_controls=((1, "dynamics", 2),))
    quiet_other = run(library, song, "regenerate", part_controls=((2, "dynamics", 2),))
    assert quiet_other.variations == base.variations  # track 3 is not written
    assert np.mean([n.velocity for v in loud.variations for n in v]) > \
        np.mean([n.velocity for v in base.variations for n in v])


def test_part_controls_travel_through_the_service(library):
    from engine.generation.service import Generate, decode, encode

    settings = GenerationSettings(model="poly-lstm", bars=2, density=1,
                                  part_controls=((3, "density", -2), (0, "register", 2)))
    message = decode(encode(Generate(1, [], chorale_seed(), settings)))
    assert message.settings == settings
    assert message.settings.part_controls == ((3, "density", -2), (0, "register", 2))


def test_the_command_line_takes_a_control_per_track(tmp_path, library):
    import subprocess
    import sys
    from pathlib import Path

    from engine.formats import midi_file_to_song, song_to_midi_bytes

    root = Path(__file__).resolve().parents[2]
    seed_file = tmp_path / "seed.mid"
    seed_file.write_bytes(song_to_midi_bytes(chorale_seed()))

    def run(*extra):
        return subprocess.run([sys.executable, str(root / "main.py"), "generate", "--seed",
                               str(seed_file), "--model", "poly-lstm", "--bars", "2",
                               "--rng-seed", "5", "--variations", "4",
                               "-o", str(tmp_path / "o.mid"), *extra],
                              cwd=root, capture_output=True, text=True, timeout=300)

    def bass_notes():  # the bass's notes in the four variations
        return sum(len(midi_file_to_song((tmp_path / f"o-{i}.mid").read_bytes()
                                         ).tracks[3].notes) for i in range(1, 5))

    assert run().returncode == 0
    plain = bass_notes()
    ok = run("--part-control", "4:density=2", "--part-control", "1:register=-1")
    assert ok.returncode == 0, ok.stderr
    assert bass_notes() > plain
    for spec, says in (("4density", "--part-control takes TRACK:NAME=N, such as "
                                    "2:density=-2, not '4density'"),
                       ("0:density=1", "tracks are numbered from 1"),
                       ("9:density=1", "the density control is set for track 9, but the "
                                       "song has tracks 1 to 4"),
                       ("2:leaps=3", "the leaps control of track 2 must be a whole number "
                                     "from -2 to 2, not 3")):
        bad = run("--part-control", spec)
        assert bad.returncode == 1 and says in bad.stderr, (spec, bad.stderr)
