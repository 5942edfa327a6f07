"""Motif memory: a short-term model of the piece itself, mixed with a network.

A network trained on thousands of tunes knows what folk tunes do in general; it does
not know that *this* tune played a figure two bars ago and will likely play it again.
The memory is an online variable-order n-gram over the encoding's tokens (contexts of
up to ``max_order`` tokens, interpolated Witten-Bell smoothing, the escape method C of
PPM), fed the seed and then every token as it is generated, one table per variation:
the short-term model of Pearce's IDyOM.  Its distribution is combined with the
network's at every step of generation and of scoring (``score``):

* ``linear``: ``(1 - w) * p_net + w * p_memory``;
* ``entropy``: IDyOM's mixture, each model weighted by its relative entropy to the
  power ``-b`` (a model sure of itself counts more), arithmetic mean;
* ``geometric``: the same weights in a weighted geometric mean (renormalised);
* ``adaptive``: linear, with the memory's share looked up in a table by the longest
  context the memory has seen before, how sure the memory is of its likeliest token
  and how sure the network is (:func:`buckets`); the table is fitted on the validation
  split by expectation-maximisation.

The method and its parameters per model were chosen on the validation split
(``python -m training memory-sweep``, which writes each model card's ``memory`` section
and its record in ``models/memory/sweep.json``; ``memory_mixing.json`` beside this file
holds the mixing for a card without one); :func:`mixing_for` reads them.
Nothing here touches onnxruntime: the caller hands the network's logits in.

The contexts are the nodes of a trie built as the tune goes: the order-``n`` context
after a new token is the child of the order-``n - 1`` context before it.  The trie (a
hash table per row), the counts and each row's contexts are numpy arrays, and a step is
compiled code (:mod:`engine.generation.memory_kernels`, numba): feeding every row its
token is one call, which also works out each row's next distribution; mixing it with the
network is two calls around numpy's ``exp``, then numpy's ``log``.  The arithmetic is
the numpy code's before it, in the same order (numpy's pairwise sums, numpy's own BLAS
``dgemv`` for the counts times the weights), so the log-probabilities are the same to
the bit (``tests/engine/test_memory_kernels.py`` holds them to that code, kept as
``tests/engine/memory_reference.py``).  Compiling takes seconds once; numba keeps the
machine code on disk, and the generation service loads it in a background thread when
it starts (:func:`warm_in_background`).

The contexts know where in the beat a step falls (``Mixing.phase_period``, 4 steps: a
quarter note): the trie has one root per phase and a context descends from the root of
its first step's phase, so it predicts only what followed it at the same phase.  Blind
to the beat, a figure heard on the beat came back a sixteenth late as readily as on the
beat.  Only the phases' differences matter to a model of the piece itself: a sequence
fed in one run may start anywhere; passages fed apart (a gap's music after it, then
before it) are placed by their steps.  :meth:`Mixing.in_metre` narrows the period to
one that keeps every bar line of a song on one phase.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.generation import phrase as phrase_copy

# engine.generation.memory_kernels, the compiled steps: imported with the first memory
# made (importing numba takes a few tenths of a second, which a process that never
# generates, the window's, should not pay)
kernels = None


def _kernels():
    global kernels
    if kernels is None:
        from engine.generation import memory_kernels

        kernels = memory_kernels
    return kernels


def warm_in_background() -> threading.Thread:
    """Import and compile (or load from numba's cache) the memory's compiled steps in
    a daemon thread: the generation service starts it when it starts, so that no
    user's first generation waits for the compiler."""
    thread = threading.Thread(target=lambda: _kernels().warm(), name="memory-warm",
                              daemon=True)
    thread.start()
    return thread

DEFAULT_MAX_ORDER = 10
MAX_GENERATED = 2048  # engine.generation.generator.MAX_STEPS: the most tokens one run adds



# the adaptive mixing's buckets: how sure the memory is of its likeliest token, and the
# network's entropy (nats)
CONFIDENCE_EDGES = (0.3, 0.6, 0.9)
ENTROPY_EDGES = (0.5, 1.2)
_PER_ORDER = (len(CONFIDENCE_EDGES) + 1) * (len(ENTROPY_EDGES) + 1)
_CONFIDENCE, _ENTROPY = np.array(CONFIDENCE_EDGES), np.array(ENTROPY_EDGES)


# ndarray.sum without its Python wrapper (the same reduction)
_sum = np.add.reduce


@dataclass(frozen=True)
class Mixing:
    """How the memory's distribution joins the network's."""

    method: str = "linear"  # "linear", "entropy", "geometric" or "adaptive"
    weight: float = 0.15  # linear: the memory's share
    bias: float = 2.0  # entropy, geometric: the exponent b of IDyOM's weights
    max_order: int = DEFAULT_MAX_ORDER
    # adaptive: the memory's share per bucket (see :func:`buckets`)
    table: tuple[float, ...] = ()
    # tokens whose probability is the network's alone (the memory shares out the rest):
    # the melody's NOTE_OFF, so that rests come where the network, which knows where a
    # phrase ends, puts them, not where a memory of the last bars (rarely holding a
    # rest) would
    network_tokens: tuple[int, ...] = ()
    # generating (never scoring), the adaptive shares are raised to this power: below 1
    # the memory counts for more, so motifs come back as often as in real tunes (chosen
    # on the validation split by bench/musicality.py --generation-power)
    generation_power: float = 1.0
    # the memory's contexts know where in the beat a step falls: a context predicts only
    # what followed it at the same phase (step mod ``phase_period``); 1: they do not
    phase_period: int = 1
    # filling a gap: the boost (log of a factor) a step's twin two, four or eight bars
    # away gives its token, by how well their neighbourhoods agree, scoring and
    # generating alike (:mod:`engine.generation.phrase`); (): no twins
    phrase: tuple[float, ...] = ()

    def describe(self) -> str:
        if self.method == "linear":
            return (f"linear, memory weight {self.weight:g}, orders up to {self.max_order}"
                    + self._phases())
        if self.method == "adaptive":
            return (f"adaptive weights by longest context, memory and network confidence, "
                    f"orders up to {self.max_order}"
                    + (", rests placed by the network" if self.network_tokens else "")
                    + self._phases())
        return f"{self.method}, bias {self.bias:g}, orders up to {self.max_order}" + self._phases()

    def in_metre(self, song, steps_per_quarter: int) -> "Mixing":
        """This mixing with its phase period fitted to ``song``'s metre: the largest
        divisor of ``phase_period`` that divides every bar's length and every change of
        time signature in grid steps (a pickup bar aside), so that a figure a bar or
        any number of bars later falls on the same phase: 4 in 2/4, 3/4, 4/4 or 6/8, 2
        in 3/8, 5/8 or 7/8, 1 where a bar line is off the grid.  ``song``: anything
        with ``ppq``, ``time_signatures`` and ``pickup_ticks`` (an engine Song)."""
        if self.phase_period <= 1 or song is None:
            return self
        period, ppq = self.phase_period, song.ppq
        pickup = song.pickup_ticks
        signatures = song.time_signatures[1:] if pickup else song.time_signatures
        for ts in signatures:
            for ticks in (ts.tick - pickup, ts.ticks_per_bar(ppq)):
                steps, off_grid = divmod(ticks * steps_per_quarter, ppq)
                period = 1 if off_grid else math.gcd(period, steps)
        return self if period == self.phase_period else replace(self, phase_period=period)

    def _phases(self) -> str:
        return (f", contexts by phase in {self.phase_period} steps"
                if self.phase_period > 1 else "") + (
            ", a gap's steps drawn toward their twins 2, 4 or 8 bars away"
            if self.phrase else "")

    @staticmethod
    def buckets_for(max_order: int) -> int:
        return (max_order + 2) * _PER_ORDER


FALLBACK_MIXING = Mixing("linear", weight=0.15)
MIXING_FILE = Path(__file__).with_name("memory_mixing.json")
_mixings: dict[str, Mixing] | None = None
_overrides: dict[str, Mixing] = {}  # a study's mixings, by model name (override_mixing)


def override_mixing(name: str, mixing: Mixing | None) -> None:
    """Use ``mixing`` for the model ``name`` in this process, whatever its card says (a
    study trying another mixing); None: back to the card's."""
    if mixing is None:
        _overrides.pop(name, None)
    else:
        _overrides[name] = mixing


def _load_mixings() -> dict[str, Mixing]:
    """``memory_mixing.json``: ``"*"``, the mixing for a model whose card has none (and
    any model named there)."""
    try:
        data = json.loads(MIXING_FILE.read_text())
        out = {}
        for name, m in data["models"].items():
            mixing = Mixing(str(m["method"]), float(m.get("weight", 0.15)),
                            float(m.get("bias", 2.0)), int(m["max_order"]),
                            tuple(float(x) for x in m.get("table", ())),
                            tuple(int(x) for x in m.get("network_tokens", ())),
                            float(m.get("generation_power", 1.0)),
                            int(m.get("phase_period", 1)),
                            tuple(float(x) for x in m.get("phrase", ())))
            if mixing.method == "adaptive" and \
                    len(mixing.table) != Mixing.buckets_for(mixing.max_order) \
                    or mixing.phase_period < 1:
                continue
            out[name] = mixing
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def mixing_for(model) -> Mixing:
    """The mixing chosen on the validation split for ``model`` (a StepModel, its
    ModelCard, or a name looked up in the default model folders): its card's ``memory``
    section, which ``python -m training memory-sweep`` writes.  A card without one (or
    with a table of the wrong size) gets ``memory_mixing.json``'s ``"*"``, the mixing for
    any model; a name listed there (a study trying another mixing) comes first."""
    global _mixings
    if _mixings is None:
        _mixings = _load_mixings()
    name = model if isinstance(model, str) else model.name
    if name in _overrides:
        return _overrides[name]
    if name in _mixings:
        return _mixings[name]
    section = _memory_named(model) if isinstance(model, str) else \
        getattr(model, "info", model).memory
    mixing = Mixing(**section) if section else None
    if mixing is None or mixing.phase_period < 1 or mixing.method == "adaptive" \
            and len(mixing.table) != Mixing.buckets_for(mixing.max_order):
        return _mixings.get("*") or FALLBACK_MIXING
    return mixing


_sections: dict[str, tuple[tuple, dict | None]] = {}  # name -> (cards' signature, section)


def _memory_named(name: str) -> dict | None:
    """:func:`engine.models.library.memory_named`, read again only when a card in the
    default folders has changed (added, removed, rewritten): reading every card costs
    more than a short generation's memory, and a generation asks at every run."""
    from engine.models.library import default_folders, memory_named

    signature = _cards_signature(default_folders())
    known = _sections.get(name)
    if known is not None and known[0] == signature:
        return known[1]
    section = memory_named(name)
    _sections[name] = (signature, section)
    return section


def _cards_signature(folders) -> tuple:
    """Every ``*.json`` file's path, modification time and size in ``folders``, sorted:
    any card added, removed or rewritten changes it.  ``os.scandir`` and one ``stat`` a
    file (a third of what ``Path.glob`` and ``Path.stat`` cost, which a generation paid
    at every run)."""
    signature = []
    for folder in folders:
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.endswith(".json"):
                        stat = entry.stat()
                        signature.append((entry.path, stat.st_mtime_ns, stat.st_size))
        except OSError:
            continue
    signature.sort()
    return tuple(signature)


class MotifMemory:
    """One online n-gram per row (variation), all rows fed the same prefix first.

    ``table[row, node]`` holds a context's count of every token, then its total, its
    total plus how many distinct tokens followed it (Witten-Bell's ``T``: the escape's
    denominator) and ``T`` itself, in one array so that a step gathers everything it
    needs in one row.  Counts are integers of ``dtype``: a generation feeds at most
    1,024 + 2,048 tokens, so 16 bits do (a quarter of the memory of floats: 8 variations
    of the longest generation take about 30 MB).

    The contexts are the nodes of a trie per row, kept as a hash table from ``parent *
    vocab + token`` to the child (``_trie``); each row's contexts of every
    order before the next token (``_ctx``, 0: none), how many of them the walk may
    extend (``_depth``), the row's number of nodes (``_size``) and how many orders have
    been seen (``_seen``) are arrays too, and a step is one compiled call for every row
    (:mod:`engine.generation.memory_kernels`): the counts of a step are added at once.
    """

    # kept for callers that set it (a drum memory); every way of working out the weights
    # is one compiled loop now
    rows_in_python = 4

    def __init__(self, vocab: int, rows: int = 1, max_order: int = DEFAULT_MAX_ORDER,
                 capacity: int = 512, dtype=np.uint32, period: int = 1,
                 step: int = 0) -> None:
        if max_order < 0:
            raise ValueError("max_order must be 0 or more")
        if period < 1:
            raise ValueError("the phase period must be 1 or more")
        _kernels()
        self.vocab = vocab
        self.rows = rows
        self.max_order = max_order
        self.period = int(period)
        self.step = int(step)  # the step of the next token (its phase: step % period)
        n = max_order + 1
        self._width = vocab + 3  # counts, total, total + types, types
        # node 0: "no such context" (always empty), nodes 1..period: the empty context at
        # each phase, the roots of the contexts that start there; every token adds at
        # most max_order nodes, and growing costs a copy of the table
        self._cap = max(64, int(capacity), 2 + self.period + n)
        self._table = np.zeros((rows, self._cap, self._width), dtype=dtype)
        self._bits = 6
        self._trie = np.full((rows, 1 << self._bits, 2), kernels.EMPTY, dtype=np.int64)
        self._ctx = np.zeros((rows, n), dtype=np.int64)
        self._depth = np.ones(rows, dtype=np.int64)
        self._size = np.full(rows, 1 + self.period, dtype=np.int64)
        self._seen = np.zeros(rows, dtype=np.int64)
        # each row's distribution of the next token, worked out by update() while its
        # contexts' counts are in the cache (valid while _next_ok)
        self._next = np.empty((rows, vocab))
        self._next_ok = False
        self._room(int(self._size[0]))
        self.break_context()

    def _set_limit(self) -> None:
        """The most nodes a row may hold before the next step grows the table or the
        hash tables (a step adds at most ``max_order``; a hash table stays half empty)."""
        self._limit = min(self._cap, (1 << self._bits) // 2) - self.max_order - 1

    @property
    def table(self) -> np.ndarray:
        """``[rows, nodes, vocab + 3]``: every context's counts (see the class), a
        copy in that order (kept with the totals first, ``kernels.STATS``)."""
        used = self._table[:, :int(self._size.max())]
        return np.concatenate((used[..., kernels.STATS:], used[..., :kernels.STATS]), axis=-1)

    @property
    def ctx(self) -> np.ndarray:
        """``[rows, max_order + 1]``: each row's context node of every order before the
        next token (0: none)."""
        return self._ctx.copy()

    @property
    def seen(self) -> np.ndarray:
        """How many orders of each row's contexts have been seen before the next token
        (counted): its longest's order plus one."""
        return self._seen.astype(np.intp)

    @property
    def longest(self) -> np.ndarray:
        """The order of each row's longest context seen before the next token (-1:
        none)."""
        return self.seen - 1

    @property
    def sizes(self) -> list[int]:
        """Each row's number of trie nodes (the roots and node 0 among them)."""
        return self._size.tolist()

    def children(self, row: int) -> dict[int, int]:
        """Row ``row``'s trie: ``parent * vocab + token`` -> the child's node."""
        slots = self._trie[row][self._trie[row, :, 0] != kernels.EMPTY]
        return dict(zip(slots[:, 0].tolist(), slots[:, 1].tolist()))

    def _root(self, step: int) -> int:
        """The empty context of ``step``'s phase."""
        return 1 + step % self.period

    def _flush(self) -> None:
        """Nothing: a step's counts are added as it is fed (kept for subclasses that
        called it when counts waited)."""

    # ---- growing -------------------------------------------------------------------
    def _room(self, nodes: int) -> None:
        """Room for ``nodes`` nodes a row, in the counts and the hash tables."""
        if nodes + self.max_order + 1 > self._cap:
            cap = self._cap
            while cap < nodes + self.max_order + 1:
                cap *= 2
            table = np.zeros((self.rows, cap, self._width), dtype=self._table.dtype)
            used = int(self._size.max())
            table[:, :used] = self._table[:, :used]
            self._table, self._cap = table, cap
        bits = self._bits
        while (1 << bits) < 2 * (nodes + self.max_order + 1):
            bits += 1
        if bits != self._bits:
            self._trie = kernels.rehash(self._trie, bits)
            self._bits = bits
        self._set_limit()

    # ---- feeding -------------------------------------------------------------------
    def update(self, tokens: Sequence[int] | np.ndarray) -> None:
        """One new token per row: count it in every context it followed, then move on."""
        tokens = np.array(tokens, dtype=np.int64, order="C").reshape(self.rows)
        self.step += 1
        largest = kernels.update_rows(self._table, self._trie, self._ctx, self._depth,
                                      self._size, self._seen, tokens,
                                      1 + self.step % self.period, self.vocab, self._bits,
                                      kernels._ADDRESS, kernels._WIDE, kernels.COMPACT,
                                      self._next)
        self._next_ok = True
        if largest >= self._limit:
            self._room(largest)

    def feed(self, tokens: Sequence[int]) -> None:
        """The same tokens for every row (the seed), one after another: in one compiled
        call per stretch that fits the room there is (growing between them)."""
        tokens = np.array(tokens, dtype=np.int64, order="C").reshape(-1)
        done, n = 0, len(tokens)
        self._next_ok = self._next_ok and not n
        while done < n:
            largest = int(self._size.max())
            if largest >= self._limit:
                self._room(largest)
            k = min(n - done, max(1, (self._limit - largest) // max(1, self.max_order)))
            roots = 1 + np.arange(self.step + 1, self.step + k + 1, dtype=np.int64) \
                % self.period
            kernels.feed_rows(self._table, self._trie, self._ctx, self._depth, self._size,
                              self._seen, tokens[done:done + k], roots, self.vocab,
                              self._bits)
            self.step += k
            done += k
        largest = int(self._size.max())
        if largest >= self._limit:
            self._room(largest)

    def _copy_rows_from(self, one: "MotifMemory") -> None:
        """Every row ``one``'s single row (counts, trie, contexts, step): the rows have
        not diverged, so the contexts in use are copied; ``one`` is left as it was."""
        used = int(one._size[0])
        rows = self.rows
        if used + self.max_order + 1 > self._cap:
            self._cap = used + self.max_order + 1
            self._table = np.zeros((rows, self._cap, self._width), dtype=self._table.dtype)
        self._table[:, :used] = one._table[0, :used]
        self._trie = np.repeat(one._trie, rows, axis=0)
        self._bits = one._bits
        self._size = np.repeat(one._size, rows)
        self._ctx = np.repeat(one._ctx, rows, axis=0)
        self._depth = np.repeat(one._depth, rows)
        self._seen = np.repeat(one._seen, rows)
        self._next = np.empty((rows, self.vocab))
        self._next_ok = False
        self.step = one.step
        self._room(used)

    def seeded_copy(self, rows: int, capacity: int) -> "MotifMemory":
        """A new memory of ``rows`` rows, each with this single row's counts and
        contexts (room for ``capacity`` nodes): what feeding it the same tokens would
        make, bit for bit, for the cost of a copy; this one is left as it was."""
        copy = MotifMemory.__new__(MotifMemory)
        copy.vocab, copy.rows, copy.max_order = self.vocab, rows, self.max_order
        copy.period, copy.step, copy._width = self.period, self.step, self._width
        copy._cap = max(int(capacity), int(self._size[0]) + self.max_order + 1, 64)
        copy._table = np.zeros((rows, copy._cap, self._width), dtype=self._table.dtype)
        copy._copy_rows_from(self)
        return copy

    def repeat_rows(self, times: int) -> None:
        """Make every row ``times`` rows, side by side, each with the row's counts."""
        used = int(self._size.max())
        table = np.zeros((self.rows * times, self._cap, self._width), dtype=self._table.dtype)
        table[:, :used] = np.repeat(self._table[:, :used], times, axis=0)
        self._table = table
        self.rows *= times
        for name in ("_trie", "_ctx", "_depth", "_size", "_seen", "_next"):
            setattr(self, name, np.repeat(getattr(self, name), times, axis=0))

    def break_context(self, step: int | None = None) -> None:
        """End a passage: the next token follows no context but the empty one (a
        filled gap's memory hears the music after the gap, then the music before it,
        without joining the two into an n-gram that never sounded); ``step``: where the
        next token is (its phase), when not right after the last."""
        if step is not None:
            self.step = int(step)
        root = self._root(self.step)
        self._ctx[:] = 0
        self._ctx[:, 0] = root
        self._depth[:] = 1
        self._seen[:] = self._table[np.arange(self.rows), root, 0] != 0
        self._next_ok = False

    # ---- predicting ----------------------------------------------------------------
    def distribution(self) -> np.ndarray:
        """``[rows, vocab]``: each row's probabilities of the next token (``self.seen``
        says how many orders have been seen before: the longest's plus one).

        Interpolated Witten-Bell from order 0 up: p_n = lam_n * c_n / total_n + (1 -
        lam_n) p_(n-1), so the weight of order n's counts is lam_n over its total times
        every higher order's escape (1 - lam), and each row's share of the uniform
        distribution below order 0 every escape's product over the vocabulary."""
        if self._next_ok:
            return self._next.copy()
        out = np.empty((self.rows, self.vocab))
        kernels.distribution_rows(self._table, self._ctx, self._seen, self.vocab,
                                  kernels._ADDRESS, kernels._WIDE, kernels.COMPACT,
                                  out)
        return out

    def nbytes(self) -> int:
        """The bytes its nodes' counts and its tries take."""
        used = int(self._size.max())
        return self.rows * used * self._width * self._table.itemsize + self._trie.nbytes


# ---------------------------------------------------------------------------------------
# mixing with a network
# ---------------------------------------------------------------------------------------


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _relative_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy / log(vocab) per row, kept away from 0."""
    h = -(p * np.log(np.maximum(p, 1e-300))).sum(axis=-1)
    return np.maximum(h / np.log(p.shape[-1]), 1e-6)


def buckets(p_net: np.ndarray, p_mem: np.ndarray, longest: np.ndarray,
            max_order: int) -> np.ndarray:
    """The adaptive mixing's bucket of each row: the longest context the memory has
    seen (-1 .. max_order), how sure the memory is, how sure the network is."""
    confidence = np.digitize(p_mem.max(axis=-1), CONFIDENCE_EDGES)
    entropy = -(p_net * np.log(np.maximum(p_net, 1e-300))).sum(axis=-1)
    sure = np.digitize(entropy, ENTROPY_EDGES)
    order = np.clip(longest, -1, max_order) + 1
    return (order * (len(CONFIDENCE_EDGES) + 1) + confidence) * (len(ENTROPY_EDGES) + 1) + sure


def hand_over(p_net: np.ndarray, p_mem: np.ndarray, tokens: Sequence[int]) -> np.ndarray:
    """The memory's distribution with ``tokens`` given the network's probabilities and
    the rest of the mass shared as the memory shares it among the other tokens."""
    tokens = list(tokens)
    out = np.array(p_mem, dtype=np.float64)
    out[..., tokens] = 0.0
    out *= ((1.0 - p_net[..., tokens].sum(axis=-1)) / out.sum(axis=-1))[..., None]
    out[..., tokens] = p_net[..., tokens]
    return out


def mix(p_net: np.ndarray, p_mem: np.ndarray, mixing: Mixing,
        longest: np.ndarray | None = None) -> np.ndarray:
    """The combined probabilities ``[..., vocab]`` of a network's and the memory's
    (``longest``: the memory's longest seen context per row, for ``adaptive``)."""
    if mixing.network_tokens:
        p_mem = hand_over(p_net, p_mem, mixing.network_tokens)
    if mixing.method == "linear":
        return (1.0 - mixing.weight) * p_net + mixing.weight * p_mem
    if mixing.method == "adaptive":
        w = np.asarray(mixing.table)[buckets(p_net, p_mem, longest, mixing.max_order)]
        return (1.0 - w)[..., None] * p_net + w[..., None] * p_mem
    w_net = _relative_entropy(p_net) ** -mixing.bias
    w_mem = _relative_entropy(p_mem) ** -mixing.bias
    total = w_net + w_mem
    a, b = (w_net / total)[..., None], (w_mem / total)[..., None]
    if mixing.method == "entropy":
        return a * p_net + b * p_mem
    if mixing.method == "geometric":
        log_p = a * np.log(np.maximum(p_net, 1e-300)) + b * np.log(np.maximum(p_mem, 1e-300))
        log_p -= log_p.max(axis=-1, keepdims=True)
        p = np.exp(log_p)
        return p / p.sum(axis=-1, keepdims=True)
    raise ValueError(f"unknown mixing method {mixing.method!r}")


# what a mixer is built from, kept between generations (a generation asked again, or
# with other settings, on the same seed): the mixing's shares ready to look up, and the
# memory fed the seed (and the music a fill heard), which each new mixer copies
_PREPARED: dict[Mixing, tuple] = {}
_SEEDED: dict[tuple, "MotifMemory"] = {}
_SEEDED_LOCK = threading.Lock()
SEEDED_KEPT = 4  # seeded memories kept (the latest used)
SEEDED_MAX_BYTES = 4 << 20  # a memory whose counts take more is not kept (a long drum seed's)


def _prepared(mixing: Mixing) -> tuple:
    """``mixing`` with its adaptive shares raised to the generation power (the power
    then 1), the table as an array, by [seen orders, memory confidence, network
    entropy], and that as nested lists (None, None, None for a mixing without one)."""
    ready = _PREPARED.get(mixing)
    if ready is None:
        if len(_PREPARED) > 64:
            _PREPARED.clear()
        given = mixing
        if mixing.method == "adaptive" and mixing.generation_power != 1.0:
            table = tuple(float(w) ** mixing.generation_power for w in mixing.table)
            mixing = replace(mixing, table=table, generation_power=1.0)
        table = shares = share_rows = None
        if mixing.method == "adaptive":
            table = np.asarray(mixing.table)
            shares = table.reshape(mixing.max_order + 2, len(CONFIDENCE_EDGES) + 1,
                                   len(ENTROPY_EDGES) + 1)
            share_rows = shares.tolist()
        ready = _PREPARED[given] = (mixing, table, shares, share_rows)
    return ready


def _seeded(vocab: int, mixing: Mixing, dtype, first: int, heard_start: int | None,
            heard: Sequence[int], prefix: Sequence[int], capacity: int) -> "MotifMemory":
    """A one-row memory fed ``heard`` (from step ``heard_start``, a passage of its own)
    and then ``prefix`` (from step ``first``), never to be changed: the latest few are
    kept, so a generation on a seed fed before copies it (:meth:`MotifMemory.seeded_copy`)
    instead of walking every token of the seed again."""
    heard, prefix = [int(t) for t in heard], [int(t) for t in prefix]
    key = (vocab, mixing.max_order, mixing.phase_period, np.dtype(dtype).str, first,
           heard_start, tuple(heard), tuple(prefix))
    with _SEEDED_LOCK:
        memory = _SEEDED.pop(key, None)
    if memory is None:
        memory = MotifMemory(vocab, 1, mixing.max_order, capacity, dtype,
                             mixing.phase_period, first)
        if heard:
            memory.break_context(heard_start)
            memory.feed(heard)
            memory.break_context(first)
        memory.feed(prefix)
        if memory.nbytes() > SEEDED_MAX_BYTES:
            return memory
    with _SEEDED_LOCK:
        _SEEDED[key] = memory  # the latest last
        while len(_SEEDED) > SEEDED_KEPT:
            del _SEEDED[next(iter(_SEEDED))]
    return memory


#: the repeat control's position -> the memory's share (:class:`MemoryMixer`'s ``share``)
REPEAT_SHARES = {-2: 0.0, -1: 0.6, 0: 1.0, 1: 1.1, 2: 2.0}


class MemoryMixer:
    """What the generator holds: the memory of each variation and the mixing; turns a
    step's network logits into the mixed log-probabilities the sampler draws from."""

    # the network's entropy (which only picks a bucket) is worked out with the C
    # library's log, and as mix() works it out (numpy's log) within 1e-9 of a bucket's
    # edge; False: always as mix() does (the reference the tests hold the cheap way to)
    cheap_entropy = True

    def __init__(self, vocab: int, rows: int, prefix: Sequence[int], mixing: Mixing,
                 heard: Sequence[int] = (), steps: int = 512, start_step: int | None = None,
                 heard_step: int | None = None, share: float = 1.0,
                 bar_steps: int | None = None) -> None:
        """``prefix``: what the generated tokens follow; ``heard``: other music of the
        piece the memory learns from first (a gap's music after it), not joined to it;
        ``steps``: about how many tokens will be generated (room made for them).
        ``start_step``: the grid step of the first generated token and ``heard_step``
        the step of ``heard``'s first, so that the memory knows where each token falls
        in the beat (the mixing's ``phase_period``); only their difference and the
        steps' phases matter.  By default the prefix starts on step 0 and the heard
        music ends where the prefix starts.  ``share`` scales how far the memory moves
        the network's log-probabilities (the repeat control, :data:`REPEAT_SHARES`): 1
        as the mixing says, 0 the network alone, above 1 further the memory's way.
        ``bar_steps``: a bar's length in grid steps where the tokens fill a gap, for the
        mixing's phrase copy (:mod:`engine.generation.phrase`; None: none)."""
        mixing, self._table, self._shares, self._share_rows = _prepared(mixing)
        self.mixing = mixing
        # room for what is fed and the new tokens without growing
        fed = len(prefix) + len(heard)
        capacity = 1 + mixing.phase_period + (fed + steps) * max(1, mixing.max_order)
        dtype = np.uint16 if fed + MAX_GENERATED < 65536 else np.uint32
        start = len(prefix) if start_step is None else int(start_step)
        first = start - len(prefix)  # the prefix's first step
        heard_start = None if not len(heard) else \
            first - len(heard) if heard_step is None else int(heard_step)
        self.memory = _seeded(vocab, mixing, dtype, first, heard_start, heard, prefix,
                              capacity).seeded_copy(rows, capacity)
        self._hand = np.array(mixing.network_tokens, dtype=np.int64)
        if self._table is not None:
            self._flat_shares = np.ascontiguousarray(self._table, dtype=np.float64)
            self._scratch = np.empty(max(vocab, len(self._hand)))
        self.share = float(share)
        self._work: tuple[np.ndarray, ...] | None = None
        self.phrase = None
        if bar_steps and len(mixing.phrase) == phrase_copy.BOOSTS:
            self.phrase = phrase_copy.PhraseCopy(
                rows, prefix, start, heard, first if heard_start is None else heard_start,
                steps, int(bar_steps), mixing.phrase)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """``[rows, vocab]``: the mixed distribution after the network's ``logits``."""
        p = self._memory_mixed(logits)
        return p if self.phrase is None else self.phrase.mix(p, self.share)

    def _memory_mixed(self, logits: np.ndarray) -> np.ndarray:
        """The network and the memory's contexts mixed (the phrase copy not yet)."""
        return mix(softmax(logits), self.memory.distribution(), self.mixing,
                   self.memory.longest)

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        """The mixed log-probabilities, which the sampler takes as logits (for the
        adaptive mixing, :func:`mix` in fewer numpy calls: a step is a few rows)."""
        log_p = self._shared(logits) if self.share != 1.0 else self._mixed(logits)
        if self.phrase is None or self.share == 0.0:
            return log_p
        return self.phrase.mix_log(log_p, self.share)  # log_p is this call's own array

    def _shared(self, logits: np.ndarray) -> np.ndarray:
        """The network's log-probabilities moved ``share`` times as far as the mixing
        moves them (geometrically: every token's ratio of mixed to network probability
        raised to ``share``; renormalised, and no token's probability falls to 0).  At a
        share of 0 the memory moves nothing (0 times a finite number), so it is not asked,
        nor fed (:meth:`update`)."""
        z = np.array(logits, dtype=np.float64)
        z -= z.max(axis=1, keepdims=True)
        log_net = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        if self.share == 0.0:
            log_p = log_net + 0.0
        else:
            log_p = log_net + self.share * (self._mixed(logits) - log_net)
        log_p -= log_p.max(axis=1, keepdims=True)
        return log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))

    def _mixed(self, logits: np.ndarray) -> np.ndarray:
        """:func:`mix` for the adaptive mixing, every row in two compiled calls
        (:mod:`engine.generation.memory_kernels`) around numpy's ``exp``, then numpy's
        ``log``: the same operations on the same numbers as :func:`mix`'s numpy."""
        if self._table is None:
            return np.log(np.maximum(self._memory_mixed(logits), 1e-300))
        memory = self.memory
        # the working arrays, kept from step to step (the result, p_mem, is new each time)
        shape = np.shape(logits)
        if self._work is None or self._work[0].shape != shape:
            self._work = (np.empty(shape), np.empty(shape), np.empty(shape[0]),
                          np.empty((2, shape[0])))
        z, p_net, entropies, sums = self._work
        if not (type(logits) is np.ndarray and logits.dtype in _READ_AS_IS
                and logits.flags.c_contiguous):
            np.copyto(z, logits)  # float64, C-ordered: the compiled steps' layout
            logits = z
        p_mem = np.empty_like(z)
        kernels.prepare_step(memory._table, memory._ctx, memory._seen, memory.vocab,
                             kernels._ADDRESS, kernels._WIDE, kernels.COMPACT,
                             memory._next_ok, memory._next, logits, z, p_mem)
        np.exp(z, out=p_net)
        if kernels.mix_step(p_net, z, p_mem, memory._seen, self._hand, self._flat_shares,
                            _CONFIDENCE, _ENTROPY, entropies, sums, not self.cheap_entropy,
                            False, self._scratch):
            # within 1e-9 of a bucket's edge (or NaN): the entropy as mix() works it out
            np.subtract(np.log(sums[0]), sums[1], out=entropies)
            kernels.mix_step(p_net, z, p_mem, memory._seen, self._hand, self._flat_shares,
                             _CONFIDENCE, _ENTROPY, entropies, sums, False, True,
                             self._scratch)
        return np.log(p_mem, out=p_mem)

    def update(self, tokens: np.ndarray) -> None:
        if self.share != 0.0:
            self.memory.update(tokens)
        if self.phrase is not None:
            self.phrase.update(tokens)

    def repeat_rows(self, times: int) -> None:
        self.memory.repeat_rows(times)
        if self.phrase is not None:
            self.phrase.repeat_rows(times)


#: the logits the compiled mixing step reads as they are (C-ordered; others are copied
#: into a float64 array first, as the warm-up compiled it for these two)
_READ_AS_IS = (np.dtype(np.float32), np.dtype(np.float64))


def memory_distributions(tokens: Sequence[int], vocab: int,
                         max_order: int = DEFAULT_MAX_ORDER,
                         period: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``[len(tokens), vocab]``: row t is the memory's p(token t | tokens before t);
    and ``[len(tokens)]``: the longest context seen before at t.  ``period``: the
    mixing's ``phase_period`` (token 0 on phase 0: only the phases' differences
    matter)."""
    memory = MotifMemory(vocab, 1, max_order, period=period)
    out = np.empty((len(tokens), vocab))
    longest = np.empty(len(tokens), dtype=np.int64)
    for t, tok in enumerate(tokens):
        out[t] = memory.distribution()[0]
        longest[t] = memory.longest[0]
        memory.update([tok])
    return out, longest


def score_tokens_with_memory(model, tokens: Sequence[int],
                             mixing: Mixing | None = None) -> tuple[float, int, int]:
    """:meth:`StepModel.score_tokens` with the motif memory mixed in: (bits, tokens
    scored, notes among them), every token after the first."""
    tokens = np.asarray(tokens, dtype=np.int32)
    if tokens.ndim != 1 or len(tokens) < 2:
        return 0.0, 0, 0
    mixing = mixing or mixing_for(model.name)
    logits = model.sequence_logits(tokens[None, :-1])[0]
    p_mem, longest = memory_distributions(tokens.tolist(), logits.shape[-1], mixing.max_order,
                                          mixing.phase_period)
    p = mix(softmax(logits), p_mem[1:], mixing, longest[1:])
    targets = tokens[1:]
    bits = -np.log2(np.maximum(p[np.arange(len(targets)), targets], 1e-300)).sum()
    return float(bits), len(targets), model.info.encoding.count_onsets(targets)
