"""The motif memory's compiled steps (engine/generation/memory_kernels.py) against the
numpy memory they replaced (tests/engine/memory_reference.py, the code of commit 65aac26
kept for the tests): on random token streams, one row and four, several phase periods
and orders, the same counts, tries, contexts and distributions, and the mixers the same
log-probabilities, bit for bit where numpy's BLAS was found (every numpy wheel), else to
1e-12.  Also numpy's pairwise sum, the warm-up, and that the live accompanist never
loads the compiler.  No timing is asserted."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.generation import memory, memory_kernels
from engine.generation.memory import MemoryMixer, Mixing, MotifMemory
from tests.engine import memory_reference as reference

ROOT = Path(__file__).resolve().parents[2]


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit where the products are numpy's own dgemv, else to 1e-12 (NaN equal)."""
    if memory_kernels.BLAS:
        return np.array_equal(a, b, equal_nan=True)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=0, atol=1e-12, equal_nan=True))


def tune(rng: np.random.Generator, vocab: int, length: int) -> list[int]:
    """Figures repeated with a few strays: contexts recur at every order."""
    figures = [rng.integers(0, vocab, int(rng.integers(3, 9))).tolist() for _ in range(4)]
    out: list[int] = []
    while len(out) < length:
        out += figures[int(rng.integers(0, 4))] if rng.random() < 0.8 else \
            [int(rng.integers(0, vocab))]
    return out[:length]


def assert_same_memory(new: MotifMemory, old) -> None:
    used = new.sizes
    assert used == list(old._size) and new.step == old.step
    n = max(used)
    assert np.array_equal(new.table[:, :n], old.table[:, :n])
    for r in range(new.rows):
        assert new.children(r) == old._children[r]
    assert np.array_equal(new.ctx, old.ctx)
    assert np.array_equal(new.seen, old.seen)
    assert same(new.distribution(), old.distribution())


@pytest.mark.parametrize("rows", [1, 4])
@pytest.mark.parametrize("period", [1, 2, 3, 4, 12])
def test_random_streams_count_and_predict_as_the_numpy_memory(rows, period):
    rng = np.random.default_rng(100 * rows + period)
    for trial in range(4):
        vocab = int(rng.integers(4, 160))
        order = int(rng.choice([0, 1, 3, 10, 24]))
        dtype = np.uint16 if trial % 2 else np.uint32
        step = int(rng.integers(0, 50))
        new = MotifMemory(vocab, rows, order, capacity=64, dtype=dtype, period=period,
                          step=step)
        old = reference.MotifMemory(vocab, rows, order, capacity=64, dtype=dtype,
                                    period=period, step=step)
        heard = tune(rng, vocab, int(rng.integers(0, 60)))
        for m in (new, old):
            m.break_context(step - 7)
            m.feed(heard)
            m.break_context(step)
            m.feed(tune(np.random.default_rng(trial), vocab, 40))
        assert_same_memory(new, old)
        stream = np.array([tune(rng, vocab, 150) for _ in range(rows)]).T  # [step, row]
        for t, tokens in enumerate(stream):
            assert same(new.distribution(), old.distribution()), t
            assert np.array_equal(new.seen, old.seen)
            new.update(tokens)
            old.update(tokens)
            if t == 60:
                new.break_context()
                old.break_context()
        assert_same_memory(new, old)


def test_a_drum_memory_predicts_as_the_numpy_memory_with_the_product_made_small():
    """The drum model's shape (454 tokens, contexts of 24, 12 phases, 4 rows), a groove
    of two bars with strays: the same distributions as the numpy memory at every step,
    and the same with the product over every token (``compact`` off)."""
    rng = np.random.default_rng(12)
    vocab, order, period, rows = 454, 24, 12, 4
    bars = [rng.integers(0, 60, 48).tolist() for _ in range(2)]
    seed = bars[0] + bars[1] + bars[0]
    new = MotifMemory(vocab, 1, order, period=period).seeded_copy(rows, 64)
    old = reference.MotifMemory(vocab, rows, order, period=period)
    new.feed(seed)
    old.feed(seed)
    out = np.empty((rows, vocab))
    for t in range(300):
        p = new.distribution()
        assert same(p, old.distribution()), t
        memory_kernels.distribution_rows(new._table, new._ctx, new._seen, vocab,
                                         memory_kernels._ADDRESS, memory_kernels._WIDE,
                                         False, out)
        assert same(p, out), t
        tokens = np.array([bars[(t // 48 + r) % 2][t % 48] if rng.random() < 0.9
                           else int(rng.integers(0, vocab)) for r in range(rows)])
        new.update(tokens)
        old.update(tokens)
    assert_same_memory(new, old)


def test_copies_and_repeated_rows_are_the_numpy_memorys():
    rng = np.random.default_rng(5)
    vocab, order, period = 40, 8, 4
    seed = tune(rng, vocab, 120)
    new = MotifMemory(vocab, 1, order, period=period)
    old = reference.MotifMemory(vocab, 1, order, period=period)
    new.feed(seed)
    old.feed(seed)
    new4, old4 = new.seeded_copy(4, 300), old.seeded_copy(4, 300)
    assert_same_memory(new4, old4)
    new4.repeat_rows(2)
    old4.repeat_rows(2)
    assert_same_memory(new4, old4)
    for _ in range(80):
        tokens = rng.integers(0, vocab, 8)
        new4.update(tokens)
        old4.update(tokens)
    assert_same_memory(new4, old4)
    assert_same_memory(new, old)  # the copies left the seeded one as it was


def _mixing(rng, method: str, order: int, period: int, hand: tuple[int, ...]) -> Mixing:
    return Mixing(method, weight=0.2, bias=1.5, max_order=order, phase_period=period,
                  network_tokens=hand,
                  table=tuple(rng.uniform(0.02, 0.95, Mixing.buckets_for(order)))
                  if method == "adaptive" else ())


@pytest.mark.parametrize("rows", [1, 4])
@pytest.mark.parametrize("method", ["adaptive", "linear", "entropy", "geometric"])
def test_the_mixers_give_the_numpy_mixers_log_probabilities(rows, method):
    rng = np.random.default_rng(rows + len(method))
    for period, hand, share, cheap in ((1, (), 1.0, True), (4, (2,), 1.0, True),
                                       (3, (0, 5), 1.1, False), (12, (1,), 0.6, True)):
        vocab, order = int(rng.integers(8, 140)), int(rng.choice([2, 6, 10]))
        mixing = _mixing(rng, method, order, period, hand)
        prefix = tune(rng, vocab, 90)
        heard = tune(rng, vocab, 30)
        kw = dict(heard=heard, steps=64, start_step=95, heard_step=3, share=share)
        new = MemoryMixer(vocab, rows, prefix, mixing, **kw)
        old = reference.MemoryMixer(vocab, rows, prefix, mixing, **kw)
        new.cheap_entropy = old.cheap_entropy = cheap
        for t in range(64):
            scale = 0.3 if t % 5 == 0 else 3.0  # flat networks too (high entropy)
            logits = (rng.standard_normal((rows, vocab)) * scale).astype(np.float32)
            assert same(new(logits), old(logits)), (period, t)
            tokens = np.array([prefix[(7 * t + r) % len(prefix)] if rng.random() < 0.7
                               else int(rng.integers(0, vocab)) for r in range(rows)])
            new.update(tokens)
            old.update(tokens)


def rows_at_entropy_edges(vocab: int, edges, entropy) -> list[np.ndarray]:
    """Logit rows whose ``entropy`` (a function of the first logit, the others 0) lies on
    either side of each edge, found by bisection to within 1e-12; then a row holding NaN."""
    rows = []
    for edge in edges:  # the entropy falls as the first logit grows
        lo, hi = 0.0, 30.0
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if entropy(mid) > edge else (lo, mid)
        assert abs(entropy(lo) - edge) < 1e-12
        for a in (lo, hi):
            row = np.zeros(vocab)
            row[0] = a
            rows.append(row)
    nan = np.zeros(vocab)
    nan[3] = np.nan
    rows.append(nan)
    return rows


def test_an_entropy_at_a_buckets_edge_or_nan_mixes_as_the_numpy_mixer():
    """Logits whose network entropy is within 1e-12 of a bucket's edge (worked out with
    numpy's log there), and logits holding NaN."""
    rng = np.random.default_rng(2)
    vocab, order = 12, 5
    mixing = _mixing(rng, "adaptive", order, 2, (1,))
    prefix = rng.integers(0, vocab, 30).tolist()

    def entropy(a: float) -> float:
        z = np.zeros(vocab)
        z[0] = a
        z -= z.max()
        p = np.exp(z)
        p /= p.sum()
        return float(-(p * np.log(p)).sum())

    rows = rows_at_entropy_edges(vocab, memory.ENTROPY_EDGES, entropy)
    for k in (1, 3):
        logits = np.array([rows[(i + k) % len(rows)] for i in range(k)])
        for row in rows:
            logits[0] = row
            new = MemoryMixer(vocab, k, prefix, mixing)
            old = reference.MemoryMixer(vocab, k, prefix, mixing)
            with np.errstate(invalid="ignore"):
                assert same(new(logits), old(logits))


def test_memory_distributions_are_the_numpy_ones():
    rng = np.random.default_rng(9)
    tokens = tune(rng, 50, 300)
    for period in (1, 4):
        p, longest = memory.memory_distributions(tokens, 50, 10, period)
        q, old_longest = reference.memory_distributions(tokens, 50, 10, period)
        assert same(p, q) and np.array_equal(longest, old_longest)


def test_the_pairwise_sum_is_numpys():
    rng = np.random.default_rng(0)
    sizes = list(range(1, 300)) + list(range(300, 4000, 37)) + [7201, 20011]
    for n in sizes:
        a = rng.random(n) * 10.0 ** rng.uniform(-5, 5, n)
        assert memory_kernels._pairwise(a, 0, n) == np.add.reduce(a), n


def test_numpys_blas_is_found_on_a_numpy_wheel():
    """A numpy wheel carries its OpenBLAS beside it: the products are its dgemv."""
    libs = list((Path(np.__file__).parent.parent / "numpy.libs").glob("*openblas*"))
    if not libs:
        pytest.skip("numpy without a bundled OpenBLAS: the products are a plain loop")
    assert memory_kernels.BLAS


def test_warming_compiles_every_kernel_once():
    memory_kernels.warm()
    assert memory_kernels.warmed() and memory_kernels.warm_seconds is not None
    assert memory_kernels.warm() == 0.0 and memory_kernels.warm_in_background() is None
    for kernel in (memory_kernels.update_rows, memory_kernels.feed_rows,
                   memory_kernels.distribution_rows, memory_kernels.prepare_step,
                   memory_kernels.mix_step, memory_kernels.rehash):
        assert kernel.signatures, kernel
    # a generation's memory asks for no signature the warm-up did not compile
    compiled = {k: len(k.signatures) for k in (memory_kernels.update_rows,
                                               memory_kernels.feed_rows,
                                               memory_kernels.prepare_step,
                                               memory_kernels.mix_step)}
    rng = np.random.default_rng(1)
    mixing = _mixing(rng, "adaptive", 6, 4, (1,))
    for rows, dtype_steps in ((1, 64), (4, 64)):
        mixer = MemoryMixer(30, rows, tune(rng, 30, 50), mixing, steps=dtype_steps)
        for _ in range(5):
            mixer(rng.standard_normal((rows, 30)).astype(np.float32))
            mixer.update(rng.integers(0, 30, rows).astype(np.int32))
    assert {k: len(k.signatures) for k in compiled} == compiled


def test_the_live_accompanist_never_runs_a_compiled_memory_step():
    """The live harmoniser and drummer (what the accompanist calls on every note) over
    a melody and a drum part, in a fresh process: no kernel of the memory was compiled
    or loaded, so none can compile on a note."""
    code = """
import numpy as np
from engine.models import ModelLibrary
from engine.generation import memory_kernels as k
from engine.generation.live_drums import drums_steps
from engine.generation.live_harmony import harmonise_steps
library = ModelLibrary()
melody = [(60 + (i // 2) % 7 if i % 8 != 7 else None, i % 2 == 0) for i in range(64)]
harmonise_steps(library.get("poly-wavenet"), melody, voices=3, rng_seed=1)
drums_steps(library.get("drums-lstm"), [[36] if i % 12 == 0 else [] for i in range(96)])
print(sum(len(f.signatures) for f in (k.update_rows, k.feed_rows, k.distribution_rows,
                                      k.prepare_step, k.mix_step, k.rehash)))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


def test_a_share_of_zero_never_asks_the_memory():
    rng = np.random.default_rng(4)
    mixing = replace(_mixing(rng, "adaptive", 4, 4, (1,)))
    off = MemoryMixer(20, 2, tune(rng, 20, 40), mixing, share=0.0)
    step = off.memory.step
    for _ in range(5):
        off(rng.standard_normal((2, 20)))
        off.update(rng.integers(0, 20, 2))
    assert off.memory.step == step


def _groove_numpy(z, tokens, share):
    """drum_memory.GrooveTake's numpy steps after the seed bar's tokens are known."""
    z = np.array(z, dtype=np.float64)
    z -= np.maximum.reduce(z, axis=1, keepdims=True)
    p = np.exp(z, out=z)
    p *= (1.0 - share) / np.add.reduce(p, axis=1, keepdims=True)
    p[np.arange(len(p)), tokens] += share
    return np.log(np.maximum(p, 1e-300, out=p), out=p)


@pytest.mark.parametrize("vocab", [5, 128, 454, 1000])
def test_the_groove_steps_are_numpys(vocab):
    """less_top, exp, share_onto, log (GrooveTake after the memory) give numpy's numbers
    to the bit: wide and narrow rows, tiny probabilities, a NaN, a row of -inf."""
    rng = np.random.default_rng(vocab)
    for trial in range(30):
        rows = int(rng.integers(1, 6))
        z = rng.standard_normal((rows, vocab)) * rng.choice([0.5, 5.0, 400.0])
        if trial % 7 == 3:
            z[0, rng.integers(vocab)] = np.nan
        if trial % 7 == 5 and rows > 1:
            z[1] = -np.inf
        tokens = rng.integers(0, vocab, rows)
        share = float(rng.choice([0.95, 0.99, 0.5, 1e-3]))
        want = _groove_numpy(z, tokens, share)
        got = z.copy()
        memory_kernels.less_top(got)
        p = np.exp(got, out=got)
        memory_kernels.share_onto(p, tokens, share)
        np.log(p, out=p)
        np.testing.assert_array_equal(got, want)
        assert np.signbit(got[~np.isnan(got)]).tolist() == \
            np.signbit(want[~np.isnan(want)]).tolist()


def test_the_groove_picks_the_seed_step_as_searchsorted_does():
    """share_onto_source picks each row's seed step by bisection as
    SeedGroove.source_tokens does (draws on and between the running sums, and the last)."""
    rng = np.random.default_rng(7)
    for trial in range(50):
        n, rows, vocab = int(rng.integers(1, 40)), int(rng.integers(1, 6)), 60
        weights = rng.random(n) * (rng.random(n) < 0.6)
        running = np.cumsum(weights)
        if running[-1] == 0:
            running[-1] = 1.0
        window = rng.integers(0, vocab, n)
        draws = rng.random(rows)
        draws[0] = running[int(rng.integers(n))] / running[-1]  # on a running sum
        tokens = window[np.minimum(np.searchsorted(running, draws * running[-1], "right"),
                                   n - 1)]
        z = rng.standard_normal((rows, vocab))
        want = np.exp(z)
        memory_kernels.share_onto(want, tokens, 0.95)
        got = np.exp(z)
        memory_kernels.share_onto_source(got, running, draws, window, 0.95)
        np.testing.assert_array_equal(got, want)
