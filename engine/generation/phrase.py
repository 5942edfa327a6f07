"""The phrase copy: the part of the motif memory that hears a gap's music bar by bar.

A folk tune says most of its bars twice: a phrase comes back two, four or eight bars
later, often note for note.  The motif memory's contexts (:mod:`engine.generation.memory`)
find a figure by the steps just before it, so they can follow a phrase that is coming
back once it has begun; they cannot read a step's twin two bars *after* it.  Filling a
gap, that is the music a fill most often has to match: the bars after the gap say again
what the gap said (the eighth bar's cadence answers the fourth's), or the gap says again
what came before it.

At each step of the gap the phrase copy looks at the step's twins, the same place in the
bar :data:`OFFSET_BARS` bars before and after it (where the music is known: before the
gap, already written in it, or after it), and at how well each twin's neighbourhood agrees
with the step's own (:data:`WINDOW` steps either side, every pair of places both known
where something happens in either: two HOLDs agree only that a note goes on, and tunes
whose bars share a rhythm would seem to agree wherever their pitches differ).
The twin whose neighbourhood agrees best raises its token's probability by a factor,
``exp(boost)``, the boost fitted per agreement (:data:`BUCKETS` of them) on the validation
split's gaps (``python -m training fill phrase``) and kept in the card's ``memory``
section as ``phrase``; the row is then renormalised.  A factor, not a share: where the
network and the memory are sure of another token, a twin that disagrees moves them
little (a share taken from them would cost the same whatever they knew).  Without the
boosts, or without a bar the grid can count, it changes nothing.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.encodings.melody import HOLD, NOTE_OFF

#: how far a step's twins are, in bars (before and after it); one bar away the music
#: agrees by its rhythm as much as by its phrases, and the validation gaps were likelier
#: without it
OFFSET_BARS = (2, 4, 8)
WINDOW = 32  # steps either side of a step in which its neighbourhood and its twin's agree
BUCKETS = 20  # the agreement's buckets (the share of pairs alike, in twentieths)
MIN_PAIRS = 4  # fewer pairs to judge by: the first boost, whatever they agree
BOOSTS = BUCKETS + 1  # the length of a card's ``phrase`` table


class PhraseCopy:
    """The twins of each row's next step, and the boost their token gets.

    ``prefix`` ends at grid step ``start_step`` (where the written tokens begin),
    ``heard`` (the music after the gap) starts at ``heard_step``; ``steps``: how many
    tokens will be written; ``bar_steps``: a bar's length in grid steps; ``table``: the
    boost per agreement bucket (:data:`BOOSTS` of them)."""

    def __init__(self, rows: int, prefix: Sequence[int], start_step: int,
                 heard: Sequence[int], heard_step: int, steps: int, bar_steps: int,
                 table: Sequence[float]) -> None:
        if len(table) != BOOSTS:
            raise ValueError(f"a phrase table has {BOOSTS} boosts, not {len(table)}")
        if bar_steps < 1:
            raise ValueError("a bar needs at least one step")
        self.table = np.asarray(table, dtype=np.float64)
        if len(heard) and heard[-1] == NOTE_OFF:
            # the NOTE_OFF that closes a tune (a scored tune's tokens end with it; the
            # fill job's stop at the track's end) is where it stops: nothing to say again
            heard = heard[:-1]
        base = int(start_step) - len(prefix)  # the timeline's step 0
        end = max(int(start_step) + int(steps), int(heard_step) + len(heard))
        line = np.full(max(0, end - base), -1, dtype=np.int64)
        line[:len(prefix)] = np.asarray(prefix, dtype=np.int64)
        h = int(heard_step) - base
        if len(heard):
            lo = max(0, h)
            line[lo:h + len(heard)] = np.asarray(heard, dtype=np.int64)[lo - h:]
        self.line = np.repeat(line[None, :], rows, axis=0)
        self.at = int(start_step) - base  # the next step's place on the timeline
        self.offsets = np.array([sign * bars * int(bar_steps) for bars in OFFSET_BARS
                                 for sign in (-1, 1)], dtype=np.int64)

    @property
    def rows(self) -> int:
        return self.line.shape[0]

    def twins(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the token the best-agreeing twin of the next step holds (-1: none
        known) and its agreement bucket; nearer twins are weighed first, and a farther
        one must agree better, or as well on more pairs (one compiled call:
        :func:`engine.generation.memory_kernels.phrase_twins`)."""
        from engine.generation import memory_kernels

        rows = self.line.shape[0]
        token = np.empty(rows, dtype=np.int64)
        bucket = np.empty(rows, dtype=np.int64)
        memory_kernels.phrase_twins(self.line, self.at, self.offsets, WINDOW, HOLD,
                                    MIN_PAIRS, BUCKETS, token, bucket)
        return token, bucket

    def boosts(self, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the twin's token (-1: none) and its boost (times ``scale``, the
        repeat control's)."""
        token, bucket = self.twins()
        return token, np.where(token >= 0, self.table[bucket] * scale, 0.0)

    def mix(self, p: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """``p`` ([rows, vocab] probabilities) with each row's twin's token raised by
        its factor and the row renormalised (a new array)."""
        token, boost = self.boosts(scale)
        out = np.array(p, dtype=np.float64)
        rows = np.flatnonzero((token >= 0) & (boost != 0.0))  # a boost of 0 moves nothing
        if len(rows):
            out[rows, token[rows]] *= np.exp(boost[rows])
            out[rows] /= out[rows].sum(axis=1, keepdims=True)
        return out

    def mix_log(self, log_p: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """:meth:`mix` on log-probabilities, in place (``log_p``, [rows, vocab] float64,
        the caller's own array) and without leaving log space: a twin's token gains its
        boost and its row loses ``log(1 + p (exp(boost) - 1))``, ``p`` the token's
        probability before (one compiled call,
        :func:`engine.generation.memory_kernels.phrase_mix_log`).  Returns ``log_p``."""
        from engine.generation import memory_kernels

        memory_kernels.phrase_mix_log(self.line, self.at, self.offsets, WINDOW, HOLD,
                                      MIN_PAIRS, BUCKETS, self.table, float(scale), log_p)
        return log_p

    def update(self, tokens) -> None:
        """The tokens just written, one per row."""
        if self.at < self.line.shape[1]:
            self.line[:, self.at] = np.asarray(tokens, dtype=np.int64).reshape(-1)
        else:  # past the timeline (more steps than the job said): grow it
            column = np.asarray(tokens, dtype=np.int64).reshape(-1, 1)
            self.line = np.concatenate([self.line, column], axis=1)
        self.at += 1

    def repeat_rows(self, times: int) -> None:
        """Every row becomes ``times`` rows side by side (a fill's candidates)."""
        self.line = np.repeat(self.line, times, axis=0)
