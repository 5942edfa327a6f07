"""The motif memory's compiled steps (numba): the trie walk, the counting, each row's
distribution and the adaptive mixing, over flat arrays, for every row in one call.

:class:`engine.generation.memory.MotifMemory` and ``MemoryMixer`` keep their state in
numpy arrays and call these.  A step had cost about 40 numpy calls and a Python walk of
a trie of dictionaries per row; numpy's fixed cost per call, not the arithmetic, was most
of it.  Here a step is one call to feed the memory and two to mix (numpy's ``exp`` and
``log`` between them, see below).

The same numbers as the numpy code before (kept as ``tests/engine/memory_reference.py``),
to the bit: every floating-point operation is done in the same order.

* The sums numpy's ``add.reduce`` makes (a row's total, its entropy) are its pairwise
  summation (:func:`_pairwise`, numpy's ``pairwise_sum``: eight running sums in blocks of
  up to 128, halves above).
* The product of the orders' weights with their counts is the BLAS ``dgemv`` that
  ``numpy.dot`` and ``matmul`` call, the same function of the same library (numpy's own
  OpenBLAS, found beside it and checked against ``numpy.dot`` at import), called with
  the same arguments; where it is not found (a numpy built on another BLAS), a plain
  loop, equal to rounding.
* ``exp`` and ``log`` of a whole distribution stay numpy's (its SIMD versions round
  differently from the C library's in the last place): the mixer calls
  :func:`prepare_step`, then ``numpy.exp``, then :func:`mix_step`, then ``numpy.log``.
  The network's entropy picks a bucket only: worked out with the C library's ``log`` of
  the total, it is used where it is more than 1e-9 from a bucket's edge, else the caller
  works it out with numpy's (:func:`mix_step` returns 1 and changes nothing).

The trie: per row, an open-addressed hash table (linear probing, Fibonacci hashing) from
``parent * vocab + token`` to the child's node, ``trie[row, slot]`` = (key, node) (key
-1: empty), of ``2 ** bits`` slots; the caller keeps it at most half full
(:func:`rehash`).  Nodes are numbered as the dictionaries numbered them.  A context's
row of the counts starts with its total, total plus types and types (:data:`STATS`),
then its count of each token: what a step reads of a context first is in one cache
line (``MotifMemory.table`` gives the numpy memory's order, the counts first).

Compiling takes a few seconds; ``cache=True`` keeps the machine code on disk, so a later
process loads it in a fraction of a second.  :func:`warm_in_background` compiles or loads
every kernel in a daemon thread (the generation service starts it when it starts), so
that no user's first generation pays for it unnoticed.
"""

from __future__ import annotations

import ctypes
import glob
import logging
import math
import os
import threading
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["BLAS", "update_rows", "feed_rows", "distribution_rows", "prepare_step",
           "mix_step", "rehash", "warm", "warm_in_background", "warmed", "EMPTY"]

EMPTY = -1  # a free slot of the trie's hash table
#: a context's row of the counts: its total, its total plus types, its types, then its
#: count of each token (the numbers a step reads first, in one cache line)
STATS = 3
_FIB = -7046029254386353131  # 2**64 / golden ratio, as a signed 64-bit integer


# ---------------------------------------------------------------------------------------
# numpy's own BLAS dgemv
# ---------------------------------------------------------------------------------------

_CANDIDATES = (("scipy_cblas_dgemv64_", True), ("cblas_dgemv64_", True),
               ("scipy_cblas_dgemv", False), ("cblas_dgemv", False))


def _find_dgemv() -> tuple[int, bool]:
    """The address of ``cblas_dgemv`` in the OpenBLAS numpy was built with (its wheels
    carry it beside the package) and whether its integers are 64-bit; (0, False) where
    none is found or it does not give numpy.dot's numbers."""
    here = os.path.dirname(np.__file__)
    paths = []
    for folder in (os.path.join(here, os.pardir, "numpy.libs"), os.path.join(here, ".dylibs")):
        for pattern in ("*openblas*.so*", "*openblas*.dylib", "*openblas*.dll"):
            paths += sorted(glob.glob(os.path.join(folder, pattern)))
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name, wide in _CANDIDATES:
            fn = getattr(lib, name, None)
            if fn is None:
                continue
            integer = ctypes.c_int64 if wide else ctypes.c_int32
            fn.restype = None
            fn.argtypes = [ctypes.c_int, ctypes.c_int, integer, integer, ctypes.c_double,
                           ctypes.c_void_p, integer, ctypes.c_void_p, integer,
                           ctypes.c_double, ctypes.c_void_p, integer]
            if _same_as_numpy(fn):
                return ctypes.cast(fn, ctypes.c_void_p).value or 0, wide
    return 0, False


def _same_as_numpy(fn) -> bool:
    """Whether ``fn`` (a cblas_dgemv) gives numpy.dot's numbers, bit for bit, on a few
    products shaped as the memory's (orders x a vocabulary, rows of a wider table)."""
    rng = np.random.default_rng(0)
    for orders, vocab in ((11, 130), (25, 61), (7, 389), (4, 9)):
        g = rng.integers(0, 50, (orders, vocab + 3)).astype(np.float64)
        w = rng.random(orders) / rng.integers(1, 60, orders)
        out = np.empty(vocab)
        fn(102, 111, vocab, orders, 1.0, g.ctypes.data, vocab + 3, w.ctypes.data, 1, 0.0,
           out.ctypes.data, 1)
        if not np.array_equal(out, np.dot(w.tolist(), g[:, :vocab])):
            return False
    return True


#: the product over a few tokens' columns is padded to a multiple of this (dgemv's rows
#: are done in blocks of up to 16 lanes, and the last few apart; checked at import)
PAD = 16


def _compact_same(address: int, wide: bool) -> bool:
    """Whether dgemv over a few tokens' columns (padded to a multiple of :data:`PAD`,
    then the last ``vocab % PAD``: :func:`_distribution_row`'s ``compact``) gives each
    of them the number the whole product does, bit for bit, on products shaped as the
    memory's."""
    if not address:
        return False
    integer = ctypes.c_int64 if wide else ctypes.c_int32
    fn = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, integer, integer, ctypes.c_double,
                          ctypes.c_void_p, integer, ctypes.c_void_p, integer, ctypes.c_double,
                          ctypes.c_void_p, integer)(address)
    rng = np.random.default_rng(1)
    for orders, vocab in ((25, 454), (25, 130), (11, 389), (11, 200), (17, 300)):
        tail = vocab % PAD
        front = vocab - tail
        for heard in (1, 3, 9, 17, 40, 100):
            cols = np.sort(rng.choice(front, min(heard, front), replace=False))
            counts = np.zeros((orders, vocab + 3))
            counts[:, cols] = rng.integers(0, 30, (orders, len(cols)))
            counts[:, front:vocab] = rng.integers(0, 3, (orders, tail))
            w = rng.random(orders) / rng.integers(1, 60, orders)
            full = np.dot(w.tolist(), counts[:, :vocab])
            padded = (len(cols) + PAD - 1) // PAD * PAD
            m = padded + tail
            g = np.zeros((orders, m))
            g[:, :len(cols)] = counts[:, cols]
            g[:, padded:] = counts[:, front:vocab]
            out = np.empty(m)
            fn(102, 111, m, orders, 1.0, g.ctypes.data, m, w.ctypes.data, 1, 0.0,
               out.ctypes.data, 1)
            if not (np.array_equal(out[:len(cols)], full[cols])
                    and np.array_equal(out[padded:], full[front:vocab])):
                return False
    return True


_ADDRESS, _WIDE = _find_dgemv()
#: whether the memory's products are numpy's BLAS dgemv (else a plain loop)
BLAS = bool(_ADDRESS)
#: whether a product may be worked out over the tokens heard at the step's phase alone
COMPACT = _compact_same(_ADDRESS, _WIDE)


def _dgemv_intrinsic(integer_bits: int):
    @intrinsic
    def call(typingctx, address, m, n, a, lda, x, y):
        """cblas_dgemv(ColMajor, NoTrans, m, n, 1.0, a, lda, x, 1, 0.0, y, 1) at
        ``address``: y = A x for the column-major m x n A (what numpy.dot of a vector
        and a C-ordered n x m matrix, rows ``lda`` apart, calls)."""
        sig = types.void(types.int64, types.int64, types.int64, types.voidptr, types.int64,
                         types.voidptr, types.voidptr)

        def codegen(context, builder, signature, args):
            address, m, n, a, lda, x, y = args
            i32, integer = ir.IntType(32), ir.IntType(integer_bits)
            dbl, ptr = ir.DoubleType(), ir.IntType(8).as_pointer()
            fnty = ir.FunctionType(ir.VoidType(), [i32, i32, integer, integer, dbl, ptr,
                                                   integer, ptr, integer, dbl, ptr, integer])
            fn = builder.inttoptr(address, fnty.as_pointer())
            if integer_bits != 64:
                m, n, lda = (builder.trunc(v, integer) for v in (m, n, lda))
            builder.call(fn, [ir.Constant(i32, 102), ir.Constant(i32, 111), m, n,
                              ir.Constant(dbl, 1.0), a, lda, x, ir.Constant(integer, 1),
                              ir.Constant(dbl, 0.0), y, ir.Constant(integer, 1)])
            return context.get_dummy_value()

        return sig, codegen

    return call


_dgemv64 = _dgemv_intrinsic(64)
_dgemv32 = _dgemv_intrinsic(32)


# ---------------------------------------------------------------------------------------
# the trie
# ---------------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _slot(key, bits):
    return (key * _FIB) >> (64 - bits) & ((1 << bits) - 1)


@njit(cache=True, nogil=True)
def _find(trie, key, bits):
    """The node stored under ``key`` in one row's table (``trie[slot]``: key, node), or
    -1."""
    mask = (1 << bits) - 1
    i = _slot(key, bits)
    while True:
        k = trie[i, 0]
        if k == key:
            return trie[i, 1]
        if k == EMPTY:
            return -1
        i = (i + 1) & mask


@njit(cache=True, nogil=True)
def _put(trie, key, node, bits):
    mask = (1 << bits) - 1
    i = _slot(key, bits)
    while trie[i, 0] != EMPTY:
        i = (i + 1) & mask
    trie[i, 0] = key
    trie[i, 1] = node


@njit(cache=True, nogil=True)
def rehash(trie, bits):
    """Every row's table in ``2 ** bits`` slots."""
    rows = trie.shape[0]
    new = np.full((rows, 1 << bits, 2), EMPTY, dtype=np.int64)
    for r in range(rows):
        for i in range(trie.shape[1]):
            if trie[r, i, 0] != EMPTY:
                _put(new[r], trie[r, i, 0], trie[r, i, 1], bits)
    return new


# ---------------------------------------------------------------------------------------
# feeding
# ---------------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _step_row(table, trie, ctx, depth, size, seen, r, tok, root, vocab, bits, new):
    """Row ``r`` hears ``tok``: counted in every context it followed (the token's count,
    the total, the total plus types, and the types where it is new there; node 0, "no
    such context", counts nothing), then the contexts after it (the walk of
    ``memory._walk``: nodes looked up until the first miss, the rest numbered from the
    row's size), and how many of them were seen before (``MotifMemory._seen``)."""
    orders = ctx.shape[1]
    for k in range(orders):
        node = ctx[r, k]
        if node == 0:
            continue
        c = table[r, node, STATS + tok]
        table[r, node, STATS + tok] = c + 1
        table[r, node, 0] += 1
        if c == 0:
            table[r, node, 1] += 2
            table[r, node, 2] += 1
        else:
            table[r, node, 1] += 1
    last = orders - 1
    parents = depth[r] if depth[r] < last else last
    new[0] = root
    k = 0
    while k < parents:
        node = _find(trie[r], ctx[r, k] * vocab + tok, bits)
        if node < 0:
            break
        new[k + 1] = node
        k += 1
    found = k + 1
    n = size[r]
    for j in range(k, parents):
        _put(trie[r], ctx[r, j] * vocab + tok, n, bits)
        new[j + 1] = n
        n += 1
    size[r] = n
    for j in range(parents + 1, orders):
        new[j] = 0
    for j in range(orders):
        ctx[r, j] = new[j]
    depth[r] = parents + 1
    while found and table[r, new[found - 1], 0] == 0:
        found -= 1
    seen[r] = found


@njit(cache=True, nogil=True)
def update_rows(table, trie, ctx, depth, size, seen, tokens, root, vocab, bits,
                address, wide, compact, next_p):
    """Each row hears its token (``tokens[row]``), the next step's contexts starting at
    ``root``, and each row's distribution of the next token goes to ``next_p`` (while
    the contexts' counts are in the cache); returns the largest row's number of nodes.
    The table must have room for every node the walk may add (``max_order`` a row), the
    hash tables be at most half full after it."""
    new = np.empty(ctx.shape[1], dtype=np.int64)
    largest = 0
    for r in range(ctx.shape[0]):
        _step_row(table, trie, ctx, depth, size, seen, r, tokens[r], root, vocab, bits,
                  new)
        if size[r] > largest:
            largest = size[r]
    distribution_rows(table, ctx, seen, vocab, address, wide, compact, next_p)
    return largest


@njit(cache=True, nogil=True)
def feed_rows(table, trie, ctx, depth, size, seen, tokens, roots, vocab, bits):
    """Every row hears ``tokens`` in turn (the contexts after token t starting at
    ``roots[t]``); returns the largest row's number of nodes."""
    new = np.empty(ctx.shape[1], dtype=np.int64)
    largest = 0
    for t in range(tokens.shape[0]):
        for r in range(ctx.shape[0]):
            _step_row(table, trie, ctx, depth, size, seen, r, tokens[t], roots[t], vocab,
                      bits, new)
    for r in range(ctx.shape[0]):
        if size[r] > largest:
            largest = size[r]
    return largest


# ---------------------------------------------------------------------------------------
# predicting
# ---------------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _product(address, wide, m, n, a, lda, x, y):
    """y[:m] = the column-major m x n ``a`` (columns ``lda`` apart) times x[:n]: numpy's
    dgemv, or a plain loop where it was not found."""
    if address != 0:
        if wide:
            _dgemv64(address, m, n, a.ctypes.data, lda, x.ctypes.data, y.ctypes.data)
        else:
            _dgemv32(address, m, n, a.ctypes.data, lda, x.ctypes.data, y.ctypes.data)
    else:
        for j in range(m):
            s = 0.0
            for k in range(n):
                s += x[k] * a[k * lda + j]
            y[j] = s


@njit(cache=True, nogil=True)
def _distribution_row(table, ctx, seen, r, vocab, address, wide, compact, g, w, cols,
                      out):
    """Row ``r``'s interpolated Witten-Bell distribution into ``out``: from the longest
    seen order down, the weight of order k's counts is lam_k times every longer order's
    escape over its total, in Python floats' order (the numpy memory's
    ``_row_weights``), times the counts by numpy's dgemv, plus the uniform share below
    order 0.  ``g``: [orders * (vocab + 3)] floats, ``w``: [orders], ``cols``: [vocab]
    integers, scratch.

    ``compact``: the product over the tokens that can have a count alone.  Every count
    of a context was counted in the empty context of the same phase too (order 0, the
    first), so the tokens it has heard are the only ones any context can give more
    than the uniform share.  The product is dgemv's over those tokens, padded with
    zeros to a multiple of :data:`PAD`, then the last ``vocab % PAD`` tokens whatever
    their counts: the products of dgemv's rows are independent lanes, alike but for the
    last few rows (done apart), so each token's number is the one the whole product
    gives it (:func:`_compact_same` checks that it is, else ``compact`` is off); the
    rest get 0, as their zero counts do (0 plus the uniform share is the share)."""
    orders, width = ctx.shape[1], vocab + 3
    above = 1.0
    for k in range(orders):
        w[k] = 0.0
    for k in range(seen[r] - 1, -1, -1):
        node = ctx[r, k]
        total = np.float64(table[r, node, 0])
        lam = total / np.float64(table[r, node, 1])
        w[k] = lam * above / total
        above *= 1.0 - lam
    tail = vocab % PAD
    front = vocab - tail
    n = 0
    if compact:
        root = ctx[r, 0]
        for j in range(front):
            if table[r, root, STATS + j] != 0:
                cols[n] = j
                n += 1
    padded = (n + PAD - 1) // PAD * PAD
    if compact and padded + tail < front:
        m = padded + tail
        heard_tail = False  # counts among the last tokens (read only if so)
        for i in range(tail):
            if table[r, ctx[r, 0], STATS + front + i] != 0:
                heard_tail = True
        for k in range(orders):
            node = ctx[r, k]
            base = k * m
            for i in range(n):
                g[base + i] = table[r, node, STATS + cols[i]]
            for i in range(n, padded):
                g[base + i] = 0.0
            for i in range(tail):
                g[base + padded + i] = table[r, node, STATS + front + i] if heard_tail \
                    else 0.0
        product = g[orders * m:orders * m + m]
        _product(address, wide, m, orders, g, m, w, product)
        escape = above / vocab
        for j in range(vocab):
            out[j] = escape
        for i in range(n):
            out[cols[i]] = product[i] + escape
        for i in range(tail):
            out[front + i] = product[padded + i] + escape
        return
    else:
        for k in range(orders):
            node = ctx[r, k]
            base = k * width
            for j in range(vocab):
                g[base + j] = table[r, node, STATS + j]
        _product(address, wide, vocab, orders, g, width, w, out)
    escape = above / vocab
    for j in range(vocab):
        out[j] += escape


@njit(cache=True, nogil=True)
def distribution_rows(table, ctx, seen, vocab, address, wide, compact, out):
    """``out[row]``: each row's probabilities of the next token."""
    orders = ctx.shape[1]
    g = np.empty((orders + 1) * (vocab + 3))
    w = np.empty(orders)
    cols = np.empty(vocab, dtype=np.int64)
    for r in range(ctx.shape[0]):
        _distribution_row(table, ctx, seen, r, vocab, address, wide, compact, g, w, cols,
                          out[r])


@njit(cache=True, nogil=True)
def prepare_step(table, ctx, seen, vocab, address, wide, compact, ready, next_p, logits,
                 z, p_mem):
    """A mixing step's first half: the memory's distribution of each row into
    ``p_mem`` (``next_p``'s where ``ready``: :func:`update_rows` worked it out), and into
    ``z`` (float64, [rows, vocab]) the network's ``logits`` (float32 or float64, the
    same shape; ``z`` itself may be given) as float64 less each row's largest (NaN where
    a row holds one); the caller takes ``exp(z)``."""
    if ready:
        for r in range(z.shape[0]):
            for j in range(vocab):
                p_mem[r, j] = next_p[r, j]
    else:
        distribution_rows(table, ctx, seen, vocab, address, wide, compact, p_mem)
    for r in range(z.shape[0]):
        top = np.float64(logits[r, 0])
        for j in range(1, vocab):
            x = np.float64(logits[r, j])
            if x != x:
                top = x
                break
            if x > top:
                top = x
        if top != top:
            for j in range(vocab):
                z[r, j] = top
        else:
            for j in range(vocab):
                z[r, j] = np.float64(logits[r, j]) - top


@njit(cache=True, nogil=True)
def _block(a, start, n):
    """numpy's pairwise_sum of ``a[start:start + n]`` for n <= 128: eight running sums
    (sequential below 8)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[start + i]
        return res
    r0 = a[start]
    r1 = a[start + 1]
    r2 = a[start + 2]
    r3 = a[start + 3]
    r4 = a[start + 4]
    r5 = a[start + 5]
    r6 = a[start + 6]
    r7 = a[start + 7]
    end = n - n % 8
    i = 8
    while i < end:
        r0 += a[start + i]
        r1 += a[start + i + 1]
        r2 += a[start + i + 2]
        r3 += a[start + i + 3]
        r4 += a[start + i + 4]
        r5 += a[start + i + 5]
        r6 += a[start + i + 6]
        r7 += a[start + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[start + i]
        i += 1
    return res


# numpy's pairwise_sum halves a stretch above 128 (the first half a multiple of 8, so the
# second up to 7 more than half) and adds the halves' sums: one function a level, each
# right for stretches up to twice the one below less 16 (a recursive function compiled
# with cache=True crashed when loaded from the cache), and a stack beyond them


@njit(cache=True, nogil=True)
def _half(n):
    half = n // 2
    return half - half % 8


@njit(cache=True, nogil=True)
def _sum240(a, start, n):
    if n <= 128:
        return _block(a, start, n)
    h = _half(n)
    return _block(a, start, h) + _block(a, start + h, n - h)


@njit(cache=True, nogil=True)
def _sum464(a, start, n):
    if n <= 128:
        return _block(a, start, n)
    h = _half(n)
    return _sum240(a, start, h) + _sum240(a, start + h, n - h)


@njit(cache=True, nogil=True)
def _sum912(a, start, n):
    if n <= 128:
        return _block(a, start, n)
    h = _half(n)
    return _sum464(a, start, h) + _sum464(a, start + h, n - h)


@njit(cache=True, nogil=True)
def _sum1808(a, start, n):
    if n <= 128:
        return _block(a, start, n)
    h = _half(n)
    return _sum912(a, start, h) + _sum912(a, start + h, n - h)


@njit(cache=True, nogil=True)
def _sum3600(a, start, n):
    if n <= 128:
        return _block(a, start, n)
    h = _half(n)
    return _sum1808(a, start, h) + _sum1808(a, start + h, n - h)


@njit(cache=True, nogil=True)
def _pairwise(a, start, n):
    """numpy's pairwise_sum of ``a[start:start + n]`` (what add.reduce sums a row by)."""
    if n <= 3600:
        return _sum3600(a, start, n)
    # beyond: the same tree, walked with a stack (post-order, left before right)
    starts = np.empty(64, dtype=np.int64)
    sizes = np.empty(64, dtype=np.int64)
    stage = np.zeros(64, dtype=np.int64)
    sums = np.empty(64)
    starts[0], sizes[0], depth = start, n, 0
    while True:
        m = sizes[depth]
        if m <= 3600 or stage[depth] == 2:
            value = _sum3600(a, starts[depth], m) if m <= 3600 else sums[depth]
            if depth == 0:
                return value
            depth -= 1
            if stage[depth] == 1:
                sums[depth] = value
                stage[depth] = 3  # the left half's sum waits
                h = _half(sizes[depth])
                depth += 1
                starts[depth], sizes[depth], stage[depth] = starts[depth - 1] + h, \
                    sizes[depth - 1] - h, 0
            else:
                sums[depth] = sums[depth] + value
                stage[depth] = 2
            continue
        stage[depth] = 1
        h = _half(m)
        depth += 1
        starts[depth], sizes[depth], stage[depth] = starts[depth - 1], h, 0


@njit(cache=True, nogil=True)
def _bisect_right(edges, x):
    """bisect.bisect_right / searchsorted(..., "right"), NaN after every edge."""
    i = 0
    while i < edges.shape[0] and not x < edges[i]:
        i += 1
    return i


@njit(cache=True, nogil=True)
def mix_step(p_net, z, p_mem, seen, hand, shares, confidence_edges, entropy_edges,
             entropies, sums, exact, given, scratch):
    """A mixing step's second half (``MemoryMixer._mixed``), in place, after ``p_net =
    exp(z)``: each row normalised, its entropy, the ``hand`` tokens' probabilities
    handed to the network (the rest of the memory's mass shared as the memory shares
    it), the share looked up in ``shares`` ([seen orders, memory confidence, network
    entropy], flat) and ``p_mem`` made ``(1 - w) * p_net + w * p_mem`` (as ``(p_mem -
    p_net) * w + p_net``); the caller takes its log.

    The entropy (which picks a bucket alone) is ``log(total) - sum(p * z)``, each sum as
    numpy's, the log the C library's.  Where one is within 1e-9 of a bucket's edge (or
    NaN), or ``exact``, the call returns 1 once the rows are normalised, each row's
    total and ``sum(p * z)`` in ``sums[0]`` and ``sums[1]``: the caller works the
    entropies out with numpy's log, into ``entropies``, and calls again with ``given``
    (the rows normalised, the entropies set).  0 when done.  ``scratch``: [vocab]."""
    rows, vocab = p_net.shape
    n_conf, n_ent = confidence_edges.shape[0] + 1, entropy_edges.shape[0] + 1
    if not given:
        near = exact
        for r in range(rows):
            total = _pairwise(p_net[r], 0, vocab)
            for j in range(vocab):
                p_net[r, j] /= total
                scratch[j] = p_net[r, j] * z[r, j]
            weighted = _pairwise(scratch, 0, vocab)
            sums[0, r] = total
            sums[1, r] = weighted
            h = math.log(total) - weighted
            entropies[r] = h
            for e in range(entropy_edges.shape[0]):
                if not abs(h - entropy_edges[e]) > 1e-9:
                    near = True
        if near:
            return 1
    for r in range(rows):
        m = p_mem[r]
        if hand.shape[0] > 0:
            for i in range(hand.shape[0]):
                scratch[i] = p_net[r, hand[i]]
            handed = _pairwise(scratch, 0, hand.shape[0])
            for i in range(hand.shape[0]):
                m[hand[i]] = 0.0
            factor = (1.0 - handed) / _pairwise(m, 0, vocab)
            for j in range(vocab):
                m[j] *= factor
            for i in range(hand.shape[0]):
                m[hand[i]] = p_net[r, hand[i]]
        top = m[0]
        for j in range(1, vocab):
            x = m[j]
            if x != x:
                top = x
                break
            if x > top:
                top = x
        bucket = (seen[r] * n_conf + _bisect_right(confidence_edges, top)) * n_ent \
            + _bisect_right(entropy_edges, entropies[r])
        share = shares[bucket]
        for j in range(vocab):
            m[j] = (m[j] - p_net[r, j]) * share + p_net[r, j]
    return 0


# ---------------------------------------------------------------------------------------
# the drums' seed groove after the memory (engine.generation.drum_memory.GrooveTake)
# ---------------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def less_top(z):
    """Each row of ``z`` (float64, [rows, vocab]) less its largest, in place (NaN where
    the row holds one): numpy's ``z -= z.max(axis=1, keepdims=True)``; the caller
    takes ``exp(z)``."""
    for r in range(z.shape[0]):
        top = z[r, 0]
        for j in range(1, z.shape[1]):
            x = z[r, j]
            if x != x:
                top = x
                break
            if x > top:
                top = x
        for j in range(z.shape[1]):
            z[r, j] -= top


@njit(cache=True, nogil=True)
def share_onto(p, tokens, share):
    """After ``p = exp(z)`` ([rows, vocab]), in place: each row scaled by ``(1 -
    share) / its sum`` (numpy's pairwise sum), ``share`` added to the row's token
    ``tokens[row]``, and every number at least 1e-300 (NaN kept), as numpy's ``p *=
    (1 - share) / p.sum(axis=1, keepdims=True)``, ``p[rows, tokens] += share`` and
    ``np.maximum(p, 1e-300, out=p)``; the caller takes its log."""
    rest = 1.0 - share
    for r in range(p.shape[0]):
        factor = rest / _pairwise(p[r], 0, p.shape[1])
        for j in range(p.shape[1]):
            p[r, j] *= factor
        p[r, tokens[r]] += share
        for j in range(p.shape[1]):
            if p[r, j] < 1e-300:
                p[r, j] = 1e-300


@njit(cache=True, nogil=True)
def share_onto_source(p, running, draws, window, share):
    """:func:`share_onto` with each row's token picked here: the seed's step ``window[i]``
    whose running weight ``running`` (at the step's place) the row's draw passes, as
    ``SeedGroove.source_tokens`` picks it (``searchsorted(running, draws[row] *
    running[-1], "right")``, at most the last)."""
    n = running.shape[0]
    scaled = running[n - 1]
    tokens = np.empty(p.shape[0], dtype=np.int64)
    for r in range(p.shape[0]):
        x = draws[r] * scaled
        lo, hi = 0, n
        while lo < hi:  # the first running sum above x
            mid = (lo + hi) // 2
            if x < running[mid]:
                hi = mid
            else:
                lo = mid + 1
        tokens[r] = window[min(lo, n - 1)]
    share_onto(p, tokens, share)


# ---------------------------------------------------------------------------------------
# warming
# ---------------------------------------------------------------------------------------

_warm_lock = threading.Lock()
_warmed = threading.Event()
#: seconds the last warm() took in this process (compiling, or loading the cache)
warm_seconds: float | None = None


@njit(cache=True, nogil=True)
def _twin(line, r, at, offsets, window, hold, min_pairs, buckets):
    """Row ``r``'s twin of place ``at`` (:func:`phrase_twins`): (token, bucket)."""
    n = line.shape[1]
    best_token, best_bucket, best_agree, best_pairs = -1, 0, -1.0, -1
    for k in range(len(offsets)):
        o = offsets[k]
        if at + o < 0 or at + o >= n or line[r, at + o] < 0:
            continue
        pairs = alike = 0
        for j in range(1, window + 1):
            for p in (at - j, at + j):
                q = p + o
                if p < 0 or p >= n or q < 0 or q >= n:
                    continue
                a, b = line[r, p], line[r, q]
                if a < 0 or b < 0 or (a == hold and b == hold):
                    continue
                pairs += 1
                if a == b:
                    alike += 1
        agree = alike / pairs if pairs > 0 else 0.0
        if agree > best_agree or (agree == best_agree and pairs > best_pairs):
            best_token, best_agree, best_pairs = line[r, at + o], agree, pairs
            best_bucket = 0 if pairs < min_pairs else \
                1 + min(buckets - 1, int(agree * buckets))
    return best_token, best_bucket


@njit(cache=True, nogil=True)
def phrase_twins(line, at, offsets, window, hold, min_pairs, buckets, token_out, bucket_out):
    """:meth:`engine.generation.phrase.PhraseCopy.twins` for every row of ``line`` (the
    rows' timelines, -1 unknown) at place ``at``: per row, the token of the twin (at
    ``at`` plus one of ``offsets``, nearer first) whose ``window`` places either side
    agree best with ``at``'s (pairs both known, not both ``hold``; ties to more pairs,
    then the nearer), into ``token_out`` (-1: none known), and its agreement bucket
    into ``bucket_out`` (0: fewer than ``min_pairs`` pairs)."""
    for r in range(line.shape[0]):
        token_out[r], bucket_out[r] = _twin(line, r, at, offsets, window, hold, min_pairs,
                                            buckets)


@njit(cache=True, nogil=True)
def phrase_mix_log(line, at, offsets, window, hold, min_pairs, buckets, table, scale,
                   log_p):
    """:meth:`engine.generation.phrase.PhraseCopy.mix_log` in one call: each row's twin
    (:func:`phrase_twins`) gains its bucket's boost in ``table`` times ``scale``, in
    place in the log-probabilities ``log_p``, and its row loses
    ``log1p(p * expm1(boost))`` (``p`` the twin's probability before)."""
    for r in range(line.shape[0]):
        token, bucket = _twin(line, r, at, offsets, window, hold, min_pairs, buckets)
        if token < 0:
            continue
        boost = table[bucket] * scale
        if boost == 0.0:
            continue
        less = math.log1p(math.exp(log_p[r, token]) * math.expm1(boost))
        for v in range(log_p.shape[1]):
            log_p[r, v] -= less
        log_p[r, token] += boost


def warm() -> float:
    """Compile (or load from the cache) every kernel for every type a memory uses, by
    running each on a tiny memory; the seconds it took.  Once a process."""
    global warm_seconds
    with _warm_lock:
        if _warmed.is_set():
            return 0.0
        t0 = time.perf_counter()
        vocab, orders, bits = 5, 3, 6
        for dtype in (np.uint16, np.uint32):
            table = np.zeros((1, 64, vocab + 3), dtype=dtype)
            trie = np.full((1, 1 << bits, 2), EMPTY, dtype=np.int64)
            ctx = np.zeros((1, orders), dtype=np.int64)
            ctx[0, 0] = 1
            depth = np.ones(1, dtype=np.int64)
            size = np.full(1, 2, dtype=np.int64)
            seen = np.zeros(1, dtype=np.int64)
            feed_rows(table, trie, ctx, depth, size, seen,
                      np.array([1, 2, 1], dtype=np.int64), np.ones(3, dtype=np.int64),
                      vocab, bits)
            p_mem = np.empty((1, vocab))
            update_rows(table, trie, ctx, depth, size, seen,
                        np.array([2], dtype=np.int64), 1, vocab, bits, _ADDRESS, _WIDE,
                        COMPACT, p_mem)
            trie = rehash(trie, bits + 1)
            distribution_rows(table, ctx, seen, vocab, _ADDRESS, _WIDE, COMPACT, p_mem)
            z = np.zeros((1, vocab))
            for ready in (False, True):
                for logits in (z, np.zeros((1, vocab), dtype=np.float32)):
                    prepare_step(table, ctx, seen, vocab, _ADDRESS, _WIDE, COMPACT, ready,
                                 p_mem, logits, z, p_mem)
            p_net = np.exp(z)
            for hand in (np.zeros(0, dtype=np.int64), np.array([0], dtype=np.int64)):
                for exact, given in ((False, False), (True, False), (False, True)):
                    mix_step(p_net.copy(), z, p_mem.copy(), seen, hand, np.full(60, 0.5),
                             np.array([0.3, 0.6, 0.9]), np.array([0.5, 1.2]), np.empty(1),
                             np.empty((2, 1)), exact, given, np.empty(vocab))
        line = np.array([[1, 0, 2, -1, 1, 0, 2, 0]], dtype=np.int64)
        offsets = np.array([-2, 2], dtype=np.int64)
        phrase_twins(line, 3, offsets, 3, 0, 1, 4, np.empty(1, dtype=np.int64),
                     np.empty(1, dtype=np.int64))
        phrase_mix_log(line, 3, offsets, 3, 0, 1, 4, np.ones(5), 1.0, np.zeros((1, 3)))
        z = np.zeros((2, 5))
        less_top(z)
        share_onto(np.exp(z), np.array([1, 2], dtype=np.int64), 0.5)
        share_onto_source(np.exp(z), np.array([0.5, 1.0]), np.array([0.3, 0.9]),
                          np.array([1, 2], dtype=np.int64), 0.5)
        warm_seconds = time.perf_counter() - t0
        _warmed.set()
        logging.getLogger(__name__).info(
            "the motif memory's compiled steps ready in %.2f s (%s)", warm_seconds,
            "compiled, kept in numba's cache" if warm_seconds > 2.0 else "from the cache")
        return warm_seconds


def warmed() -> bool:
    """Whether :func:`warm` has finished in this process."""
    return _warmed.is_set()


def warm_in_background() -> threading.Thread | None:
    """:func:`warm` in a daemon thread (None if done already): what starts the
    generation service calls this, so that compiling never waits for a user."""
    if _warmed.is_set():
        return None
    thread = threading.Thread(target=warm, name="memory-kernels-warm", daemon=True)
    thread.start()
    return thread
