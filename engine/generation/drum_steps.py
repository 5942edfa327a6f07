"""What a drum generation does at each new step besides the network, in as few numpy
calls as its arithmetic allows, with the very tokens of the plain composition (issue 24's
speed goal; bench/drum_speed.py).

At each new step of :func:`engine.generation.jobs.drums.sample_drums`, in this order:
the motif memory mixes its log-probabilities in (``settings.memory``); the style prior
adds its row for the step's place in the bar (:mod:`engine.generation.drum_style`);
then either the seed's groove takes its share of the probability (drums that go on:
:class:`engine.generation.drum_memory.SeedGroove`, ``log((1 - share) * softmax + share
* seed)``) or, without a seed groove, the token each row played a bar before gains
``nats`` (Add Drums and fills); the drum controls steer; and one token per row is drawn
(:class:`engine.generation.sampler.Sampler`).

:class:`DrumStepMix` does the same arithmetic, operation for operation, in one float64
buffer made once, with what depends only on the step (the groove's place, the prior's
row) looked up in arrays worked out before the first step, and the Gumbel noise drawn
ahead for many steps at once (:meth:`Sampler.ahead`): with the seed's groove, which
draws from the same generator at the first step of a bar (and at every step of a bar it
draws step by step), up to the groove's next draw
(:meth:`engine.generation.drum_memory.GrooveTake.quiet_until`).  Nothing of it draws
from the random generator but the sampler and the groove, in the plain loop's order, so
the tokens are byte for byte the same (bench/drum_loop.py's plain_sample_drums, held to
the loop by tests/engine/test_drum_steps.py).

:func:`conditioning_steps` gives the drum network's inputs over the new steps as the
arrays :meth:`engine.models.step_model.StepModel.stepper` feeds row by row: the style
once, the position and the other parts' onsets a row a step.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from engine.encodings.drums import positions_at
from engine.generation.drum_memory import GrooveTake
from engine.generation.sampler import Sampler

__all__ = ["DrumStepMix", "conditioning_steps"]

#: the floor under a mixed probability before its logarithm (as SeedGroove's)
_TINY = 1e-300


def conditioning_steps(plan, first: int, count: int) -> tuple[dict, dict]:
    """(varying, constant): a drum plan's inputs for the grid steps ``first`` ..
    ``first + count - 1`` (what ``plan.conditionings(first, count)`` gives step by step),
    as :meth:`StepModel.stepper` takes them: ``position`` [count, 1, 20] and ``onsets``
    [count, rows, 2] (none beyond the plan's onsets), ``style`` [rows, 1] for all."""
    rows = plan.onsets.shape[0]
    onsets = np.zeros((count, rows, 2), np.float32)
    offset = first - plan.start
    a, b = max(0, offset), min(plan.onsets.shape[1], offset + count)
    if a < b:
        onsets[a - offset:b - offset] = plan.onsets[:, a:b].transpose(1, 0, 2)
    positions = positions_at(first, count, plan.bars, plan.bar_steps)
    return ({"position": positions[:, None], "onsets": onsets},
            {"style": np.full((rows, 1), plan.style, np.int32)})


class DrumStepMix:
    """One drum generation's mixing and drawing, a call per new step: ``mix(logits, i,
    out)`` -> one token per row for new step ``i`` (None when the numbers are NaN or
    infinite), ``logits`` the network's ([rows, vocab]) and ``out`` the tokens drawn so
    far ([rows, steps], columns before ``i`` filled).

    ``memory``: the motif memory (a mixer of the logits) or None; ``prior``: the style
    prior's [places, vocab] and ``where`` each new step's place, or None; ``groove``: the
    seed's groove, ``groove(logits, grid step)`` -> log-probabilities (it may draw from
    the sampler's generator), ``start`` the grid step of new step 0; without one,
    ``nats`` on the token each row played ``bar_steps`` before (``prime``: the seed's
    tokens before the start); ``steering``: the drum controls or None; ``mask``: the
    sampler's additive mask over the vocabulary (0 or -inf per token)."""

    def __init__(self, sampler: Sampler, mask: np.ndarray, rows: int, steps: int, *,
                 memory: Any = None, prior: np.ndarray | None = None,
                 where: np.ndarray | None = None, groove: Any = None, start: int = 0,
                 prime: Sequence[int] = (), bar_steps: int = 0, nats: float = 0.0,
                 steering: Any = None) -> None:
        self.memory = memory
        self.steering = steering
        self.full_mask = mask
        self.mask = mask if bool(np.any(mask)) else None  # all allowed: adding 0 changes nothing
        self.draw = sampler if steering is None else steering.drawing(sampler)
        # the noise drawn ahead, as many steps at once as nothing else draws meanwhile:
        # a groove that draws bar by bar (GrooveTake.quiet_until) lets the rest of a bar's
        # be drawn at its first step; one that may draw at any step, a step's at a time
        self.quiet = getattr(groove, "quiet_until", None)
        self.gumbel = sampler.ahead(steps, rows, len(mask),
                                    alone=groove is None or self.quiet is not None)
        self.most = 0 if self.gumbel is None else self.gumbel.block_steps
        self.z = np.empty((rows, len(mask)), np.float64)
        self.prior = None if prior is None or where is None else np.asarray(prior)
        self.where = None if self.prior is None else np.asarray(where, np.int64).tolist()
        self.groove = groove
        # the groove works the memory's log-probabilities (or, with the style prior,
        # this call's own buffer) in place with the memory's compiled steps
        self.given = memory is not None and isinstance(groove, GrooveTake)
        self.start = int(start)
        self.nats = float(nats) if int(bar_steps) > 0 else 0.0
        self.period = int(bar_steps)
        self.prime = [int(t) for t in prime]
        self.rows = np.arange(rows)

    def __call__(self, logits: np.ndarray, i: int, out: np.ndarray) -> np.ndarray | None:
        z = self.z
        mixed = logits if self.memory is None else self.memory(logits)
        if self.prior is not None:  # the style prior at the step's place
            np.copyto(z, mixed)
            z += self.prior[self.where[i]]
            mixed = z
        if self.groove is not None:  # the seed's groove (a float64 copy of its own)
            if self.given:  # after the memory: its log-probabilities, worked in place
                z = self.groove(mixed, self.start + i, given=True)
            else:
                z = self.groove(mixed, self.start + i)
            if self.quiet is not None and self.gumbel is not None:
                # the steps whose noise may be drawn now: up to the groove's next draw
                until = self.quiet(self.start + i)
                self.gumbel.block_steps = self.most if until is None else \
                    max(1, min(self.most, until - self.start - i))
        else:
            if mixed is not z:
                np.copyto(z, mixed)
            j = i - self.period  # the token each row played a bar before
            if self.nats and j >= 0:
                z[self.rows, out[:, j]] += self.nats
            elif self.nats and j >= -len(self.prime):
                z[:, self.prime[j]] += self.nats
        if self.gumbel is None:
            return self.draw(z, self.full_mask)
        if self.steering is not None:
            z = np.array(self.steering(z), dtype=np.float64)
        elif z is not self.z:  # the groove's log-probabilities, made afresh each step
            z = np.asarray(z, dtype=np.float64)
        if self.mask is not None:
            z += self.mask
        tokens = self.gumbel(z)
        if tokens is not None and self.steering is not None:
            self.steering.update(tokens)
        return tokens
