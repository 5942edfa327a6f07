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
fresh take on the seed's groove (a musician keeps the groove and varies it).

The pattern at a place is a mixture of the seed's bars (each weighed by how recent it is
and how well its place in the four-bar cycle matches), the same mixture at every place of
a bar.  A generation draws from it bar by bar (:meth:`SeedGroove.take`): each row picks
one of the seed's bars for a new bar and plays that bar's token at every step of it, so
the new bar is one of the seed's bars, varied where the network is heard, not a mosaic
of several; and it does so as often as the seed's own bars repeat an earlier one (a
seed of four different bars goes on varying: each step drawn from the mixture on its
own).  Each place's tokens come out as often as the pattern says either way; but where
the seed's bars differ (a human drummer's ghost notes, a fill), steps drawn one at a
time made bars that matched none of them, and drums that went on after a seed that
repeats its bars repeated far less than real ones (bench/drums.py: the external drum
tracks 0.39 of the new bars against 0.50; real next bars repeat 0.07-0.30 after a seed
of four different bars, 0.87-0.95 after one that repeats 2 of 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from engine.encodings.drums import REST
from engine.generation.memory import MemoryMixer, mixing_for
from engine.generation.mixers.drum_controls import memory_share

__all__ = ["bar_period", "drum_memory", "SeedGroove", "GrooveTake", "seed_groove",
           "GROOVE_SHARE", "GROOVE_SHARE_ALONE", "GROOVE_BARS", "GROOVE_BACKOFF",
           "GROOVE_RECENCY"]

#: the probability every new step gives what the seed's groove played at its place, the
#: rest the network's with the motif memory (settings.memory on, the default); and the
#: network's alone.  Fitted by bench/drums.py --split validation on the 30 validation
#: grooves (bars 5-8 after 1-4, 4 variations), whose real next bars repeat an earlier bar
#: 0.73 of the time, with each new bar taken whole from one of the seed's bars as often as
#: the seed's own bars repeat (GrooveTake): with the memory, shares 0.85 / 0.90 / 0.95 /
#: 0.97 repeat 0.65 / 0.69 / 0.73 / 0.75, every piece's position histogram within 1.16 /
#: 1.10 / 1.00 / 0.85x the noise floor; without it, 0.95 / 0.97 / 0.99 repeat 0.56 / 0.65 /
#: 0.73 (1.26 / 0.92 / 0.91x).  Before the bars were taken whole (each step drawn on its
#: own from the mixture, 0.97 / 0.99) the external drum tracks repeated 0.39 (real 0.50);
#: every bar taken whole at 0.97, 0.83, and at 0.80 (fitted so) the held-out grooves 0.72
#: (real 0.50): the seed's own repeats tell how often its next bars repeat (real 0.07 to
#: 0.30 after a seed of four different bars, 0.87 to 0.95 after one that repeats 2 of 3)
GROOVE_SHARE = 0.95
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
    mixer = MemoryMixer(model.encoding.vocab_size, rows, prime, mixing,
                        heard=heard, steps=steps, start_step=start - origin,
                        heard_step=None if heard_step is None else heard_step - origin,
                        share=share)
    if mixing.max_order >= NUMPY_WEIGHTS_FROM_ORDER:
        mixer.memory.rows_in_python = 1
    return mixer


#: the numpy memory before the compiled one (tests/engine/memory_reference.py, and
#: bench/memory_speed.py's baseline) worked out a drum memory's weights in numpy from
#: this longest order on (4 rows of 25 orders: 8 us a step against 16 in Python floats);
#: the compiled memory ignores ``rows_in_python``, set here so that a baseline times as
#: it ran
NUMPY_WEIGHTS_FROM_ORDER = 12


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
    probability a new step gives it.  ``sources[place]`` is the same as a mixture of the
    seed's steps ``window`` (the tokens its pattern was read from): the weight each of
    them has there (a row summing to 1, or 0 where nothing was heard), so that
    ``pattern[place][t]`` is the weight of the steps in ``window`` that played ``t``;
    and ``bar`` the bar's length in steps (a new bar draws its source anew)."""

    pattern: np.ndarray  # [period, vocab]
    origin: int
    share: float
    window: np.ndarray | None = None  # [steps]: the seed's tokens read
    sources: np.ndarray | None = None  # [period, steps]: each one's weight at each place
    bar: int = 0
    #: the chance a new bar is taken whole from one of the seed's bars (else each step
    #: from the mixture on its own): how often the seed's own bars repeat an earlier one
    whole: float = 1.0
    #: worked out once, not at every step: ``share * pattern``, whether each place
    #: heard anything, and the running sums of ``sources`` (a source drawn by bisection)
    _shared: np.ndarray = field(init=False, repr=False, compare=False)
    _heard: np.ndarray = field(init=False, repr=False, compare=False)
    _cumulative: np.ndarray | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_shared", self.share * self.pattern)
        object.__setattr__(self, "_heard", self.pattern.any(axis=1))
        cumulative = None if self.sources is None else np.cumsum(self.sources, axis=1)
        object.__setattr__(self, "_cumulative", cumulative)

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
        seed)``.  Each step on its own: :meth:`take` draws bar by bar."""
        z = np.array(logits, dtype=np.float64)
        place = (step - self.origin) % len(self.pattern)
        if self.share <= 0.0 or not self._heard[place]:
            return z
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z, out=z)
        p *= (1.0 - self.share) / p.sum(axis=1, keepdims=True)
        p += self._shared[place]
        return np.log(np.maximum(p, 1e-300, out=p), out=p)

    def take(self, rng: np.random.Generator) -> "GrooveTake":
        """One generation's take on the groove, bar by bar (random draws from ``rng``);
        a groove built without its sources (``window``, ``sources``), step by step."""
        return GrooveTake(self, rng)

    def source_tokens(self, step: int, draws: np.ndarray) -> np.ndarray | None:
        """Per row, the token of the seed's step that ``draws`` (uniform in [0, 1), one
        a row) pick at grid step ``step``'s place, each step in proportion to its weight
        there; None where nothing was heard there.  The same draw picks the same seed
        bar at every place of a new bar, where the bar's places weigh the seed's bars
        alike (whole bars)."""
        place = (step - self.origin) % len(self.pattern)
        if self._cumulative is None or not self._heard[place]:
            return None
        running = self._cumulative[place]
        picked = np.searchsorted(running, draws * running[-1], side="right")
        return self.window[np.minimum(picked, len(running) - 1)]


class GrooveTake:
    """A generation's take on a :class:`SeedGroove`: at the first step of each new bar,
    each row draws which of the seed's bars it plays (as often as the groove's mixture
    weighs each at that place of the cycle), and every step of the bar gives ``share`` of
    its probability to that bar's token there, the rest to the network's (with the
    memory's).  Marginally each step is the groove's own mixture; but a new bar is one
    of the seed's bars, varied where the network is heard, not a mosaic of them.  Only
    as often as the seed's own bars repeat (``whole``): otherwise the bar draws each
    step's token from the mixture on its own, a new bar in the seed's spread, as a
    drummer who never plays a bar twice goes on varying.

    A bar whose rows all take a seed bar whole has its every step's tokens picked at its
    first step, in one go ([bar steps, rows], :meth:`SeedGroove.source_tokens`' bisection
    as a count of the running sums at or below each draw: the same picks); and it draws
    nothing from the generator until the next bar (:meth:`quiet_until`), so the sampler
    may draw its noise for the rest of the bar at once."""

    def __init__(self, groove: SeedGroove, rng: np.random.Generator) -> None:
        self.groove = groove
        self.rng = rng
        self._bar: int | None = None
        self._draws: np.ndarray | None = None
        self._whole: np.ndarray | None = None
        self._all_whole = False
        #: the bar's tokens a step ([bar steps, rows]; a row of -1 where the seed heard
        #: nothing at the step's place), when every row takes a seed bar whole
        self._tokens: np.ndarray | None = None
        self._first = 0  # the grid step of the bar's first step
        # drawing: whether the groove draws at all (bar by bar, from its sources)
        g = groove
        self._draws_bars = g.sources is not None and g.bar > 0 and g.share > 0.0

    def quiet_until(self, step: int) -> int | None:
        """The first grid step after ``step`` (whose call has been made) at which this
        take may draw from its generator again; None: never."""
        if not self._draws_bars:
            return None
        if self._all_whole and self._bar is not None:
            return self._first + self.groove.bar
        return step + 1

    def _new_bar(self, bar: int, rows: int) -> None:
        g = self.groove
        self._bar = bar
        self._draws = self.rng.random(rows)
        self._whole = self.rng.random(rows) < g.whole
        self._all_whole = bool(self._whole.all())
        self._any_whole = bool(self._whole.any())
        self._first = g.origin + bar * g.bar
        self._tokens = self._bar_tokens(self._draws) if self._all_whole else None

    def _bar_tokens(self, draws: np.ndarray) -> np.ndarray:
        """[bar steps, rows]: :meth:`SeedGroove.source_tokens` at every step of the bar
        (-1 where nothing was heard), the same ``draws`` at each."""
        g = self.groove
        period = len(g.pattern)
        places = (self._first - g.origin + np.arange(g.bar)) % period
        running = g._cumulative[places]  # [steps, sources]
        wanted = draws[None, :] * running[:, -1:]  # [steps, rows]: draws * running[-1]
        # searchsorted(running, wanted, "right"): how many running sums are <= it
        picked = (running[:, None, :] <= wanted[:, :, None]).sum(axis=2)
        tokens = g.window[np.minimum(picked, running.shape[1] - 1)]
        tokens[~g._heard[places]] = -1
        return tokens

    def __call__(self, logits: np.ndarray, step: int, given: bool = False) -> np.ndarray:
        """The log-probabilities of grid step ``step`` after ``logits`` ([rows, vocab]):
        ``log((1 - share) * softmax(logits) + share * onehot(the row's seed token))``.

        ``given``: ``logits`` is a C-ordered float64 array the caller gives up (the
        motif memory's log-probabilities, made afresh each step), worked in place by the
        memory's compiled steps (:func:`memory_kernels.less_top`, :func:`share_onto`)
        around numpy's ``exp`` and ``log``: the same numbers, in four calls instead of
        ten (the memory has loaded and warmed them)."""
        g = self.groove
        if g.sources is None or g.bar <= 0:
            return g(logits, step)
        z = logits if given else np.array(logits, dtype=np.float64)
        if g.share <= 0.0:
            return z
        bar = (step - g.origin) // g.bar
        rows = len(z)
        if bar != self._bar or self._draws is None or len(self._draws) != rows:
            self._new_bar(bar, rows)
        if self._all_whole:
            tokens = self._tokens[step - self._first]
            if tokens[0] < 0:
                return z
        elif given:  # the same draws and picks, the pick in the compiled step
            draws = self.rng.random(rows)
            if self._any_whole:
                draws = np.where(self._whole, self._draws, draws)
            place = (step - g.origin) % len(g.pattern)
            if g._cumulative is None or not g._heard[place]:
                return z
            kernels = _compiled()
            kernels.less_top(z)
            p = np.exp(z, out=z)
            kernels.share_onto_source(p, g._cumulative[place], draws, g.window, g.share)
            return np.log(p, out=p)
        else:  # a bar of the groove's spread: each step drawn anew
            draws = np.where(self._whole, self._draws, self.rng.random(rows))
            tokens = g.source_tokens(step, draws)
            if tokens is None:
                return z
        if given:
            kernels = _compiled()
            kernels.less_top(z)
            p = np.exp(z, out=z)
            kernels.share_onto(p, tokens, g.share)
            return np.log(p, out=p)
        z -= _max(z, axis=1, keepdims=True)
        p = np.exp(z, out=z)
        p *= (1.0 - g.share) / _sum(p, axis=1, keepdims=True)
        p[_ROWS[rows] if rows < len(_ROWS) else np.arange(rows), tokens] += g.share
        return np.log(np.maximum(p, 1e-300, out=p), out=p)


def _compiled():
    """engine.generation.memory_kernels (loaded by the motif memory, which a ``given``
    call comes after)."""
    global _kernels
    if _kernels is None:
        from engine.generation import memory_kernels

        _kernels = memory_kernels
    return _kernels


_kernels = None

# ndarray.max and .sum without their Python wrappers (the same reductions)
_max, _sum = np.maximum.reduce, np.add.reduce
_ROWS = [np.arange(n) for n in range(65)]


def _backed_off(labels: np.ndarray, places: np.ndarray, width: int, bar: int,
                weights: np.ndarray, backoff: float) -> np.ndarray:
    """[4 bars, width]: at each place of the four-bar cycle, how often (weighed by
    ``weights``) each label was heard there (``places``: each label's step from the
    cycle's origin), backed off with weight ``backoff`` to the two-bar and the one-bar
    cycles."""
    pattern = None
    for n in PATTERN_BARS:
        counts = np.zeros((n * bar, width))
        np.add.at(counts, (places % (n * bar), labels), weights)
        heard = counts.sum(axis=1, keepdims=True)
        if pattern is None:
            pattern = counts / np.where(heard > 0, heard, 1.0)
            continue
        lower = np.tile(pattern, (n * bar // len(pattern), 1))
        pattern = (counts + backoff * lower) / (heard + backoff)
    return pattern


def seed_groove(prime: Sequence[int], start: int, bars: Sequence[int], bar_steps: int,
                vocab: int, memory: bool = True, share: float | None = None,
                backoff: float | None = None, recency: float | None = None,
                last_bars: int | None = None,
                hit_sets: np.ndarray | None = None) -> SeedGroove | None:
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
    :data:`GROOVE_BACKOFF`, :data:`GROOVE_RECENCY` and :data:`GROOVE_BARS`.

    A new bar is taken whole from one of the seed's bars as often as the seed's own bars
    (after the first, whole bars only) repeat an earlier one, compared as ``hit_sets``
    (token -> which pieces it strikes, so that a hit at another loudness is the same
    bar; by default the tokens themselves); otherwise step by step."""
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
    places = steps - origin
    # each of the song's bars (from the bar line before the start) one weight, so that a
    # seed that stops inside a bar weighs each of its bars alike at every place
    held = places // bar
    weights = recency ** (held[-1] - held).astype(np.float64)
    pattern = _backed_off(window, places, vocab, bar, weights, backoff)
    # the same mixture over the seed's steps themselves: which step each place copies
    sources = _backed_off(np.arange(len(window)), places, len(window), bar, weights, backoff)
    return SeedGroove(pattern, origin, float(share), window=window.copy(), sources=sources,
                      bar=bar, whole=_repeating(window, held, bar, hit_sets))


def _repeating(window: np.ndarray, held: np.ndarray, bar: int,
               hit_sets: np.ndarray | None) -> float:
    """The share of the seed's whole bars in ``window`` (``held``: each step's bar)
    after the first that repeat an earlier one (1 with fewer than two whole bars)."""
    keys = window if hit_sets is None else np.asarray(hit_sets)[window]
    seen: list[bytes] = []
    again = 0
    for b in np.unique(held):
        steps = keys[held == b]
        if len(steps) != bar:
            continue  # a bar the window holds only part of
        key = steps.tobytes()
        again += key in seen
        seen.append(key)
    return again / (len(seen) - 1) if len(seen) > 1 else 1.0
