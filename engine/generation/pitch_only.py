"""Pitch-only bits: the cross-entropy of each note's pitch given that a note starts
there and given everything before (``score --pitch-only``).

Our bits per note (docs/model-contract.md) pay for the rhythm too: every HOLD and
NOTE_OFF is scored, and a NOTE_ON pays for *when* a note starts as well as for its
pitch.  The published figures for the Essen collection (IDyOM and other
multiple-viewpoint systems) predict the pitch alone, given the rhythm.  This is the
nearest figure our token models give: at every step whose true token is a NOTE_ON, the
model's distribution (mixed with the motif memory's, when on, exactly as ``score``
mixes them) is renormalised over the NOTE_ON tokens only, and the note costs
``-log2`` of its true pitch's share.  The rhythm is known at the step of a note only;
the model still had to guess it at earlier steps, so the context is the tune's real
tokens, not a rhythm it was told in advance.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.generation.memory import Mixing, memory_distributions, mix, softmax


def pitch_bits(p: np.ndarray, targets: np.ndarray, onset_mask: np.ndarray) -> tuple[float, int]:
    """``p[t]``: a distribution over the vocabulary that predicts ``targets[t]``.  The
    bits of every target that is a note start (``onset_mask``), each under ``p[t]``
    renormalised over the note starts; and how many there were."""
    targets = np.asarray(targets)
    at = np.flatnonzero(onset_mask[targets])
    if not len(at):
        return 0.0, 0
    rows = np.asarray(p, dtype=np.float64)[at]
    onset_mass = rows[:, onset_mask].sum(axis=1)
    share = rows[np.arange(len(at)), targets[at]] / np.maximum(onset_mass, 1e-300)
    return float(-np.log2(np.maximum(share, 1e-300)).sum()), len(at)


def score_pitches(model, tokens: Sequence[int],
                  mixing: Mixing | None = None) -> tuple[float, int]:
    """A melody tune's pitch-only bits under ``model`` (with the motif memory mixed in
    when ``mixing`` is given, as :func:`engine.generation.memory.score_tokens_with_memory`
    mixes it), over every note after the tune's first token: (bits, notes)."""
    tokens = np.asarray(tokens, dtype=np.int32)
    if tokens.ndim != 1 or len(tokens) < 2:
        return 0.0, 0
    logits = model.sequence_logits(tokens[None, :-1])[0]
    p = softmax(logits)
    if mixing is not None:
        p_mem, longest = memory_distributions(tokens.tolist(), logits.shape[-1],
                                              mixing.max_order, mixing.phase_period)
        p = mix(p, p_mem[1:], mixing, longest[1:])
    return pitch_bits(p, tokens[1:], model.info.encoding.onset_mask)
