"""The drum encoding's conditioning worked out for a whole span at once (what the
sequence graph is fed when it primes or weighs the styles) is, value for value, its
conditioning step by step; and a model primed through it gives the logits the step
model gives one token at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.encodings.drums import DrumContext, DrumEncoding
from engine.generation.jobs.drums import drum_model_names
from engine.models import ModelLibrary

ROOT = Path(__file__).resolve().parents[2]


def _contexts():
    rng = np.random.default_rng(0)
    onsets = rng.integers(0, 2, (150, 2)).astype(np.float32)
    yield DrumContext(origin=-5, style=3, bars=[0, 48, 84], bar_steps=36, onsets=onsets)
    yield DrumContext(origin=40, style=np.arange(1, 27)[:, None], bars=[10, 58],
                      bar_steps=48, onsets=onsets)
    yield DrumContext(origin=0, style=2, bars=[], bar_steps=42)


@pytest.mark.parametrize("context", list(_contexts()))
def test_the_span_is_the_steps_one_by_one(context):
    enc = DrumEncoding()
    enc.context = context
    rows = 26 if np.ndim(context.style) else 1
    span = enc.conditioning_span(7, 191)
    for name, shape in (("style", (1,)), ("position", (20,)), ("onsets", (2,))):
        steps = [np.broadcast_to(np.asarray(enc.conditioning(7 + t)[name]), (rows, *shape))
                 for t in range(191)]
        assert np.array_equal(np.broadcast_to(span[name], (rows, 191, *shape)),
                              np.stack(steps, axis=1)), name


def test_a_model_primed_at_once_steps_as_one_token_at_a_time():
    lib = ModelLibrary([ROOT / "models"])
    if not drum_model_names(lib):
        pytest.skip("no drum model in models/")
    model = lib.get(drum_model_names(lib)[0])
    tokens = [0, 5, 0, 0, 9, 0, 0, 0, 5, 0, 0, 3] * 8
    model.encoding.context = DrumContext(origin=30, style=4, bars=[12, 60], bar_steps=36)
    at_once, state = model.prime(tokens)
    model.release(state)
    stepwise, state = model.prime(tokens, stepwise=True)
    model.release(state)
    assert np.allclose(at_once, stepwise, atol=1e-4)
