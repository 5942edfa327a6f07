"""The auto key lock's key: the transposition under which the model itself finds the
seed likeliest.

Two bars are too few notes for a key profile (Krumhansl-Schmuckler on the first two
bars of the Essen test tunes locks a scale that leaves out 6.3% of the next four bars'
notes).  The model knows better what a tune in C major / A minor sounds like: the seed
is moved by each plausible shift of the 12 (:func:`plausible_shifts`), the model scores
them in one call of its sequence graph, and
:func:`engine.encodings.keys.key_from_likelihoods` turns the likelihoods (with how
tunes start) into the likeliest key and the notes a lock may allow, keeping a note that
another likely key needs, so that an unsure estimate locks less or nothing.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.encodings import Encoding, Key
from engine.encodings.keys import KeyEstimate, key_from_likelihoods
from engine.errors import EncodingError
from engine.song import Note

# the seed's last steps the model scores (16 bars of 4/4): enough for any key, and the
# call stays within tens of milliseconds
KEY_WINDOW_STEPS = 256
# a shift whose C major holds this much less of the seed (by duration) than the best
# shift's is not scored: a third of the time or less, for 1.27% of the Essen test
# continuations' notes outside the lock instead of 1.13% (bench/key_lock.py)
SHIFT_SLACK = 0.15


def plausible_shifts(notes: Sequence[Note], slack: float = SHIFT_SLACK) -> list[int]:
    """The shifts worth asking the model about: those whose C major holds nearly as much
    of the seed (by duration) as the best one does."""
    weight = np.zeros(12)
    for n in notes:
        weight[n.pitch % 12] += max(n.duration_ticks, 1)
    scale = np.zeros(12)
    scale[[0, 2, 4, 5, 7, 9, 11]] = 1.0
    held = np.array([weight @ np.roll(scale, -s) for s in range(12)]) / max(weight.sum(), 1)
    return [s for s in range(12) if held[s] >= held.max() - slack]


def shift_log_likelihoods(model, enc: Encoding, notes: Sequence[Note], ppq: int,
                          start_step: int, end_step: int,
                          shifts: Sequence[int] = range(12)) -> np.ndarray | None:
    """The model's log-likelihood (nats) of the seed's tokens moved by each shift 0..11
    (every token after the first; -inf for a shift not in ``shifts``); None when the
    seed has fewer than two tokens."""
    shifts = list(shifts)
    rows = []
    for s in shifts:
        try:
            encoded = enc.encode_seed(notes, ppq, key=Key((-s) % 12), start_step=start_step,
                                      end_step=end_step)
        except EncodingError:
            return None
        rows.append(enc.trim_prime(encoded.tokens))
    length = min(len(r) for r in rows)
    if length < 2 or any(len(r) != length for r in rows):
        return None
    tokens = np.array(rows, dtype=np.int32)
    logits = model.sequence_logits(tokens[:, :-1]).astype(np.float64)
    top = logits.max(axis=-1, keepdims=True)
    log_p = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
    targets = tokens[:, 1:]
    out = np.full(12, -np.inf)
    out[shifts] = np.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0].sum(axis=1)
    return out


def choose_key(model, notes: Sequence[Note], ppq: int, start_step: int,
               end_step: int) -> KeyEstimate:
    """The auto key of a seed (its ``notes`` in the steps [start_step, end_step))."""
    enc: Encoding = model.encoding
    first = min(enc.tick_to_step(n.start_tick, ppq) for n in notes)
    window_start = max(start_step, end_step - KEY_WINDOW_STEPS)
    cut = enc.step_to_tick(window_start, ppq)
    window = [n for n in notes if n.end_tick > cut] or list(notes)
    # the first-note prior speaks of a tune's first note, not of one in the middle
    whole = window_start <= first
    first_pitch = min(window, key=lambda n: (n.start_tick, -n.pitch)).pitch if whole else None
    ll = shift_log_likelihoods(model, enc, window, ppq, window_start, end_step,
                               plausible_shifts(window))
    if ll is None:
        ll = np.zeros(12)
    return key_from_likelihoods(ll, [(n.pitch, n.duration_ticks) for n in window], first_pitch)
