"""Issue 26 for drums: the steering controls on the drum model
(engine/generation/mixers/drum_controls.py), through the drum jobs, the command line
and the scoring condition, with the shipped drum model and a real mma groove."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from engine.encodings import CONTINUE, FILL
from engine.encodings.drums import KIT, kit_piece
from engine.errors import GenerationError
from engine.formats import load_song
from engine.generation import jobs
from engine.generation.control_scoring import drum_tokens_bits
from engine.generation.jobs.drums import drum_model
from engine.generation.mixers.drum_controls import (HEIGHT, LEAPS_LEFT, drum_controls,
                                                    drum_steering, drum_velocities,
                                                    groove_nats, memory_share)
from engine.generation.request import DRUMS, GenerationRequest, GenerationSettings
from engine.song import Note
from tests.engine.drum_rig import (GROOVE, ROOT, groove, library,  # noqa: F401
                                  only_drums, without_drums)

def _add_drums(library, song, **controls) -> list[list[Note]]:
    settings = GenerationSettings(model="drums-lstm", variations=4, rng_seed=5,
                                  memory=bool(controls.get("repeat")), **controls)
    return jobs.run(library, song, GenerationRequest(DRUMS, settings,
                                                     drum_style="pop")).variations


def _drums_go_on(library, song, **controls) -> list[list[Note]]:
    """A song of drums only continued 4 bars, 4 variations (the motif memory on)."""
    settings = GenerationSettings(model="drums-lstm", bars=4, variations=4, rng_seed=5,
                                  **controls)
    return jobs.run(library, song, GenerationRequest(CONTINUE, settings)).variations


def _statistic(name: str, song, variations: list[list[Note]]) -> float:
    notes = [n for v in variations for n in v]
    if name == "density":
        return len(notes)
    if name == "register":
        return float(np.mean([HEIGHT[KIT[kit_piece(n.pitch)]] for n in notes]))
    if name == "syncopation":
        return float(np.mean([song.bar_beat_at(n.start_tick)[2] != 0 for n in notes]))
    if name == "dynamics":
        return float(np.mean([n.velocity for n in notes]))
    # repeat: how far each new bar's hits (place, piece) are the bar's before (Jaccard),
    # the seed's last bar before the first
    bar = song.ticks_per_bar_at(0)
    seed = [n for t in song.tracks if t.is_drum for n in t.notes]
    shares = []
    for v in variations:
        bars: dict[int, set] = {}
        for n in seed + v:
            bars.setdefault(n.start_tick // bar, set()).add((n.start_tick % bar, n.pitch))
        first_new = min(n.start_tick for n in v) // bar
        for b in range(first_new, max(bars) + 1):
            now, before = bars.get(b, set()), bars.get(b - 1, set())
            shares.append(len(now & before) / max(1, len(now | before)))
    return float(np.mean(shares))


def test_at_0_no_control_is_built_and_nothing_moves(library):
    model = drum_model(library)
    neutral = GenerationSettings(model="drums-lstm")
    assert drum_controls(neutral) == {}
    assert drum_steering(model, drum_controls(neutral), None, 0, 4) is None
    notes = [Note(36, 0, 30, 112, 9), Note(42, 240, 30, 50, 9)]
    assert drum_velocities(notes, 0) == notes
    assert groove_nats(neutral, 6.0) == 6.0 and memory_share(neutral) == 1.0
    # a drum track's own value (a part control) is the one its drums take
    own = GenerationSettings(model="poly-lstm", density=1, part_controls=((2, "density", -2),))
    assert drum_controls(own, 2) == {"density": -2} and drum_controls(own, 0) == {"density": 1}


@pytest.mark.parametrize("name", ["density", "register", "syncopation", "dynamics",
                                  "repeat"])
def test_each_control_moves_the_drums_its_own_way(library, groove, name):
    song = only_drums(groove)
    at = {p: _statistic(name, song, _drums_go_on(library, song, **({name: p} if p else {})))
          for p in (-2, 0, 2)}
    assert at[-2] < at[0] < at[2], at


def test_dynamics_at_minus_2_is_one_level_and_at_2_louder_and_wider(library, groove):
    song = without_drums(groove)
    for soft, loud in zip(_add_drums(library, song, dynamics=-2),
                          _add_drums(library, song, dynamics=2)):
        assert len({n.velocity for n in soft}) == 1
    neutral = [n.velocity for v in _add_drums(library, song) for n in v]
    loud = [n.velocity for v in _add_drums(library, song, dynamics=2) for n in v]
    assert np.mean(loud) > np.mean(neutral) and np.std(loud) > np.std(neutral)


def test_the_drum_track_continued_beside_the_parts_takes_the_requests_controls(library,
                                                                               groove):
    def drums(**controls) -> list[Note]:
        settings = GenerationSettings(model="poly-lstm", bars=2, variations=2, rng_seed=1,
                                      **controls)
        result = jobs.run(library, groove, GenerationRequest(CONTINUE, settings, parts=True))
        return result, [n for v in result.drums for n in v]

    neutral, hits = drums()
    busier, more = drums(density=2)
    assert len(more) > len(hits)
    drum = next(i for i, t in enumerate(groove.tracks) if t.is_drum)
    # the drum track's own value, as the panel sets one track's controls
    _, fewer = drums(part_controls=((drum, "density", -2),))
    assert len(fewer) < len(hits)
    leaps, _ = drums(leaps=1)
    assert LEAPS_LEFT in leaps.messages and LEAPS_LEFT not in neutral.messages


def test_leaps_is_refused_where_only_drums_are_written(library, groove):
    drums_only = only_drums(groove)
    drum = next(i for i, t in enumerate(groove.tracks) if t.is_drum)
    bar = groove.ticks_per_bar_at(0)
    requests = [(GenerationRequest(DRUMS, GenerationSettings(leaps=1)), without_drums(groove),
                 "Add Drums"),
                (GenerationRequest(CONTINUE, GenerationSettings(leaps=-2)), drums_only,
                 "a song of drums only"),
                (GenerationRequest(FILL, GenerationSettings(leaps=2), track=drum,
                                   start_tick=bar, end_tick=2 * bar), groove, "a drum fill")]
    for request, song, what in requests:
        with pytest.raises(GenerationError, match=f"the leaps control .* has no meaning "
                                                  f"for {what}: a drum kit has no intervals"):
            jobs.run(library, song, request)


def test_controls_at_0_score_as_the_network_and_at_1_as_a_nudge(library, groove):
    model = drum_model(library)
    tokens = model.encoding.song_to_tokens(groove)
    bits, hits = drum_tokens_bits(model, GenerationSettings(memory=False), tokens, 1, groove)
    network, _, _ = model.score_tokens(tokens)
    assert bits == pytest.approx(network, rel=1e-5) and hits > 0
    for name in ("density", "register", "syncopation"):
        for p in (-1, 1):
            steered, _ = drum_tokens_bits(model, GenerationSettings(memory=False, **{name: p}),
                                          tokens, 1, groove)
            assert steered != bits and abs(steered / bits - 1) < 0.1, (name, p)


def _main(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_the_command_line_takes_the_controls_and_refuses_leaps(library, groove, tmp_path):
    song = tmp_path / "parts.mid"
    from engine.formats import song_to_midi_file

    song_to_midi_file(without_drums(groove), song)
    velocities = {}
    for p in (0, -2):
        out = tmp_path / f"drums{p}.mid"
        proc = _main("drums", str(song), "--style", "rock", "--dynamics", str(p), "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        velocities[p] = {n.velocity for t in load_song(str(out)).tracks if t.is_drum
                         for n in t.notes}
    assert len(velocities[0]) > 1 and len(velocities[-2]) == 1  # softer and even
    proc = _main("drums", str(song), "--leaps", "1", "-o", str(tmp_path / "x.mid"))
    assert proc.returncode == 1 and "has no meaning for Add Drums" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.mid").exists()
    proc = _main("score", "--model", "drums-lstm", "--density", "1", str(GROOVE))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["controls"] == {"density": 1} and report["notes"] > 0
    assert report["bits_per_note"] != report["bits_per_note_controls_at_0"]

