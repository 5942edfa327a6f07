"""The motif memory as numpy computed it before its steps were compiled (engine/generation/memory.py
at commit 65aac26), kept for the tests alone: tests/engine/test_memory_kernels.py holds the
compiled memory to it, bit for bit.  Not imported by the engine."""
# flake8: noqa

from __future__ import annotations

import json
import math
import os
import threading
from bisect import bisect_right
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

DEFAULT_MAX_ORDER = 10
MAX_GENERATED = 2048  # engine.generation.generator.MAX_STEPS: the most tokens one run adds
CLEAR_BLOCK = 512  # nodes made 0 at a time (MotifMemory._clear_to)


# the adaptive mixing's buckets: how sure the memory is of its likeliest token, and the
# network's entropy (nats)
CONFIDENCE_EDGES = (0.3, 0.6, 0.9)
ENTROPY_EDGES = (0.5, 1.2)
_PER_ORDER = (len(CONFIDENCE_EDGES) + 1) * (len(ENTROPY_EDGES) + 1)
_CONFIDENCE, _ENTROPY = np.array(CONFIDENCE_EDGES), np.array(ENTROPY_EDGES)
_ENTROPY_LOW, _ENTROPY_HIGH = ENTROPY_EDGES


def _clear_of_edges(entropy: Sequence[float]) -> bool:
    """Whether every entropy, summed the cheap way, is more than 1e-9 from each bucket
    edge, so that summed as :func:`mix` sums it (an error below 1e-12) it falls in the
    same bucket; False for NaN."""
    for h in entropy:
        if not (abs(h - _ENTROPY_LOW) > 1e-9 and abs(h - _ENTROPY_HIGH) > 1e-9):
            return False
    return True


# ndarray.sum and .max without their Python wrappers (the same reductions)
_sum, _max = np.add.reduce, np.maximum.reduce


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
        return f", contexts by phase in {self.phase_period} steps" if self.phase_period > 1 else ""

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
                            int(m.get("phase_period", 1)))
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


def _walk(children: dict[int, int], ctx: list[int], depth: int, token: int, root: int,
          vocab: int, size: int) -> tuple[list[int], int, int, int]:
    """The contexts after ``token`` (``root``: the empty context of the next step's
    phase), creating the trie nodes it lacks, numbered from ``size``; returns them, how
    many of them there are (the rest are 0), the trie's new size and how many of them
    were there before (the root and the nodes found).  ``ctx``: the context of every
    order before ``token``, its first ``depth`` nonzero.

    A context's node is its parent's (one token shorter, from the same first step) child:
    every context descends from the root of its first step's phase, so the phase of the
    step it predicts is known from its length.  Once a context is new, so is every longer
    one (a context was walked with every shorter one), so the walk looks nodes up only
    until its first miss and numbers the rest in one go."""
    last = len(ctx) - 1  # the top order's context has no child in the walk
    parents = depth if depth < last else last
    new = [root]
    get = children.get
    for parent in ctx[:parents]:
        node = get(parent * vocab + token)
        if node is None:
            break
        new.append(node)
    k = len(new) - 1
    if k < parents:
        end = size + parents - k
        children.update(zip([p * vocab + token for p in ctx[k:parents]], range(size, end)))
        new += range(size, end)
        size = end
    if parents < last:
        new += [0] * (last - parents)
    return new, parents + 1, size, k + 1


class MotifMemory:
    """One online n-gram per row (variation), all rows fed the same prefix first.

    ``table[row, node]`` holds a context's count of every token, then its total, its
    total plus how many distinct tokens followed it (Witten-Bell's ``T``: the escape's
    denominator) and ``T`` itself, in one array so that a step gathers everything it
    needs in one indexing.  Counts are integers of ``dtype``: a generation feeds at most
    1,024 + 2,048 tokens, so 16 bits do (a quarter of the memory of floats: 8
    variations of the longest generation take about 30 MB; and a step gathers a quarter
    of the bytes).

    A step costs a few numpy calls for every row together and one short walk of the
    trie per row in Python (:func:`_walk`): numpy's fixed cost per call, not the
    arithmetic, is most of it.  So the counts of a step wait, and are added for up to a
    phase period of steps in one go: a context is at one phase, so those steps'
    contexts are none of the next step's, whose counts are therefore complete.
    """

    # up to this many rows (and always for one), the weights are worked out row by row
    # in Python floats (_weights_by_row), above it in numpy for every row at once
    # (_weights)
    rows_in_python = 4

    def __init__(self, vocab: int, rows: int = 1, max_order: int = DEFAULT_MAX_ORDER,
                 capacity: int = 512, dtype=np.uint32, period: int = 1,
                 step: int = 0) -> None:
        if max_order < 0:
            raise ValueError("max_order must be 0 or more")
        if period < 1:
            raise ValueError("the phase period must be 1 or more")
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
        # steps not yet counted: each row's contexts (nodes) and token
        self._pending: list[tuple[list[list[int]], list[int]]] = []
        self._set_table(np.empty((rows, self._cap, self._width), dtype=dtype), 0)
        self._clear_to(2 + self.period)
        self._children: list[dict[int, int]] = [dict() for _ in range(rows)]
        self._size = [1 + self.period] * rows
        self.break_context()

    @property
    def table(self) -> np.ndarray:
        """``[rows, nodes, vocab + 3]``: every context's counts (see the class)."""
        self._flush()
        return self._table[:, :self._cleared]

    @property
    def ctx(self) -> np.ndarray:
        """``[rows, max_order + 1]``: each row's context node of every order before the
        next token (0: none)."""
        return np.array(self._ctx, dtype=np.int64)

    @property
    def seen(self) -> np.ndarray:
        """How many orders of each row's contexts have been seen before the next token
        (counted): its longest's order plus one."""
        return np.array(self._seen_rows, dtype=np.intp)

    @property
    def longest(self) -> np.ndarray:
        """The order of each row's longest context seen before the next token (-1:
        none)."""
        return self.seen - 1

    def _root(self, step: int) -> int:
        """The empty context of ``step``'s phase."""
        return 1 + step % self.period

    def _set_table(self, table: np.ndarray, cleared: int) -> None:
        """The counts (``cleared``: how many nodes' rows are set, every row's; the rest
        are made 0 as the trie reaches them, :meth:`_clear_to`), and the flat views a
        step indexes."""
        self._table, self._cleared = table, cleared
        self.rows, self._cap = table.shape[0], table.shape[1]
        self._offsets = np.arange(self.rows)[:, None] * self._cap
        self._flat = table.reshape(-1)
        self._nodes = table.reshape(-1, self._width)
        # distribution()'s products of the higher orders' escapes (the top order's: 1)
        self._above = np.ones((self.rows, self.max_order + 1))
        # _flush()'s columns of a context's row, the token's count's aside
        v = self.vocab
        self._columns = np.array([0, v, v + 1, v + 2]).reshape(4, 1, 1, 1)

    def _set_contexts(self, seen: list[int]) -> None:
        """How many orders of each row's contexts have been seen (``seen``); the
        contexts' rows of the flat table are made when a step asks (:meth:`_at_rows`)."""
        self._at = None
        self._seen_rows = seen

    def _at_rows(self) -> np.ndarray:
        """``[rows, max_order + 1]``: each row's contexts' rows of the flat table."""
        at = self._at
        if at is None:
            at = np.array(self._ctx, dtype=np.intp)
            if self.rows > 1:
                at += self._offsets
            self._at = at
        return at

    def _seen(self, r: int, found: int) -> int:
        """How many of row ``r``'s contexts have been seen before (counted): of the
        ``found`` that were there before the last token, the lowest orders, as a
        context's total is at most its shorter one's (it was counted with it)."""
        base, total = r * self._cap, self.vocab  # a node's row, its total's column
        nodes, flat, width = self._ctx[r], self._flat, self._width
        while found and not flat[(base + nodes[found - 1]) * width + total]:
            found -= 1
        return found

    # ---- growing -------------------------------------------------------------------
    def _grow(self, need: int) -> None:
        cap = self._cap
        while cap < need:
            cap *= 2
        if cap == self._cap:
            return
        self._flush()
        table = np.empty((self.rows, cap, self._width), dtype=self._table.dtype)
        table[:, :self._cleared] = self._table[:, :self._cleared]
        self._set_table(table, self._cleared)
        self._set_contexts(self._seen_rows)

    def _clear_to(self, nodes: int) -> None:
        """Every row's first ``nodes`` nodes at 0 counts, or counted: the table is
        made 0 a block at a time as the trie reaches it, not all at once (a table made
        with room for the longest generation would cost its every byte in each)."""
        if nodes > self._cleared:
            end = min(self._cap, max(nodes, self._cleared + CLEAR_BLOCK))
            self._table[:, self._cleared:end] = 0
            self._cleared = end

    # ---- feeding -------------------------------------------------------------------
    def update(self, tokens: Sequence[int] | np.ndarray) -> None:
        """One new token per row: count it in every context it followed, then move on."""
        if self.rows == 1:
            self._update_one(int(tokens[0]) if type(tokens) is np.ndarray
                             and tokens.shape == (1,) else int(np.asarray(tokens).reshape(1)[0]))
            return
        if type(tokens) is np.ndarray and tokens.shape == (self.rows,):
            tokens = tokens.tolist()
        else:
            tokens = np.asarray(tokens).reshape(self.rows).tolist()
        # the contexts the tokens followed (each row's list is never changed in place)
        self._pending.append((self._ctx[:], tokens))
        if len(self._pending) >= self.period:
            self._flush()
        self.step += 1
        root, vocab = self._root(self.step), self.vocab
        ctx, depth, size, children = self._ctx, self._depth, self._size, self._children
        found = []
        for r, tok in enumerate(tokens):
            ctx[r], depth[r], size[r], f = _walk(children[r], ctx[r], depth[r], int(tok), root,
                                                 vocab, size[r])
            found.append(f)
        if max(size) >= self._cap:
            self._grow(max(size) + 1)
        self._clear_to(max(size))
        self._set_contexts([self._seen(r, f) for r, f in enumerate(found)])

    def _update_one(self, token: int) -> None:
        """:meth:`update` for a single row, without the loops over rows."""
        ctx = self._ctx
        self._pending.append((ctx[:], [token]))
        if len(self._pending) >= self.period:
            self._flush()
        self.step += 1
        ctx[0], self._depth[0], size, found = _walk(
            self._children[0], ctx[0], self._depth[0], token, 1 + self.step % self.period,
            self.vocab, self._size[0])
        self._size[0] = size
        if size >= self._cap:
            self._grow(size + 1)
        self._clear_to(size)
        self._at = None
        self._seen_rows = [self._seen(0, found)]

    def _flush(self) -> None:
        """Count the steps' tokens that wait (:meth:`update`): in each context it
        followed, the token's count, the total, the total plus types, and the types
        where the token is new there, all in one indexing."""
        pending = self._pending
        if not pending:
            return
        if len(pending) == 1:
            at = np.array(pending[0][0], dtype=np.intp)
            tokens = np.array(pending[0][1], dtype=np.intp)
        else:  # [steps, rows, orders]
            at = np.array([a for a, _ in pending], dtype=np.intp)
            tokens = np.array([t for _, t in pending], dtype=np.intp)
        pending.clear()
        if self.rows > 1:
            at += self._offsets
        # [the token's count, the total, the total plus types, the types] x contexts
        cells = (at * self._width)[None] + self._columns
        cells[0] += tokens[..., None]
        counts = self._flat[cells]
        fresh = counts[0] == 0
        counts[:3] += 1
        counts[2:] += fresh
        self._flat[cells] = counts
        # node 0 ("no such context") took the counts of missing orders
        self._table[:, 0] = 0

    def feed(self, tokens: Sequence[int]) -> None:
        """The same tokens for every row (the seed): fed once, then copied."""
        if not len(tokens):
            return
        self._flush()
        if self.rows == 1:
            self._feed_one([int(t) for t in tokens])
            return
        one = MotifMemory(self.vocab, 1, self.max_order, self._cap, self._table.dtype,
                          self.period, self.step)
        used = self._size[0]
        one._clear_to(used)
        one._table[0, :used] = self._table[0, :used]
        one._children, one._size = [dict(self._children[0])], [used]
        one._ctx, one._depth = [list(self._ctx[0])], [self._depth[0]]
        one.feed(tokens)
        self._grow(one._cap)
        self._copy_rows_from(one)

    def _copy_rows_from(self, one: "MotifMemory") -> None:
        """Every row ``one``'s single row (counts, trie, contexts, step): the rows have
        not diverged, so the contexts in use are copied; ``one`` is left as it was."""
        one._flush()
        used = one._size[0]
        self._flush()
        self._grow(used + 1)
        self._clear_to(used)
        self._table[:, :used] = one._table[0, :used]
        self._children = [dict(one._children[0]) for _ in range(self.rows)]
        self._size = [used] * self.rows
        self._ctx = [list(one._ctx[0]) for _ in range(self.rows)]
        self._depth = [one._depth[0]] * self.rows
        self.step = one.step
        self._set_contexts(one._seen_rows * self.rows)

    def seeded_copy(self, rows: int, capacity: int) -> "MotifMemory":
        """A new memory of ``rows`` rows, each with this single row's counts and
        contexts (room for ``capacity`` nodes): what feeding it the same tokens would
        make, bit for bit, for the cost of a copy; this one is left as it was."""
        copy = MotifMemory(self.vocab, rows, self.max_order, max(capacity, self._size[0] + 1),
                           self._table.dtype, self.period, self.step)
        copy._copy_rows_from(self)
        return copy

    def _feed_one(self, tokens: list[int]) -> None:
        """:meth:`update` token by token for a single row, in one pass: the contexts
        of every token first (the trie walked in Python, new nodes numbered as
        :meth:`update` numbers them), then every count at once."""
        v = self.vocab
        children = self._children[0]
        ctx, depth, size, step = self._ctx[0], self._depth[0], self._size[0], self.step
        contexts = []
        for tok in tokens:
            contexts.append(ctx)
            step += 1
            ctx, depth, size, found = _walk(children, ctx, depth, tok, 1 + step % self.period,
                                            v, size)
        self._grow(size + 1)
        self._clear_to(size)
        nodes = np.array(contexts, dtype=np.int64)
        seen = nodes != 0  # node 0 ("no such context") counts nothing
        w = self._width
        cells, hits = np.unique((nodes * w + np.array(tokens, np.int64)[:, None])[seen],
                                return_counts=True)
        flat = self._flat  # row 0's cells come first
        before = flat[cells]
        flat[cells] = before + hits
        parents, times = np.unique(nodes[seen], return_counts=True)
        flat[parents * w + v] += times.astype(flat.dtype)
        fresh, types = np.unique(cells[before == 0] // w, return_counts=True)
        flat[fresh * w + v + 2] += types.astype(flat.dtype)
        flat[parents * w + v + 1] += times.astype(flat.dtype)
        flat[fresh * w + v + 1] += types.astype(flat.dtype)
        self._ctx[0], self._depth[0], self._size[0] = ctx, depth, size
        self.step = step
        self._set_contexts([self._seen(0, found)])

    def repeat_rows(self, times: int) -> None:
        """Make every row ``times`` rows, side by side, each with the row's counts."""
        self._flush()
        rows, used = self.rows * times, max(self._size)
        table = np.empty((rows, self._cap, self._width), dtype=self._table.dtype)
        table[:, :used] = np.repeat(self._table[:, :used], times, axis=0)
        self._set_table(table, used)
        self._children = [dict(c) for c in self._children for _ in range(times)]
        self._size = [n for n in self._size for _ in range(times)]
        self._ctx = [list(c) for c in self._ctx for _ in range(times)]
        self._depth = [d for d in self._depth for _ in range(times)]
        self._set_contexts([s for s in self._seen_rows for _ in range(times)])

    def break_context(self, step: int | None = None) -> None:
        """End a passage: the next token follows no context but the empty one (a
        filled gap's memory hears the music after the gap, then the music before it,
        without joining the two into an n-gram that never sounded); ``step``: where the
        next token is (its phase), when not right after the last."""
        self._flush()
        if step is not None:
            self.step = int(step)
        empty = [self._root(self.step)] + [0] * self.max_order
        self._ctx = [list(empty) for _ in range(self.rows)]
        self._depth = [1] * self.rows
        self._set_contexts([self._seen(r, 1) for r in range(self.rows)])

    # ---- predicting ----------------------------------------------------------------
    def distribution(self) -> np.ndarray:
        """``[rows, vocab]``: each row's probabilities of the next token (``self.seen``
        says how many orders have been seen before: the longest's plus one)."""
        v, rows = self.vocab, self.rows
        if rows == 1:
            # take() makes a list of nodes an index more cheaply than np.array; the
            # weights times the counts by dot, which calls BLAS's gemv as matmul's [1,
            # orders] x [orders, vocab] product does (the same sums) without matmul's
            # fixed cost; the escape a Python float
            g = self._nodes.take(self._ctx[0], axis=0).astype(np.float64)
            stats = g[:, v:v + 2].tolist()
            weights, above = [0.0] * (self.max_order + 1), 1.0
            for k in range(self._seen_rows[0] - 1, -1, -1):  # as _row_weights
                total, denominator = stats[k]
                lam = total / denominator
                weights[k] = lam * above / total
                above *= 1.0 - lam
            p = np.dot(weights, g[:, :v])
            p += above / v
            return p[None]
        g = self._nodes.take(self._at_rows(), axis=0).astype(np.float64)
        w, escape = (self._weights_by_row if rows <= self.rows_in_python
                     else self._weights)(g)
        p = np.matmul(w[:, None, :], g[..., :v])[:, 0]
        p += escape
        return p

    def _weights(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Interpolated Witten-Bell from order 0 up: p_n = lam_n * c_n / total_n + (1 -
        lam_n) p_(n-1), so the weight of order n's counts is lam_n over its total times
        every higher order's escape (1 - lam); and each row's share of the uniform
        distribution below order 0, every escape's product over the vocabulary
        (``[rows, 1]``).  ``g``: the contexts' rows of the table, as floats."""
        v = self.vocab
        total = g[..., v]
        at_least_one = np.maximum(g[..., v:v + 2], 1.0)  # the total, the total plus types
        lam = total / at_least_one[..., 1]  # 0 for an unseen context
        keep = 1.0 - lam
        above = self._above  # its last column stays 1
        np.cumprod(keep[:, :0:-1], axis=1, out=above[:, -2::-1])
        w = lam * above
        w /= at_least_one[..., 0]
        return w, (above[:, 0] * keep[:, 0] / v)[:, None]

    def _weights_by_row(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_weights` in Python floats over each row's seen orders alone (an
        unseen one's weight is 0 and its escape 1), the same operations in the same
        order, so the same numbers: cheaper than numpy's calls for a few rows."""
        v = self.vocab
        weights, escapes = self._row_weights(g[:, :, v:v + 2].tolist())
        return np.array(weights), np.array(escapes)[:, None]

    def _row_weights(self, stats: list) -> tuple[list[list[float]], list[float]]:
        """Each row's weight of every order's counts and its share of the uniform
        distribution (:meth:`_weights`), in Python floats; ``stats[row][order]``: the
        context's total and its total plus types (integers or floats: an integer
        quotient is rounded as the floats' is)."""
        v, n = self.vocab, self.max_order + 1
        weights, escapes = [], []
        for seen, rows in zip(self._seen_rows, stats):
            row, above = [0.0] * n, 1.0
            for k in range(seen - 1, -1, -1):
                total, denominator = rows[k]
                lam = total / denominator
                row[k] = lam * above / total
                above *= 1.0 - lam
            weights.append(row)
            escapes.append(above / v)
        return weights, escapes



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
        if memory._cleared * memory._width * memory._table.itemsize > SEEDED_MAX_BYTES:
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

    # a single row's network entropy (which only picks a bucket) is summed by one dot
    # product, and as mix() sums it within 1e-9 of a bucket's edge; False: always as
    # mix() sums it (the reference the tests hold the cheap way to)
    cheap_entropy = True

    def __init__(self, vocab: int, rows: int, prefix: Sequence[int], mixing: Mixing,
                 heard: Sequence[int] = (), steps: int = 512, start_step: int | None = None,
                 heard_step: int | None = None, share: float = 1.0) -> None:
        """``prefix``: what the generated tokens follow; ``heard``: other music of the
        piece the memory learns from first (a gap's music after it), not joined to it;
        ``steps``: about how many tokens will be generated (room made for them).
        ``start_step``: the grid step of the first generated token and ``heard_step``
        the step of ``heard``'s first, so that the memory knows where each token falls
        in the beat (the mixing's ``phase_period``); only their difference and the
        steps' phases matter.  By default the prefix starts on step 0 and the heard
        music ends where the prefix starts.  ``share`` scales how far the memory moves
        the network's log-probabilities (the repeat control, :data:`REPEAT_SHARES`): 1
        as the mixing says, 0 the network alone, above 1 further the memory's way."""
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
        tokens = mixing.network_tokens
        self._hand = None if not tokens else \
            int(tokens[0]) if len(tokens) == 1 else np.array(tokens, dtype=np.intp)
        self.share = float(share)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """``[rows, vocab]``: the mixed distribution after the network's ``logits``."""
        p_mem = self.memory.distribution()
        return mix(softmax(logits), p_mem, self.mixing, self.memory.longest)

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        """The mixed log-probabilities, which the sampler takes as logits (for the
        adaptive mixing, :func:`mix` in fewer numpy calls: a step is a few rows)."""
        if self.share != 1.0:
            return self._shared(logits)
        return self._mixed(logits)

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
        if self._table is None:
            return np.log(np.maximum(self.probabilities(logits), 1e-300))
        p_mem = self.memory.distribution()
        z = np.array(logits, dtype=np.float64)
        if len(z) == 1:
            return self._mixed_row(z, p_mem)
        z -= _max(z, axis=1, keepdims=True)
        p_net = np.exp(z)
        total = _sum(p_net, axis=1)
        p_net /= total[:, None]
        entropy = np.log(total) - _sum(p_net * z, axis=1)
        if self._hand is not None:  # hand_over, in place on the memory's fresh array
            t = self._hand
            given = p_net[:, t]
            p_mem[:, t] = 0.0
            rest = 1.0 - (given if given.ndim == 1 else _sum(given, axis=1))
            p_mem *= (rest / _sum(p_mem, axis=1))[:, None]
            p_mem[:, t] = given
        # the bucket (seen orders, memory confidence, network entropy), as buckets() has
        # it; searchsorted(..., "right") is digitize, without its Python wrapper
        w = self._shares[self.memory._seen_rows,
                         _CONFIDENCE.searchsorted(_max(p_mem, axis=1), "right"),
                         _ENTROPY.searchsorted(entropy, "right")]
        p_mem -= p_net
        p_mem *= w[:, None]
        p_mem += p_net
        return np.log(p_mem, out=p_mem)

    def _mixed_row(self, z: np.ndarray, p_mem: np.ndarray) -> np.ndarray:
        """:meth:`_mixed` for a single row, its per-row numbers as Python floats and
        its bucket found by bisection: the same operations on the same numbers, in
        fewer numpy calls."""
        z -= z[0, z.argmax()]  # the largest (a NaN if any: argmax finds NaN first)
        p_net = np.exp(z)
        total = _sum(p_net, axis=None)
        p_net /= total
        entropy = None
        if self.cheap_entropy:  # one dot product; as mix() sums it near a bucket's edge
            entropy = math.log(total) - float(p_net[0].dot(z[0]))
            if not _clear_of_edges((entropy,)):
                entropy = None
        if entropy is None:
            entropy = float(np.log(total)) - float(_sum(p_net * z, axis=None))
        if self._hand is not None:
            t = self._hand
            given = p_net[0, t]
            p_mem[0, t] = 0.0
            rest = 1.0 - (given if given.ndim == 0 else _sum(given, axis=None))
            p_mem *= rest / _sum(p_mem, axis=None)
            p_mem[0, t] = given
        w = self._share_rows[self.memory._seen_rows[0]][
            bisect_right(CONFIDENCE_EDGES, float(p_mem[0, p_mem.argmax()]))][
            bisect_right(ENTROPY_EDGES, entropy)]
        p_mem -= p_net
        p_mem *= w
        p_mem += p_net
        return np.log(p_mem, out=p_mem)

    def update(self, tokens: np.ndarray) -> None:
        if self.share != 0.0:
            self.memory.update(tokens)

    def repeat_rows(self, times: int) -> None:
        self.memory.repeat_rows(times)


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
