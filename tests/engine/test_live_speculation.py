"""Live Harmonise feeds the model ahead of the key (engine/generation/live_harmony.py,
:class:`Speculation`): every melody note the player may press next, one batch row each,
and the press takes its row instead of making the call.  That must be the very call the
press would have made: the same logits and the same state, to the bit, so the voices'
tokens and the RNG's draws do not change.  Real sessions of the shipped polyphonic
models over the default seed's melody."""

from __future__ import annotations

import numpy as np
import pytest

from engine.encodings import Key
from engine.generation.live_harmony import LiveHarmony, harmonise_steps, melody_grid
from tests.engine.live_rig import library, seed_melody  # noqa: F401


def copy_of(model, state):
    """A state of one row with ``state``'s numbers and step."""
    out = model.initial_state(1)
    for dst, src in zip(out.buffers, state.buffers):
        dst[:] = src
    out.t = state.t
    return out


@pytest.mark.parametrize("model_name", ["poly-wavenet", "poly-lstm"])
def test_each_speculated_row_is_the_call_made_on_the_key(library, model_name):  # noqa: F811
    model = library.get(model_name)
    harmony = LiveHarmony(model, Key.parse("G"), voices=3, rng_seed=4)
    grid = melody_grid(seed_melody())
    enc = model.encoding
    checked = 0
    for t, (pitch, onset) in enumerate(grid[:40]):
        harmony.step(pitch, onset)
        if t % 9 != 3:
            continue
        assert harmony.speculate()
        spec = harmony.speculation
        tokens = spec.tokens.tolist()
        # every NEW the melody can take, and the HOLD of the pitch it holds on
        assert {enc.new(p) for p in range(enc.min_pitch + 12, enc.max_pitch + 1)} <= set(tokens)
        assert enc.hold(harmony._last_mp) in tokens
        before = copy_of(model, harmony.state)
        for tok in tokens[::5] + tokens[-1:]:
            plain = copy_of(model, before)
            want = model.step(np.array([tok]), plain)
            # the row taken into a copy of the live state, as the press would take it
            live = copy_of(model, before)
            spec._of, spec.at = live, live.t
            got = spec.adopt(live, tok)
            assert got.shape == want.shape and np.array_equal(got, want)
            assert live.t == plain.t
            for a, b in zip(live.buffers, plain.buffers):
                assert np.array_equal(a, b)
            checked += 1
        model.release(before)
    assert checked > 30


@pytest.mark.parametrize("model_name,voices,seed", [
    ("poly-wavenet", 3, 7), ("poly-wavenet", 2, 3), ("poly-lstm", 3, 5)])
def test_feeding_ahead_changes_no_token(library, model_name, voices, seed):  # noqa: F811
    """Fed ahead before most steps (twice before some, not at all before others, and
    across a dropped step), the steps' tokens and the voices' notes are those of the
    harmoniser that never feeds ahead; and the rows were taken."""
    model = library.get(model_name)
    key = Key.parse("G")
    grid = melody_grid(seed_melody())
    start = next(t for t, (p, _) in enumerate(grid) if p is not None)
    dropped_at = start + 21
    played = []
    for ahead in (True, False):
        harmony = LiveHarmony(model, key, voices=voices, rng_seed=seed, speculate=ahead)
        steps = []
        for t, (pitch, onset) in enumerate(grid[start:], start=start):
            if ahead and t % 7 != 5:
                assert harmony.speculate()
            if ahead and t % 5 == 0:
                harmony.speculate()  # again: the warm-up before the step is due
            if t == dropped_at:
                steps.append(harmony.hold_over(pitch, onset))
                if ahead:  # the dropped step's calls, then the next step's ahead
                    assert harmony.speculate() and not harmony._pending
                continue
            steps.append(harmony.sample(pitch, onset))
            harmony.prepare()
        played.append((steps, harmony.finish(), harmony))
    (steps, notes, harmony), (ref_steps, ref_notes, _) = played
    assert harmony.speculation.adopted > len(steps) // 2
    assert steps[dropped_at - start].dropped
    assert [s.tokens for s in steps] == [s.tokens for s in ref_steps]
    assert len(ref_notes) > 12 and notes == ref_notes
    # and the harmoniser that never drops a step is the offline one, fed ahead or not
    offline, ref = harmonise_steps(model, grid, key, voices=voices, rng_seed=seed)
    plain, _ = harmonise_steps(model, grid, key, voices=voices, rng_seed=seed,
                               speculate=False)
    assert [s.tokens for s in offline] == [s.tokens for s in plain]
    assert [s.tokens for s in steps[:dropped_at - start]] == \
        [s.tokens for s in plain[:dropped_at - start]]


def test_a_call_fed_ahead_of_another_step_is_not_taken(library):  # noqa: F811
    """Rows fed at one step are not taken at a later one (the state has moved on)."""
    model = library.get("poly-wavenet")
    key = Key.parse("C")
    grid = melody_grid(seed_melody())
    ref_steps, _ = harmonise_steps(model, grid, key, voices=3, rng_seed=2, speculate=False)
    harmony = LiveHarmony(model, key, voices=3, rng_seed=2)
    start = next(t for t, (p, _) in enumerate(grid) if p is not None)
    assert harmony.speculate()
    stale = harmony.speculation.at
    steps = [harmony.step(p, o) for p, o in grid[start:start + 3]]
    # only the first step could take its row; the later ones were fed at their own step
    assert harmony.speculation.adopted == 1 and harmony.state.t > stale
    assert [s.tokens for s in steps] == [s.tokens for s in ref_steps[:3]]
