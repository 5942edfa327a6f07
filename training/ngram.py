"""An interpolated Kneser-Ney n-gram baseline over the melody tokens (pure numpy).

Chen & Goodman's modified Kneser-Ney: the highest order uses raw counts, every lower
order uses continuation counts (how many distinct tokens precede the n-gram), each
order subtracts three discounts (for counts 1, 2, 3+) estimated from its count of
counts, and hands the freed mass down to the next lower order, ending in the uniform
distribution.  Tunes are padded on the left with a BOS symbol so the first steps of a
tune have their own contexts.

An n-gram of at most 12 symbols (38 tokens + BOS = 39 symbols) is stored exactly as a
base-39 number in a uint64 (39**12 < 2**64), the oldest symbol in the lowest digit; so
"drop the oldest symbol" is ``// 39`` and the whole model is a few sorted integer arrays
per order, which serialise to JSON as plain lists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

MAX_ORDER = 12


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

    # ---- fitting ---------------------------------------------------------------------
    def fit(self, tunes: Sequence[np.ndarray]) -> "KneserNey":
        b = np.uint64(self.base)
        raw: list[tuple[np.ndarray, np.ndarray]] = []
        for n in range(1, self.order + 1):
            codes = np.concatenate([self._windows(t, n) for t in tunes])
            u, c = np.unique(codes, return_counts=True)
            raw.append((u, c.astype(np.int64)))
        self.grams, self.counts, self.contexts = [], [], []
        self.totals, self.gammas, self.discounts = [], [], []
        for n in range(1, self.order + 1):
            if n == self.order:
                grams, counts = raw[n - 1]
            else:  # continuation counts: distinct (n+1)-grams ending in this n-gram
                suffix = raw[n][0] // b
                grams, counts = np.unique(suffix, return_counts=True)
                counts = counts.astype(np.int64)
            nk = [int(np.sum(counts == k)) for k in (1, 2, 3, 4)]
            if nk[0] > 0 and nk[1] > 0:
                y = nk[0] / (nk[0] + 2 * nk[1])
                d = [1 - 2 * y * nk[1] / nk[0],
                     2 - 3 * y * nk[2] / nk[1] if nk[1] else 1.0,
                     3 - 4 * y * nk[3] / nk[2] if nk[2] else 1.0]
                d = [min(max(x, 0.05), k + 1 - 0.05) for k, x in enumerate(d)]
            else:
                d = [0.5, 1.0, 1.5]
            ctx = grams % (b ** np.uint64(n - 1)) if n > 1 else np.zeros_like(grams)
            uctx, inv = np.unique(ctx, return_inverse=True)
            total = np.bincount(inv, weights=counts).astype(np.float64)
            disc = np.where(counts == 1, d[0], np.where(counts == 2, d[1], d[2]))
            freed = np.bincount(inv, weights=np.minimum(disc, counts))
            self.grams.append(grams)
            self.counts.append(counts)
            self.contexts.append(uctx)
            self.totals.append(total)
            self.gammas.append(freed / total)
            self.discounts.append([float(x) for x in d])
        return self

    # ---- probabilities ---------------------------------------------------------------
    @staticmethod
    def _lookup(keys: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.searchsorted(table, keys)
        pos = np.minimum(pos, len(table) - 1)
        found = table[pos] == keys if len(table) else np.zeros(keys.shape, bool)
        return pos, found

    def distributions(self, tune: np.ndarray) -> np.ndarray:
        """``[len(tune), vocab]``: row t is p(token t | tokens before t)."""
        b = np.uint64(self.base)
        m = len(tune)
        p = np.full((m, self.vocab), 1.0 / self.vocab)
        words = np.arange(self.vocab, dtype=np.uint64)
        for n in range(1, self.order + 1):
            if n > 1:
                ctx = self._windows(tune, n) % (b ** np.uint64(n - 1))
                ctx = ctx.copy()
            else:
                ctx = np.zeros(m, np.uint64)
            # the context of the n-gram ending at t is the n-1 symbols before t
            ci, cfound = self._lookup(ctx, self.contexts[n - 1])
            total = np.where(cfound, self.totals[n - 1][ci], 0.0)
            gamma = np.where(cfound, self.gammas[n - 1][ci], 1.0)
            shift = b ** np.uint64(n - 1)
            keys = ctx[:, None] + words[None, :] * shift
            gi, gfound = self._lookup(keys.ravel(), self.grams[n - 1])
            c = np.where(gfound, self.counts[n - 1][gi], 0).reshape(m, self.vocab)
            d = np.array(self.discounts[n - 1])
            disc = np.where(c == 0, 0.0, np.where(c == 1, d[0], np.where(c == 2, d[1], d[2])))
            with np.errstate(divide="ignore", invalid="ignore"):
                here = np.maximum(c - disc, 0.0) / total[:, None] + gamma[:, None] * p
            p = np.where(cfound[:, None], here, p)
        return p

    # ---- JSON ------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"format": "continuo-kneser-ney", "vocab": self.vocab, "order": self.order,
                "discounts": self.discounts,
                "grams": [[int(x) for x in g] for g in self.grams],
                "counts": [[int(x) for x in c] for c in self.counts]}

    def save(self, path: str | Path) -> None:
        from engine.formats import write_bytes_atomic

        write_bytes_atomic(path, json.dumps(self.to_json()).encode())
