"""An interpolated Kneser-Ney n-gram over an encoding's tokens (pure numpy).

Chen & Goodman's modified Kneser-Ney: the highest order uses raw counts, every lower
order uses continuation counts (how many distinct tokens precede the n-gram), each
order subtracts three discounts (for counts 1, 2, 3+) estimated from its count of
counts, and hands the freed mass down to the next lower order, ending in the uniform
distribution.  Tunes are padded on the left with a BOS symbol so the first steps of a
tune have their own contexts.

An n-gram of at most 12 symbols (38 tokens + BOS = 39 symbols) is stored exactly as a
base-39 number in a uint64 (39**12 < 2**64), the oldest symbol in the lowest digit; so
"drop the oldest symbol" is ``// 39`` and the whole model is a few sorted integer arrays
per order, saved as JSON lists or as a ``.npz`` of plain arrays.

Used by training (the baseline) and by the engine (a style: :mod:`engine.generation.style`),
which asks for the next token's distribution after several histories at once
(:meth:`KneserNey.next_distributions`): only the last ``order - 1`` tokens matter.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Sequence

import numpy as np

MAX_ORDER = 12
FORMAT = "continuo-kneser-ney"


def max_order_for(vocab: int) -> int:
    """The longest n-gram whose code fits a uint64 for ``vocab`` tokens (+ BOS)."""
    order = 1
    while order < MAX_ORDER and (vocab + 1) ** (order + 1) < 2 ** 64:
        order += 1
    return order


class KneserNey:
    """Modified interpolated Kneser-Ney of a chosen order over ``vocab`` tokens."""

    def __init__(self, vocab: int, order: int) -> None:
        if not 1 <= order <= max_order_for(vocab):
            raise ValueError(f"order must be 1..{max_order_for(vocab)} for {vocab} tokens")
        self.vocab = vocab
        self.base = vocab + 1  # + BOS
        self.bos = vocab
        self.order = order
        # per order n (1-based index n-1): sorted gram codes and their counts,
        # sorted context codes with their totals and backoff weights, discounts
        self.grams: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.contexts: list[np.ndarray] = []
        self.totals: list[np.ndarray] = []
        self.gammas: list[np.ndarray] = []
        self.discounts: list[list[float]] = []
        self._powers = np.uint64(self.base) ** np.arange(max(order - 1, 1), dtype=np.uint64)

    # ---- codes ---------------------------------------------------------------------
    def _windows(self, tune: np.ndarray, n: int) -> np.ndarray:
        """Codes of the n-grams ending at every token of ``tune`` (BOS-padded)."""
        pad = np.concatenate([np.full(self.order - 1, self.bos, np.uint64),
                              np.asarray(tune, np.uint64)])
        m = len(tune)
        code = np.zeros(m, np.uint64)
        weight = np.uint64(1)
        off = self.order - 1
        for i in range(n):  # symbol i of the n-gram (0 = oldest)
            start = off - (n - 1) + i
            code += pad[start:start + m] * weight
            weight = weight * np.uint64(self.base)
        return code

    def _context_codes(self, history: np.ndarray) -> list[np.ndarray]:
        """Per order n, the codes of the contexts (the last n-1 symbols) of each row of
        ``history`` ``[rows, order - 1]`` (BOS-padded, oldest first)."""
        h = np.asarray(history, np.uint64)
        out = [np.zeros(len(h), np.uint64)]
        for n in range(2, self.order + 1):
            out.append((h[:, self.order - n:] * self._powers[:n - 1]).sum(axis=1,
                                                                          dtype=np.uint64))
        return out

    def histories(self, tokens: np.ndarray) -> np.ndarray:
        """``[rows, order - 1]``: the last ``order - 1`` tokens of each row of ``tokens``
        (``[rows, T]``, any T), BOS-padded on the left when T is shorter."""
        tokens = np.asarray(tokens, np.int64).reshape(len(tokens), -1)
        keep = self.order - 1
        pad = np.full((len(tokens), keep), self.bos, np.int64)
        return np.concatenate([pad, tokens], axis=1)[:, tokens.shape[1]:] if keep else pad

    def _tune_histories(self, tune: np.ndarray) -> np.ndarray:
        """Row t: the ``order - 1`` symbols before token t of ``tune`` (BOS-padded)."""
        tune = np.asarray(tune, np.int64)
        keep = self.order - 1
        pad = np.concatenate([np.full(keep, self.bos, np.int64), tune])
        if not keep:
            return np.zeros((len(tune), 0), np.int64)
        return np.lib.stride_tricks.sliding_window_view(pad, keep)[:len(tune)]

    # ---- fitting ---------------------------------------------------------------------
    def fit(self, tunes: Sequence[np.ndarray]) -> "KneserNey":
        return self._assemble(_Tables(self.vocab, tunes, self.order))

    @classmethod
    def fit_orders(cls, vocab: int, tunes: Sequence[np.ndarray],
                   orders: Sequence[int]) -> list["KneserNey"]:
        """One model per order in ``orders``, fitted together: every order's lower
        tables are the same continuation counts, so they are counted once."""
        tables = _Tables(vocab, tunes, max(orders))
        return [cls(vocab, order)._assemble(tables) for order in orders]

    def _assemble(self, tables: "_Tables") -> "KneserNey":
        parts = [tables.continuation(n) for n in range(1, self.order)] \
            + [tables.highest(self.order)]
        (self.grams, self.counts, self.discounts, self.contexts, self.totals,
         self.gammas) = (list(x) for x in zip(*parts))
        return self

    def _index(self) -> None:
        """The contexts, their totals and backoff weights, from grams, counts, discounts."""
        parts = [_index(self.base, n, g, c, d) for n, (g, c, d)
                 in enumerate(zip(self.grams, self.counts, self.discounts), start=1)]
        self.contexts, self.totals, self.gammas = (list(x) for x in list(zip(*parts))[3:])

    # ---- probabilities ---------------------------------------------------------------
    @staticmethod
    def _lookup(keys: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(table):
            return np.zeros(keys.shape, np.int64), np.zeros(keys.shape, bool)
        pos = np.minimum(np.searchsorted(table, keys), len(table) - 1)
        return pos, table[pos] == keys

    def _probabilities(self, history: np.ndarray,
                       words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[rows, W]``: p(word | the row's history) for ``words`` (``[rows or 1, W]``),
        and per row the length of the longest context the model has seen (0..order-1)."""
        contexts = self._context_codes(history)
        rows = len(contexts[0])
        words = np.asarray(words, np.uint64)
        p = np.full((rows, words.shape[-1]), 1.0 / self.vocab)
        longest = np.zeros(rows, np.int64)
        for n in range(1, self.order + 1):
            ctx = contexts[n - 1]
            ci, cfound = self._lookup(ctx, self.contexts[n - 1])
            if not cfound.any():
                break  # a context never seen has no longer context seen either
            total = np.where(cfound, self.totals[n - 1][ci], 1.0)
            gamma = np.where(cfound, self.gammas[n - 1][ci], 1.0)
            keys = ctx[:, None] + words * (np.uint64(self.base) ** np.uint64(n - 1))
            gi, gfound = self._lookup(keys, self.grams[n - 1])
            c = np.where(gfound, self.counts[n - 1][gi], 0)
            dtab = np.array([0.0] + self.discounts[n - 1])
            here = np.maximum(c - dtab[np.minimum(c, 3)], 0.0) / total[:, None] \
                + gamma[:, None] * p
            p = np.where(cfound[:, None], here, p)
            longest = np.where(cfound, n - 1, longest)
        return p, longest

    def distributions(self, tune: np.ndarray, with_longest: bool = False):
        """``[len(tune), vocab]``: row t is p(token t | tokens before t); with
        ``with_longest``, also the length of the longest context seen at each t."""
        p, longest = self._probabilities(self._tune_histories(tune),
                                         np.arange(self.vocab)[None, :])
        return (p, longest) if with_longest else p

    def token_probabilities(self, tune: np.ndarray) -> np.ndarray:
        """``[len(tune)]``: p(token t | tokens before t), without the whole distribution."""
        tune = np.asarray(tune, np.int64)
        return self._probabilities(self._tune_histories(tune), tune[:, None])[0][:, 0]

    def next_distributions(self, history: np.ndarray,
                           with_longest: bool = False):
        """``[rows, vocab]``: the next token's distribution after each row of ``history``
        (``[rows, order - 1]``, as :meth:`histories` makes it); with ``with_longest``,
        also the length of each row's longest context seen in training."""
        p, longest = self._probabilities(history, np.arange(self.vocab)[None, :])
        return (p, longest) if with_longest else p

    # ---- saving ----------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"format": FORMAT, "vocab": self.vocab, "order": self.order,
                "discounts": self.discounts,
                "grams": [[int(x) for x in g] for g in self.grams],
                "counts": [[int(x) for x in c] for c in self.counts]}

    @classmethod
    def from_arrays(cls, vocab: int, order: int, discounts, grams, counts) -> "KneserNey":
        kn = cls(int(vocab), int(order))
        discounts = [[float(x) for x in d] for d in discounts]
        if not (len(discounts) == len(grams) == len(counts) == kn.order) \
                or any(len(d) != 3 for d in discounts):
            raise ValueError("the n-gram's tables do not match its order")
        kn.discounts = discounts
        kn.grams = [np.asarray(g, np.uint64) for g in grams]
        kn.counts = [np.asarray(c, np.int64) for c in counts]
        if any(g.ndim != 1 or g.shape != c.shape or (g[1:] <= g[:-1]).any()
               for g, c in zip(kn.grams, kn.counts)):
            raise ValueError("the n-gram's tables are damaged")
        kn._index()
        return kn

    @classmethod
    def from_json(cls, data: dict) -> "KneserNey":
        if data.get("format") != FORMAT:
            raise ValueError("this is not a Kneser-Ney n-gram")
        return cls.from_arrays(data["vocab"], data["order"], data["discounts"],
                               data["grams"], data["counts"])

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """The model as plain arrays (for ``np.savez``; :meth:`from_npz` reads them)."""
        out = {f"{prefix}vocab": np.array(self.vocab), f"{prefix}order": np.array(self.order),
               f"{prefix}discounts": np.array(self.discounts, np.float64)}
        for n, (g, c) in enumerate(zip(self.grams, self.counts), start=1):
            out[f"{prefix}grams{n}"] = g
            out[f"{prefix}counts{n}"] = c.astype(np.uint32 if c.max(initial=0) < 2**32
                                                 else np.int64)
        return out

    @classmethod
    def from_npz(cls, z, prefix: str = "") -> "KneserNey":
        order = int(z[f"{prefix}order"])
        return cls.from_arrays(int(z[f"{prefix}vocab"]), order,
                               z[f"{prefix}discounts"].tolist(),
                               [z[f"{prefix}grams{n}"] for n in range(1, order + 1)],
                               [z[f"{prefix}counts{n}"] for n in range(1, order + 1)])

    def save(self, path: str | Path) -> None:
        """Atomically, as ``.npz`` when the name ends so, else as JSON."""
        from engine.formats import write_bytes_atomic

        write_bytes_atomic(path, npz_bytes(self.arrays()) if str(path).endswith(".npz")
                           else json.dumps(self.to_json()).encode())

    @classmethod
    def load(cls, path: str | Path) -> "KneserNey":
        """A saved n-gram (``.npz`` or JSON); ValueError or OSError when it is damaged."""
        if not str(path).endswith(".npz"):
            return cls.from_json(json.loads(Path(path).read_text()))
        with np.load(path, allow_pickle=False) as z:
            return cls.from_npz(z)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Arrays as the bytes of a compressed ``.npz`` (to write atomically)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------
# the tables of one order
# ---------------------------------------------------------------------------------------


def _discounts(counts: np.ndarray) -> list[float]:
    """The three discounts of modified Kneser-Ney from an order's count of counts."""
    nk = [int(np.sum(counts == k)) for k in (1, 2, 3, 4)]
    if not (nk[0] > 0 and nk[1] > 0):
        return [0.5, 1.0, 1.5]
    y = nk[0] / (nk[0] + 2 * nk[1])
    d = [1 - 2 * y * nk[1] / nk[0],
         2 - 3 * y * nk[2] / nk[1] if nk[1] else 1.0,
         3 - 4 * y * nk[3] / nk[2] if nk[2] else 1.0]
    return [float(min(max(x, 0.05), k + 1 - 0.05)) for k, x in enumerate(d)]


def _index(base: int, n: int, grams: np.ndarray, counts: np.ndarray, d: list[float]):
    """(grams, counts, discounts, contexts, totals, backoff weights) of order ``n``."""
    b = np.uint64(base)
    ctx = grams % (b ** np.uint64(n - 1)) if n > 1 else np.zeros_like(grams)
    uctx, inv = np.unique(ctx, return_inverse=True)
    total = np.bincount(inv, weights=counts).astype(np.float64)
    disc = np.where(counts == 1, d[0], np.where(counts == 2, d[1], d[2]))
    freed = np.bincount(inv, weights=np.minimum(disc, counts))
    return grams, counts, d, uctx, total, freed / total if len(total) else total


class _Tables:
    """The counts of every order up to ``order`` over ``tunes``, each order's tables
    (raw counts for a model's highest order, continuation counts below) made once."""

    def __init__(self, vocab: int, tunes: Sequence[np.ndarray], order: int) -> None:
        coder = KneserNey(vocab, order)
        self.base = coder.base
        self.raw = []
        for n in range(1, order + 1):
            codes = np.concatenate([coder._windows(t, n) for t in tunes])
            u, c = np.unique(codes, return_counts=True)
            self.raw.append((u, c.astype(np.int64)))
        self._made: dict[tuple[str, int], tuple] = {}

    def highest(self, n: int) -> tuple:
        if ("raw", n) not in self._made:
            grams, counts = self.raw[n - 1]
            self._made["raw", n] = _index(self.base, n, grams, counts, _discounts(counts))
        return self._made["raw", n]

    def continuation(self, n: int) -> tuple:
        """Order n below the highest: distinct (n+1)-grams ending in each n-gram."""
        if ("cont", n) not in self._made:
            grams, counts = np.unique(self.raw[n][0] // np.uint64(self.base),
                                      return_counts=True)
            counts = counts.astype(np.int64)
            self._made["cont", n] = _index(self.base, n, grams, counts, _discounts(counts))
        return self._made["cont", n]
