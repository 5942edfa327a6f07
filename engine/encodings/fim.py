"""Fill-in-the-middle: the melody encoding plus sentinel tokens, so a left-to-right
model can fill a gap having read the music on both sides of it.

``melody-fim-16th`` v1 is ``melody-16th`` (the same tokens 0..37 for the default
range, the same grid, the same transposition) plus

* ``FILL_SUFFIX``: what follows is the music after the gap,
* ``FILL_MIDDLE(q)`` for q = 1..16: what follows is the music before the gap, and then
  the gap, which is q quarter notes long (``ceil(steps / steps_per_quarter)``, 16 for
  anything longer), so the model knows how much room it has.

A fill example is ``FILL_SUFFIX, suffix, FILL_MIDDLE(q), prefix, middle`` (the
suffix-prefix-middle order of Bavarian et al. 2022, "SPM"): the suffix is the first
``suffix_steps`` steps after the gap, the prefix the last ``prefix_steps`` steps before
it, the middle the gap's steps.  Both are the card's (``sentinels``); a card that does
not say has :data:`SUFFIX_STEPS` and :data:`PREFIX_STEPS`, as lstm-fill and
wavenet-fill were trained.  (The motif memory, which hears all the music after the gap,
gains 6% on bars 4-5 of the Essen test tunes from the first 48 steps after the gap, 12%
from 96, 15% from 192: transformer-fill reads more.)  The middle follows the prefix with
nothing between them, as a continuation does, so a network trained to continue keeps
what it knows and learns to use the suffix it has read; the windows keep the prompt and
a 4-bar middle inside a WaveNet's 256 steps.  A plain continuation example is the
melody's tokens as they are; a fill model is trained on both, so it can do both jobs.
The generator feeds the prompt and samples exactly the gap's steps, never a sentinel.

(Measured before this order, each fine-tuned the same way for 21-26 minutes: prefix,
suffix, middle left the LSTM 25% worse on the gap than continuing without the suffix
(it had to carry where the prefix ended across the suffix), and a sentinel between the
prefix and the middle still cost it a third of a bit on the gap's first steps.)

The gap's boundaries, the same in training and in the app:

* a note that starts before the gap and sounds into it is kept as it is: the gap's
  first step (for the model) is where it ends, and that step may not hold it on;
* every note that starts inside the gap is replaced;
* notes starting at or after the gap's end are kept, and whatever the fill leaves
  sounding stops at the gap's end: the suffix's first token is never ``HOLD`` (a
  ``HOLD`` there becomes ``NOTE_OFF``).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from engine.encodings.base import CONTINUE, FILL, register
from engine.encodings.melody import FIRST_NOTE_ON, HOLD, NOTE_OFF, MelodyEncoding
from engine.errors import EncodingError

SUFFIX_STEPS = 48  # how much of the music after the gap the model reads
PREFIX_STEPS = 64  # and of the music before it
MAX_MIDDLE_QUARTERS = 16


@register
class FillMelodyEncoding(MelodyEncoding):
    """``melody-16th`` with the fill-in-the-middle sentinels after its tokens."""

    name = "melody-fim-16th"
    version = 1
    jobs = ("continue", "fill")
    capabilities = frozenset({CONTINUE, FILL})

    def __init__(self, min_pitch: int = 48, max_pitch: int = 83,
                 steps_per_quarter: int = 4, suffix_steps: int = SUFFIX_STEPS,
                 prefix_steps: int = PREFIX_STEPS) -> None:
        super().__init__(min_pitch, max_pitch, steps_per_quarter)
        if suffix_steps < 1 or prefix_steps < 0:
            raise EncodingError(f"a fill prompt reads at least one step after the gap and "
                                f"none or more before it, not {suffix_steps} and "
                                f"{prefix_steps}")
        self.suffix_steps, self.prefix_steps = int(suffix_steps), int(prefix_steps)
        onsets = np.zeros(self.vocab_size, dtype=bool)
        onsets[FIRST_NOTE_ON:self.melody_vocab_size] = True
        self._onsets = onsets

    # ---- vocabulary ----------------------------------------------------------------
    @property
    def melody_vocab_size(self) -> int:
        return FIRST_NOTE_ON + self.max_pitch - self.min_pitch + 1

    @property
    def vocab_size(self) -> int:
        return self.melody_vocab_size + 1 + MAX_MIDDLE_QUARTERS

    @property
    def suffix_token(self) -> int:
        return self.melody_vocab_size

    def middle_token(self, steps: int) -> int:
        """``FILL_MIDDLE(q)`` for a gap of ``steps`` steps."""
        q = min(MAX_MIDDLE_QUARTERS, max(1, math.ceil(steps / self.steps_per_quarter)))
        return self.melody_vocab_size + q

    def is_sentinel(self, token: int) -> bool:
        return int(token) >= self.melody_vocab_size

    def token_pitch(self, token: int) -> int | None:
        return super().token_pitch(token) if token < self.melody_vocab_size else None

    def token_names(self) -> list[str]:
        return super().token_names() + ["FILL_SUFFIX"] + [
            f"FILL_MIDDLE({q})" for q in range(1, MAX_MIDDLE_QUARTERS + 1)]

    def allowed_tokens(self, pitch_classes: Iterable[int] | None = None,
                       min_pitch: int | None = None, max_pitch: int | None = None) -> np.ndarray:
        """The melody's mask; the sentinels are never sampled."""
        mask = np.zeros(self.vocab_size, dtype=bool)
        mask[: self.melody_vocab_size] = super().allowed_tokens(pitch_classes, min_pitch,
                                                                max_pitch)[: self.melody_vocab_size]
        return mask

    def card(self) -> dict:
        card = super().card()
        card["sentinels"] = {"suffix": self.suffix_token,
                             "middle": [self.middle_token(4 * q)
                                        for q in range(1, MAX_MIDDLE_QUARTERS + 1)],
                             "suffix_steps": self.suffix_steps,
                             "prefix_steps": self.prefix_steps,
                             "order": "FILL_SUFFIX, suffix, FILL_MIDDLE(q), prefix, "
                                      "middle"}
        return card

    @classmethod
    def from_card(cls, card: dict) -> "FillMelodyEncoding":
        def build(c: dict) -> "FillMelodyEncoding":
            sentinels = c.get("sentinels") or {}
            return cls(int(c["min_pitch"]), int(c["max_pitch"]), int(c["steps_per_quarter"]),
                       int(sentinels.get("suffix_steps", SUFFIX_STEPS)),
                       int(sentinels.get("prefix_steps", PREFIX_STEPS)))

        return cls.checked_from_card(card, build)  # type: ignore[return-value]

    def transpose_tokens(self, tokens: np.ndarray, semitones: int) -> np.ndarray | None:
        tokens = np.asarray(tokens)
        if semitones and (tokens >= self.melody_vocab_size).any():
            return None
        return super().transpose_tokens(tokens, semitones)

    def tokens_to_grid(self, tokens: Sequence[int], start_step: int = 0, velocity: int = 100):
        if any(self.is_sentinel(t) for t in tokens):
            raise EncodingError("a fill sentinel cannot be turned into notes")
        return super().tokens_to_grid(tokens, start_step, velocity)

    # ---- fill prompts ---------------------------------------------------------------
    def suffix_window(self, suffix: Sequence[int]) -> list[int]:
        """The suffix as the model reads it: its first ``suffix_steps`` steps, and
        what sounds at the gap's end stops there (a first ``HOLD`` becomes ``NOTE_OFF``)."""
        window = [int(t) for t in suffix[:self.suffix_steps]]
        if window and window[0] == HOLD:
            window[0] = NOTE_OFF
        return window

    def fill_prompt(self, prefix: Sequence[int], suffix: Sequence[int],
                    middle_steps: int) -> list[int]:
        """``FILL_SUFFIX, suffix window, FILL_MIDDLE(q), prefix window``: after it the
        model writes the gap's ``middle_steps`` steps."""
        if middle_steps < 1:
            raise EncodingError("a gap to fill needs at least one step")
        prefix = [int(t) for t in prefix][-self.prefix_steps:] if self.prefix_steps else []
        return ([self.suffix_token] + self.suffix_window(suffix)
                + [self.middle_token(middle_steps)] + prefix)

    def fill_example(self, tokens: Sequence[int], start: int, end: int
                     ) -> tuple[list[int], int]:
        """A training (or scoring) sequence for the gap ``[start, end)`` of a melody's
        ``tokens``, and the index in it of the middle's first token."""
        tokens = [int(t) for t in tokens]
        if not 0 <= start < end <= len(tokens):
            raise EncodingError(f"gap {start}..{end} is not inside {len(tokens)} steps")
        prompt = self.fill_prompt(tokens[:start], tokens[end:], end - start)
        return prompt + tokens[start:end], len(prompt)

    def first_step_allowed(self, prime: Sequence[int], allowed: np.ndarray) -> np.ndarray:
        """After a fill prompt the prefix decides (the gap starts where the prefix's
        note ends); after a plain prime, as the melody."""
        prime = [int(t) for t in prime]
        sentinels = [i for i, t in enumerate(prime) if self.is_sentinel(t)]
        if sentinels:
            prime = prime[sentinels[-1] + 1:]
        return super().first_step_allowed(prime, allowed)

    def trim_prime(self, tokens: Sequence[int]) -> list[int]:
        tokens = list(tokens)
        if any(self.is_sentinel(t) for t in tokens):
            return tokens  # a fill prompt is fed as it is
        return super().trim_prime(tokens)


def can_fill(encoding) -> bool:
    """Whether a model of ``encoding`` was trained to fill gaps."""
    return "fill" in getattr(encoding, "jobs", ())


def random_gap(length: int, rng: np.random.Generator, max_len: int = 512,
               steps_per_quarter: int = 4, suffix_steps: int = SUFFIX_STEPS,
               prefix_steps: int = PREFIX_STEPS) -> tuple[int, int] | None:
    """A random gap ``[start, end)`` inside a melody of ``length`` tokens, as training
    draws them: 1-4 bars of 2/4, 3/4, 4/4 or 6/8 (or, one time in four, any length of 1
    to 16 quarter notes), starting anywhere (at the very start one time in 33) and
    ending at least one step before the end.  None when the melody is too short."""
    spq = steps_per_quarter
    if rng.random() < 0.25:
        gap = int(rng.integers(spq, 16 * spq + 1))
    else:
        bar = int(rng.choice([2 * spq, 3 * spq, 4 * spq]))
        gap = bar * int(rng.integers(1, 5))
    last_start = min(length - 1 - gap, max_len + 1 - gap - suffix_steps - prefix_steps - 3)
    if last_start < 1:
        return None
    start = 0 if rng.random() < 0.03 else int(rng.integers(1, last_start + 1))
    return start, start + gap
