"""The motif memory for a drum model: the melody models' short-term model of the piece
(:class:`engine.generation.memory.MemoryMixer`, an online n-gram fed the seed's drums and
then every step drawn) over the ``drums-12th`` tokens, one a grid step, mixed with the
drum network at every step of a drum job (drums continued, Add Drums, a fill) where
``settings.memory`` is on.

Drums repeat bar after bar, so the memory's contexts are keyed by the step's place in
the bar: the card's ``phase_period`` (chosen on the validation grooves by
``python -m training drum-memory-sweep``) narrowed to the song's bars by
:func:`bar_period`, and the first bar line on phase 0.  A fill's memory hears the drums
after the gap too.  The repeat control scales its share by a table of its own
(:data:`engine.generation.mixers.drum_controls.MEMORY_REPEAT`).  Where the seed's drums end in silence as long as the
memory's longest context (a song's ending), the memory hears the groove before it apart
from what follows, so that it does not keep the drums silent.  With the memory off
nothing here is built, so the drums are byte for byte the network's.

Drums that go on also keep the seed's own groove (:func:`seed_groove`, memory on or
off): its last bars read as a pattern of one, two or four bars, and at every new step
that pattern's token gets a fixed share of the probability.  The pattern is the seed's,
never the new bars': a bar that strays is not copied into the next, so each new bar is a
fresh take on the seed's groove (a musician keeps the groove and varies it), and about
half of them come out as an exact repeat, as in real grooves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from engine.encodings.drums import REST
from engine.generation.memory import MemoryMixer, mixing_for
from engine.generation.mixers.drum_controls import memory_share

__all__ = ["bar_period", "drum_memory", "SeedGroove", "seed_groove", "GROOVE_SHARE",
           "GROOVE_SHARE_ALONE", "GROOVE_BARS", "GROOVE_BACKOFF", "GROOVE_RECENCY"]

#: the probability every new step gives what the seed's groove played at its place, the
#: rest the network's with the motif memory (settings.memory on, the default); and the
#: network's alone.  Fitted with GROOVE_BACKOFF by bench/drums.py --split validation on
#: the 30 validation grooves (bars 5-8 after 1-4, 4 variations), whose real next bars
#: repeat an earlier bar 0.73 of the time and keep the seed's groove 0.97: with the memory
#: and a backoff of 0.75, shares 0.93 / 0.95 / 0.97 repeat 0.68 / 0.70 / 0.72, every
#: piece's position histogram within 1.24 / 1.23 / 1.11x the noise floor, 0.99 keeping
#: the groove (0.29 with neither); without it, 0.95 / 0.97 / 0.98 / 0.99 repeat 0.51 /
#: 0.59 / 0.64 / 0.70, within 1.40 / 1.28 / 1.24 / 1.09x.  Backoffs of 0.5 / 0.75 / 1 at
#: 0.95 repeat 0.73 / 0.70 / 0.68 (1.25 / 1.23 / 1.21x); a pattern copied without backoff
#: repeated 0.94 on the held-out grooves (real 0.50)
GROOVE_SHARE = 0.97
GROOVE_SHARE_ALONE = 0.99
#: the seed's last bars its groove is read from
GROOVE_BARS = 4
#: the lengths of the patterns read from them, in bars, each backed off to the one before
PATTERN_BARS = (1, 2, 4)
#: the weight of the shorter pattern in a longer one's place (as many hits heard there)
GROOVE_BACKOFF = 0.75
#: each bar before the seed's last counts this much less than the bar after it
GROOVE_RECENCY = 0.5


def bar_period(period: int, bars: Sequence[int], bar_steps: int) -> int:
    """The largest divisor of ``period`` that divides every bar's length in grid steps
    (``bars``: the bar lines' steps, ``bar_steps``: the last bar's length), so that a
    figure any number of bars later falls on the same phase."""
    out = math.gcd(int(period), max(1, int(bar_steps)))
    for a, b in zip(bars, bars[1:]):
        out = math.gcd(out, int(b) - int(a))
    return max(1, out)


def drum_memory(model, settings, rows: int, prime: Sequence[int], start: int, steps: int,
                bars: Sequence[int], bar_steps: int, heard: Sequence[int] = (),
                heard_step: int | None = None) -> MemoryMixer | None:
    """The memory of ``rows`` rows that has heard the seed's drums ``prime`` (ending at
    grid step ``start``, where the first drawn token falls) and ``heard`` (the drums
    after a fill's gap, from ``heard_step``); room for ``steps`` new tokens.  None when
    the settings turn it off or no drum has been heard (Add Drums, a silent seed): a
    memory that has heard only rests, fed its own rests, keeps the drums silent."""
    if not getattr(settings, "memory", False) or \
            not any(t != REST for t in list(prime) + list(heard)):
        return None  # off; or no drums heard (Add Drums): a memory of rests stays silent
    mixing = mixing_for(model.name)
    period = bar_period(mixing.phase_period, bars, bar_steps)
    if period != mixing.phase_period:
        mixing = replace(mixing, phase_period=period)
    origin = int(bars[0]) if len(bars) else 0  # phase 0 on a bar line
    share = memory_share(settings)
    prime, heard = list(prime), list(heard)
    quiet = _trailing_rests(prime)
    if not heard and quiet >= mixing.max_order:
        # the seed's drums stopped (a song's ending): the memory hears the groove before
        # the silence (if any) apart, else its longest contexts, all rests, would keep
        # the drums silent
        heard, heard_step = prime[:-quiet], start - len(prime)
        prime = []
    return MemoryMixer(model.encoding.vocab_size, rows, prime, mixing,
                       heard=heard, steps=steps, start_step=start - origin,
                       heard_step=None if heard_step is None else heard_step - origin,
                       share=share)


def _trailing_rests(tokens: Sequence[int]) -> int:
    n = 0
    for t in reversed(tokens):
        if t != REST:
            break
        n += 1
    return n


@dataclass(frozen=True)
class SeedGroove:
    """The seed's groove: ``pattern[(step - origin) % period]`` is, at grid step
    ``step``, how often the seed played each token at that place of its pattern (a row
    summing to 1; zeros where the seed heard nothing there), and ``share`` the
    probability a new step gives it."""

    pattern: np.ndarray  # [period, vocab]
    origin: int
    share: float
    #: worked out once, not at every step: ``share * pattern``, and whether each place
    #: heard anything
    _shared: np.ndarray = field(init=False, repr=False, compare=False)
    _heard: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_shared", self.share * self.pattern)
        object.__setattr__(self, "_heard", self.pattern.any(axis=1))

    @property
    def period(self) -> int:
        return len(self.pattern)

    def at(self, step: int) -> np.ndarray:
        """The seed's distribution of tokens at grid step ``step``'s place."""
        return self.pattern[(step - self.origin) % len(self.pattern)]

    def __call__(self, logits: np.ndarray, step: int) -> np.ndarray:
        """The log-probabilities of grid step ``step`` after ``logits`` (the network's,
        or the memory's mixed log-probabilities), ``share`` of the mass moved onto what
        the seed played at that place: ``log((1 - share) * softmax(logits) + share *
        seed)``."""
        z = np.array(logits, dtype=np.float64)
        place = (step - self.origin) % len(self.pattern)
        if self.share <= 0.0 or not self._heard[place]:
            return z
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z, out=z)
        p *= (1.0 - self.share) / p.sum(axis=1, keepdims=True)
        p += self._shared[place]
        return np.log(np.maximum(p, 1e-300, out=p), out=p)


def seed_groove(prime: Sequence[int], start: int, bars: Sequence[int], bar_steps: int,
                vocab: int, memory: bool = True, share: float | None = None,
                backoff: float | None = None, recency: float | None = None,
                last_bars: int | None = None) -> SeedGroove | None:
    """The groove of the seed's drums ``prime`` (tokens below ``vocab``, ending at grid
    step ``start``), read from its last ``last_bars`` bars of ``bar_steps`` steps that
    hold a hit (bars of silence at the end, a song's ending, are passed over), as a
    pattern of four bars: at each place, how often each token was played there, backed
    off (with weight ``backoff``) to how often at that place of a two-bar pattern, and
    that to a one-bar pattern.  A groove that repeats a bar gives the bar; one of two or
    four bars, its bars; one that varies as it goes (a hi-hat skipped now and then, a
    shifted kick), the spread of what it played there, so that the new bars vary as much.
    Each bar counts ``recency`` times as much as the bar after it: the groove is what the
    seed plays last (not a count-in before it).  None when the seed holds no hit.
    ``share`` defaults to :data:`GROOVE_SHARE` with the motif ``memory`` and
    :data:`GROOVE_SHARE_ALONE` without; ``backoff``, ``recency`` and ``last_bars`` to
    :data:`GROOVE_BACKOFF`, :data:`GROOVE_RECENCY` and :data:`GROOVE_BARS`."""
    if share is None:
        share = GROOVE_SHARE if memory else GROOVE_SHARE_ALONE
    backoff = GROOVE_BACKOFF if backoff is None else float(backoff)
    recency = GROOVE_RECENCY if recency is None else float(recency)
    last_bars = GROOVE_BARS if last_bars is None else int(last_bars)
    prime = np.asarray(prime, dtype=np.int64)
    bar = max(1, int(bar_steps))
    if not (prime != REST).any():
        return None
    end = len(prime)
    while end > bar and not (prime[end - bar:end] != REST).any():
        end -= bar  # a silence at the end: the groove is the bars before it
    window = prime[max(0, end - last_bars * bar):end]
    steps = np.arange(start - len(prime) + end - len(window), start - len(prime) + end)
    origin = int(max([b for b in bars if b <= start], default=0))
    weights = recency ** ((len(window) - 1 - np.arange(len(window))) // bar)
    pattern = None
    for n in PATTERN_BARS:
        counts = np.zeros((n * bar, vocab))
        np.add.at(counts, ((steps - origin) % (n * bar), window), weights)
        heard = counts.sum(axis=1, keepdims=True)
        if pattern is None:
            pattern = counts / np.where(heard > 0, heard, 1.0)
            continue
        lower = np.tile(pattern, (n * bar // len(pattern), 1))
        pattern = (counts + backoff * lower) / (heard + backoff)
    return SeedGroove(pattern, origin, float(share))
