"""A toy constraint and a toy mixer arrive as one new file each
(engine/generation/constraints/toy_no_repeat.py, engine/generation/mixers/toy_flatten.py)
and steer a generation through the service and the command line (issue 22)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.generation.constraints import CONSTRAINTS
from engine.generation.generator import GenerationSettings, generate
from engine.generation.mixers import MIXERS
from engine.generation.service import Generate, Result, generate_outcome
from engine.models import ModelLibrary
from engine.song import Note, melody_song

ROOT = Path(__file__).resolve().parents[2]
TOYS = {"engine/generation/constraints/toy_no_repeat.py": "toy-no-repeat",
        "engine/generation/mixers/toy_flatten.py": "toy-flatten"}


@pytest.fixture(scope="module")
def library():
    return ModelLibrary()


def seed():
    return melody_song([Note(p, i * 240, 240, 90) for i, p in enumerate([60, 62, 64, 65] * 4)])


def test_each_toy_is_one_file_that_registers_itself():
    assert "toy-no-repeat" in CONSTRAINTS and "toy-flatten" in MIXERS
    for path, name in TOYS.items():
        elsewhere = [p for p in (ROOT / "engine").rglob("*.py")
                     if name in p.read_text(encoding="utf-8")
                     and p.relative_to(ROOT).as_posix() != path]
        assert elsewhere == [], f"{name} is named outside its own file: {elsewhere}"


def test_the_toy_constraint_holds_at_every_step(library):
    settings = GenerationSettings(model="lstm", bars=4, variations=3, temperature=1.5,
                                  memory=False, constraints=("toy-no-repeat",))
    result = generate(library, seed(), settings)
    onsets = library.get("lstm").encoding.onset_mask
    for row in result.tokens:
        assert not any(a == b and onsets[a] for a, b in zip(row, row[1:]))


def test_the_toys_steer_through_the_service(library):
    plain = GenerationSettings(model="lstm", bars=2, variations=2, rng_seed=3)
    toys = GenerationSettings(model="lstm", bars=2, variations=2, rng_seed=3,
                              constraints=("toy-no-repeat",), mixers=("toy-flatten",))
    here = generate(library, seed(), toys)
    outcome = generate_outcome(library, Generate(1, [], seed(), toys))
    assert isinstance(outcome, Result)
    assert outcome.result.tokens == here.tokens
    assert generate(library, seed(), plain).tokens != here.tokens


def test_the_toy_mixer_flattens_what_the_network_says(library):
    model = library.get("lstm")
    from engine.generation.mixers import MixContext, chain

    mixer = chain(["toy-flatten"], MixContext(model, GenerationSettings(), 1, [14]))
    logits = np.array([[2.0, -4.0, 0.0]])
    assert np.array_equal(mixer(logits), logits / 2)


def test_the_toys_steer_through_the_command_line(tmp_path):
    def generate(*options: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "main.py"), "generate", "--model",
                               "lstm", "--bars", "4", "--variations", "2", "--rng-seed", "3",
                               "--memory", "off", "--key", "none", *options],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)

    plain, toys = tmp_path / "plain.mid", tmp_path / "toys.mid"
    assert generate("-o", str(plain)).returncode == 0
    proc = generate("--constraint", "toy-no-repeat", "--mixer", "toy-flatten", "-o", str(toys))
    assert proc.returncode == 0, proc.stderr
    from engine.formats import midi_file_to_song

    for i in (1, 2):
        a = midi_file_to_song(tmp_path / f"plain-{i}.mid").notes()
        b = midi_file_to_song(tmp_path / f"toys-{i}.mid").notes()
        assert a != b  # the toys steered it
        new = sorted((n for n in b if n.start_tick >= 16 * 480), key=lambda n: n.start_tick)
        step = 480 // 4  # a sixteenth: no note starts again on the very next step
        assert not any(y.start_tick - x.start_tick == step and x.pitch == y.pitch
                       for x, y in zip(new, new[1:]))
    unknown = generate("--constraint", "nonesuch", "-o", str(toys))
    assert unknown.returncode != 0 and "there is no constraint 'nonesuch'" in unknown.stderr


def test_jobs_that_cannot_take_named_steering_say_so(library):
    from engine.errors import GenerationError
    from engine.generation.jobs import run
    from engine.generation.request import GenerationRequest

    named = GenerationSettings(model="poly-wavenet", bars=1, constraints=("toy-no-repeat",))
    with pytest.raises(GenerationError, match="poly-wavenet writes every part at once"):
        run(library, seed(), GenerationRequest(settings=named))
    fill = GenerationSettings(model="lstm-fill", constraints=("toy-no-repeat",))
    with pytest.raises(GenerationError, match="a fill takes mixers by name, not constraints"):
        run(library, seed(), GenerationRequest(job="fill", settings=fill, start_tick=960,
                                               end_tick=1920))
