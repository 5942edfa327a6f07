"""The live harmoniser's shortcuts (engine/generation/live_harmony.py): a token the part
grammar says is forced (:meth:`PartGrammar.forced_next`: a step's melody note, its
closing STEP once every voice is written) is taken without the grammar's mask.  Real
steps of the shipped polyphonic models over the default seed's melody are replayed
token by token on a copy of the grammar that asks its full mask every time: each forced
token must be the mask's only one, in the part the mask gives it, and the grammar must
end where the live one did."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from engine.encodings import Key
from engine.encodings.polyphony import STEP
from engine.generation.live_harmony import LiveHarmony, melody_grid
from tests.engine.live_rig import library, seed_melody  # noqa: F401

RULES = ("T", "_must", "_attack", "_pcs", "_forced", "_fpart", "_no_hold", "_ahead")
STATE = ("prev", "cur", "cur_new", "held", "count", "closed", "below", "steps",
         "prev_top", "cur_top", "centre")


def replay(grammar, tokens, allowed, melody_first: bool) -> tuple[list[int], int]:
    """Push ``tokens`` into ``grammar`` with a full mask before each; the parts it
    gives them and how many the grammar called forced.  The first token, when the
    melody sounds, is forced; a forced token is the mask's only one, in its part."""
    parts, forced_count = [], 0
    for i, tok in enumerate(tokens):
        forced = grammar.forced_next()
        mask = grammar.mask(allowed)[0]
        assert mask[tok]
        if forced is not None:
            forced_count += 1
            assert forced[0].tolist() == [tok]
            assert np.flatnonzero(mask).tolist() == [tok]
        if i == 0 and melody_first:
            assert forced is not None
        grammar.push(np.array([tok]))
        parts.append(-1 if tok == STEP else int(grammar.part_of[0]))
        if forced is not None:
            assert forced[1].tolist() == [parts[-1]]
    return parts, forced_count


@pytest.mark.parametrize("model_name,voices,seed,mode", [
    ("poly-wavenet", 3, 7, "harmonise"), ("poly-wavenet", 2, 3, "harmonise"),
    ("poly-lstm", 3, 5, "harmonise"), ("poly-lstm", 1, 2, "bass")])
def test_the_shortcuts_are_the_grammars_only_tokens(library, model_name, voices,  # noqa: F811
                                                    seed, mode):
    live = LiveHarmony(library.get(model_name), Key.parse("G"), voices=voices,
                       rng_seed=seed, mode=mode)
    grid = melody_grid(seed_melody()) + [(None, False)] * 3
    replays = forced = tokens = 0
    for pitch, onset in grid:
        before = copy.deepcopy(live.grammar)
        step = live.step(pitch, onset)
        if before is None:  # the first note made the grammar
            continue
        for name in RULES:  # the step's rules, given as it was played
            setattr(before, name, copy.deepcopy(getattr(live.grammar, name)))
        sounds = live._last_mp >= 0  # the melody sounds (or is held over a rest)
        parts, count = replay(before, step.tokens, live.allowed[None], sounds)
        assert parts[0] == (0 if sounds else parts[0])
        for name in STATE:
            assert np.array_equal(getattr(before, name), getattr(live.grammar, name)), name
        replays += 1
        forced += count
        tokens += len(step.tokens)
    assert replays > 40
    assert forced > tokens // 3  # the melody's notes and most STEPs
    live.close()
