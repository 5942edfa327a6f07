"""What the steering controls' mixers share (density.py, leaps.py, register.py,
syncopation.py): a control's position (-2..2 in the settings) turned into a strength,
the model-space pitch of every note-starting token, and :class:`ControlMixer`, which
adds a bias to the note-starting tokens' logits at each step.

At position 0 a control is never built (:func:`control_mixers` leaves it out), so the
music is byte for byte what it was.  The strengths are not linear: one step either way
is a nudge that keeps the music close to the model's own (its bits per note rise a
little), two steps a push the ear hears."""

from __future__ import annotations

import numpy as np

from engine.generation.mixers import Chained, MixContext

__all__ = ["STRENGTH", "CONTROL_MIXERS", "ControlMixer", "control_mixers", "onset_pitches",
           "strength_of"]

#: a control's position -> the strength its mixer applies (scaled by each control)
STRENGTH = {-2: -1.0, -1: -0.25, 0: 0.0, 1: 0.25, 2: 1.0}
#: the controls that are mixers of the network's logits, in the order they chain (the
#: repeat control scales the motif memory, dynamics the velocities)
CONTROL_MIXERS = ("density", "leaps", "register", "syncopation")


def strength_of(settings, name: str) -> float:
    return STRENGTH[int(getattr(settings, name, 0))]


def control_mixers(settings) -> list[str]:
    """The control mixers a melody job chains after the others: those not at 0 (and not
    already named in ``settings.mixers``)."""
    return [name for name in CONTROL_MIXERS
            if getattr(settings, name, 0) and name not in settings.mixers]


def onset_pitches(enc) -> np.ndarray:
    """``[vocab]`` float: the model-space pitch each note-starting token starts, NaN for
    every other token (and for a note-starting token of no single pitch)."""
    pitches = np.full(enc.vocab_size, np.nan)
    onsets = np.asarray(enc.onset_mask, dtype=bool)
    # a note-starting token allowed even when no pitch is (none in a melody encoding)
    # has no single pitch
    unpitched = np.asarray(enc.allowed_tokens(None, enc.max_pitch + 1, enc.max_pitch + 1),
                           dtype=bool) & onsets
    for p in range(enc.min_pitch, enc.max_pitch + 1):
        only = np.asarray(enc.allowed_tokens(None, p, p), dtype=bool) & onsets & ~unpitched
        pitches[only] = p
    return pitches


class ControlMixer(Chained):
    """Adds ``bias(rows) -> [rows, vocab]`` (zero off the note-starting tokens) to each
    step's logits, after the mixers before it; counts the steps (``step``: the grid
    step of the token now drawn) and keeps each row's last pitch (``last``, NaN before
    any)."""

    #: keep the note-starting tokens' total probability as it was (only which note
    #: starts changes), or let the bias change how often a note starts
    keep_onset_mass = False

    def __init__(self, context: MixContext, inner, strength: float) -> None:
        super().__init__(inner)
        enc = context.model.encoding
        self.enc = enc
        self.song = context.song
        self.strength = float(strength)
        self.pitches = onset_pitches(enc)
        self.onsets = np.asarray(enc.onset_mask, dtype=bool)
        self.step = int(context.start_step if context.start_step is not None
                        else len(context.prefix))
        last = np.nan
        for tok in reversed(list(context.prefix)):
            if self.onsets[tok] and not np.isnan(self.pitches[tok]):
                last = self.pitches[tok]
                break
        self.last = np.full(context.rows, last)
        self.prefix_pitches = np.array([self.pitches[t] for t in context.prefix
                                        if self.onsets[t] and not np.isnan(self.pitches[t])])

    def bias(self, rows: int) -> np.ndarray:
        raise NotImplementedError

    def mix(self, logits: np.ndarray) -> np.ndarray:
        b = self.bias(logits.shape[0])
        if self.keep_onset_mass:
            # shift the note-starting tokens together so their total stays the same
            on = logits[:, self.onsets]
            before = _logsumexp(on)
            after = _logsumexp(on + b[:, self.onsets])
            b = np.array(np.broadcast_to(b, logits.shape))
            b[:, self.onsets] += (before - after)[:, None]
        return logits + b

    def update(self, tokens: np.ndarray) -> None:
        super().update(tokens)
        tokens = np.asarray(tokens)
        drawn = self.pitches[tokens]
        started = ~np.isnan(drawn)
        self.last = np.where(started, drawn, self.last)
        self.step += 1

    def repeat_rows(self, times: int) -> None:
        super().repeat_rows(times)
        self.last = np.repeat(self.last, times)


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=1)
    m = np.where(np.isfinite(m), m, 0.0)
    return m + np.log(np.sum(np.exp(x - m[:, None]), axis=1))
