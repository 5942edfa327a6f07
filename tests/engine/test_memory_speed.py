"""The motif memory's faster paths (engine/generation/memory.py) give what the plain ones
give: feeding a seed in one pass counts exactly what feeding it token by token counts,
the generation step's in-place mixing is :func:`mix`, every way of working out a step
(one row in Python floats, several rows, numpy's rows) gives the same log-probabilities
bit for bit over a real 256-step generation, a share of 0 skips the memory with the same
numbers, and bench/generation.py's ``--baseline`` worker answers on a real checkout.  No
timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.encodings import DEFAULT_ENCODING
from engine.formats import midi_file_to_song
from engine.generation.generator import GenerationSettings, generate
from engine.generation.memory import (CONFIDENCE_EDGES, ENTROPY_EDGES, MemoryMixer, Mixing,
                                      MotifMemory, mix, mixing_for, softmax)
from engine.models import ModelLibrary
from tests.engine import memory_reference as reference
from tests.engine.test_memory_kernels import rows_at_entropy_edges, same

ROOT = Path(__file__).resolve().parents[2]


def token_by_token(vocab, tokens, max_order, period, step=0, heard=()):
    """A one-row memory fed through update(), one token at a time."""
    memory = MotifMemory(vocab, 1, max_order, period=period, step=step)
    if heard:
        memory.break_context(step - len(heard))
        for t in heard:
            memory.update([t])
        memory.break_context(step)
    for t in tokens:
        memory.update([t])
    return memory


@pytest.mark.parametrize("period", [1, 4])
def test_feeding_in_one_pass_counts_what_feeding_token_by_token_counts(period):
    rng = np.random.default_rng(3)
    vocab = 9
    # a tune-like sequence: a few figures repeated, so contexts recur at every order
    figures = [rng.integers(0, vocab, 6).tolist() for _ in range(3)]
    tokens = [t for i in rng.integers(0, 3, 40) for t in figures[i]]
    heard = tokens[:30]
    for rows in (1, 3):
        fast = MotifMemory(vocab, rows, 7, period=period, step=5)
        fast.break_context(5 - len(heard))
        fast.feed(heard)
        fast.break_context(5)
        fast.feed(tokens)
        slow = token_by_token(vocab, tokens, 7, period, step=5, heard=heard)
        used = slow.sizes[0]
        assert fast.sizes == [used] * rows and fast.step == slow.step
        for r in range(rows):
            assert np.array_equal(fast.table[r, :used], slow.table[0, :used])
            assert fast.children(r) == slow.children(0)
            assert np.array_equal(fast.ctx[r], slow.ctx[0])
        assert np.array_equal(fast.distribution(), np.repeat(slow.distribution(), rows, 0))


def test_a_long_feed_grows_the_table_as_token_by_token_does():
    rng = np.random.default_rng(8)
    tokens = rng.integers(0, 5, 400).tolist()
    fast = MotifMemory(5, 1, 12, capacity=64)
    fast.feed(tokens)
    slow = token_by_token(5, tokens, 12, 1)
    used = slow.sizes[0]
    assert fast.sizes[0] == used and fast._cap >= used
    assert np.array_equal(fast.table[0, :used], slow.table[0, :used])


def test_the_generation_step_mixes_as_mix_does():
    """MemoryMixer's adaptive step (in place, buckets by table look-up) against the
    reference mix(): the same distribution to rounding."""
    rng = np.random.default_rng(1)
    vocab, order = 12, 6
    buckets = Mixing.buckets_for(order)
    mixing = Mixing("adaptive", max_order=order, network_tokens=(1,),
                    table=tuple(rng.uniform(0.05, 0.9, buckets)))
    prefix = rng.integers(0, vocab, 50).tolist()
    mixer = MemoryMixer(vocab, 3, prefix, mixing, steps=40)
    reference = MotifMemory(vocab, 3, order)
    reference.feed(prefix)
    seen_buckets = set()
    for _ in range(40):
        logits = rng.standard_normal((3, vocab)).astype(np.float32) * 2
        fast = np.exp(mixer(logits))
        p_mem = reference.distribution()
        slow = mix(softmax(logits), p_mem, mixing, reference.longest)
        assert np.abs(fast - slow).max() < 1e-12
        confidence = np.digitize(p_mem.max(axis=1), CONFIDENCE_EDGES)
        seen_buckets.update(((reference.longest + 1) * (len(CONFIDENCE_EDGES) + 1)
                             + confidence).tolist())
        tokens = rng.integers(0, vocab, 3)
        mixer.update(tokens)
        reference.update(tokens)
    assert len(seen_buckets) > 3  # the look-up was asked for several buckets
    assert len(ENTROPY_EDGES) == 2


def test_every_way_of_working_out_a_step_gives_the_same_log_probabilities():
    """A real generation (lstm, 256 steps, 3 variations, its network's logits and the
    tokens drawn) replayed through the memory: each variation in a mixer of its own,
    all three in one, and the numpy memory from before it was compiled
    (tests/engine/memory_reference.py) with its weights in numpy for every row at once.
    Their log-probabilities are array_equal at every step: the compiled steps do the
    same floating point operations in the same order (where numpy's BLAS was found, as
    on every numpy wheel; else to 1e-12)."""
    library = ModelLibrary([ROOT / "models"])
    song = midi_file_to_song(ROOT / "tests" / "engine" / "data" / "golden_seed.mid")
    settings = GenerationSettings(model="lstm", steps=256, variations=3, rng_seed=5)
    result = generate(library, song, settings, record_logits=True)
    # [step, variation, vocab] and [variation, step]
    logits, tokens = np.asarray(result.logits).transpose(1, 0, 2), np.array(result.tokens)
    assert logits.shape[:2] == (256, 3) and tokens.shape == (3, 256)
    prefix = DEFAULT_ENCODING.song_to_tokens(song)
    mixing = mixing_for("lstm")
    assert mixing.method == "adaptive" and mixing.network_tokens and mixing.phase_period > 1
    alone = [MemoryMixer(logits.shape[2], 1, prefix, mixing, steps=256) for _ in range(3)]
    together = MemoryMixer(logits.shape[2], 3, prefix, mixing, steps=256)
    in_numpy = reference.MemoryMixer(logits.shape[2], 3, prefix, mixing, steps=256)
    in_numpy.memory.rows_in_python = 0
    moved = 0.0
    for step in range(256):
        want = together(logits[step])
        assert np.isfinite(want).all()
        moved = max(moved, np.abs(np.exp(want) - softmax(logits[step])).max())
        for r, mixer in enumerate(alone):
            assert np.array_equal(mixer(logits[step, r:r + 1])[0], want[r]), (step, r)
            mixer.update(tokens[r, step:step + 1])
        assert same(in_numpy(logits[step]), want), step
        in_numpy.update(tokens[:, step])
        together.update(tokens[:, step])
    # the memory moved the network: the paths were asked something worth asking
    assert moved > 0.1


def test_at_a_share_of_0_the_memory_is_skipped_and_the_numbers_are_the_same():
    """The repeat control at -2 (a share of 0): the network's log-probabilities moved 0
    times the memory's way are the network's own, so the memory is neither asked nor
    fed, and the result is what moving them by 0 times the mixing gives."""
    rng = np.random.default_rng(4)
    vocab, order = 12, 6
    mixing = Mixing("adaptive", max_order=order, network_tokens=(1,), phase_period=4,
                    table=tuple(rng.uniform(0.05, 0.9, Mixing.buckets_for(order))))
    prefix = rng.integers(0, vocab, 40).tolist()
    off = MemoryMixer(vocab, 2, prefix, mixing, share=0.0)
    full = MemoryMixer(vocab, 2, prefix, mixing)
    step = off.memory.step
    for _ in range(30):
        logits = (rng.standard_normal((2, vocab)) * 3).astype(np.float32)
        z = logits.astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        log_net = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        log_p = log_net + 0.0 * (full(logits) - log_net)
        log_p -= log_p.max(axis=1, keepdims=True)
        assert np.array_equal(off(logits), log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True)))
        tokens = rng.integers(0, vocab, 2)
        off.update(tokens)
        full.update(tokens)
    assert off.memory.step == step  # never fed


def test_the_baseline_worker_times_this_checkout():
    worker = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "generation_worker.py"), str(ROOT),
         str(ROOT / "models"), str(ROOT / "assets" / "default_seed.mid")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
    try:
        def ask(**q):
            worker.stdin.write(json.dumps(q) + "\n")
            worker.stdin.flush()
            return json.loads(worker.stdout.readline())

        models = ask(op="models")
        assert "lstm" in models["melody"] and "poly-wavenet" in models["polyphonic"]
        timed = ask(op="time", model="lstm", variations=1, memory=True, poly=False)
        assert timed["cpu_ms"] > 0 and timed["wall_ms"] > 0
        assert "error" in ask(op="time", model="no-such-model", variations=1, memory=False,
                              poly=False)
    finally:
        worker.stdin.close()
        worker.wait(timeout=60)
    assert worker.returncode == 0


def test_the_cheap_entropy_gives_the_plain_log_probabilities():
    """A single row's network entropy only picks a bucket, so the mixer sums it with one
    dot product (and as mix() sums it near a bucket's edge): a real lstm generation
    replayed through a mixer that always sums it as mix() does gives the same
    log-probabilities at every step, with the melody's NOTE_OFF handed to the network
    and without (as the drum and part memories mix)."""
    library = ModelLibrary([ROOT / "models"])
    song = midi_file_to_song(ROOT / "tests" / "engine" / "data" / "golden_seed.mid")
    settings = GenerationSettings(model="lstm", steps=256, variations=1, rng_seed=11)
    result = generate(library, song, settings, record_logits=True)
    logits, tokens = np.asarray(result.logits).transpose(1, 0, 2), np.array(result.tokens)
    prefix = DEFAULT_ENCODING.song_to_tokens(song)
    for mixing in (mixing_for("lstm"), replace(mixing_for("lstm"), network_tokens=())):
        cheap = MemoryMixer(logits.shape[2], 1, prefix, mixing, steps=256)
        plain = MemoryMixer(logits.shape[2], 1, prefix, mixing, steps=256)
        plain.cheap_entropy = False
        for step in range(256):
            assert np.array_equal(cheap(logits[step]), plain(logits[step])), step
            for m in (cheap, plain):
                m.update(tokens[:, step])


def test_an_entropy_at_a_buckets_edge_is_summed_as_mix_sums_it():
    """Logits whose network entropy is within 1e-12 of each bucket's edge give the same
    log-probabilities summed the cheap way as summed as mix() sums it; so do logits
    holding NaN."""
    rng = np.random.default_rng(2)
    vocab, order = 12, 5
    mixing = Mixing("adaptive", max_order=order, network_tokens=(1,), phase_period=2,
                    table=tuple(rng.uniform(0.05, 0.9, Mixing.buckets_for(order))))
    prefix = rng.integers(0, vocab, 30).tolist()

    def entropy(a: float) -> float:
        z = np.zeros((1, vocab))
        z[0, 0] = a
        z -= z.max()
        p = np.exp(z)
        total = p.sum()
        p /= total
        return float(np.log(total)) - float((p * z).sum())

    rows = rows_at_entropy_edges(vocab, ENTROPY_EDGES, entropy)
    for row in rows:
        cheap = MemoryMixer(vocab, 1, prefix, mixing)
        plain = MemoryMixer(vocab, 1, prefix, mixing)
        plain.cheap_entropy = False
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(cheap(row[None]), plain(row[None]))


def _fed_the_old_way(vocab, rows, prefix, mixing, steps, heard=(), start_step=None,
                     heard_step=None) -> MotifMemory:
    """The memory a MemoryMixer was built with before seeded memories were kept: a new
    MotifMemory of every row, fed the heard music and the prefix token by token."""
    fed = len(prefix) + len(heard)
    capacity = 1 + mixing.phase_period + (fed + steps) * max(1, mixing.max_order)
    start = len(prefix) if start_step is None else start_step
    first = start - len(prefix)
    memory = MotifMemory(vocab, rows, mixing.max_order, capacity, np.uint16,
                         mixing.phase_period, first)
    if len(heard):
        memory.break_context(first - len(heard) if heard_step is None else heard_step)
        memory.feed(heard)
        memory.break_context(first)
    memory.feed(prefix)
    return memory


def test_a_seed_fed_before_is_copied_and_gives_the_same_log_probabilities():
    """A mixer on a seed fed before copies the kept memory instead of walking the seed
    again: a real lstm generation (3 variations) replayed through a mixer built cold
    (nothing kept), one built warm (copying what the first kept, after the first has
    generated: the kept memory is never changed) and one whose memory is fed the old
    way, the fill's way too (heard music, then the prefix): array_equal at every step,
    and the memories hold the same counts and contexts before the first step."""
    from engine.generation import memory as memory_module

    library = ModelLibrary([ROOT / "models"])
    song = midi_file_to_song(ROOT / "tests" / "engine" / "data" / "golden_seed.mid")
    settings = GenerationSettings(model="lstm", steps=64, variations=3, rng_seed=7)
    result = generate(library, song, settings, record_logits=True)
    logits, tokens = np.asarray(result.logits).transpose(1, 0, 2), np.array(result.tokens)
    prefix = DEFAULT_ENCODING.song_to_tokens(song)
    mixing = mixing_for("lstm")
    vocab = logits.shape[2]
    for kw in ({}, {"heard": prefix[-20:][::-1], "start_step": len(prefix) + 3}):
        memory_module._SEEDED.clear()
        cold = MemoryMixer(vocab, 3, prefix, mixing, steps=64, **kw)
        assert len(memory_module._SEEDED) == 1
        old = MemoryMixer(vocab, 3, prefix, mixing, steps=64, **kw)
        old.memory = _fed_the_old_way(vocab, 3, prefix, old.mixing, 64, **kw)
        used = old.memory.sizes[0]
        assert cold.memory.sizes == old.memory.sizes and cold.memory.step == old.memory.step
        assert np.array_equal(cold.memory.table[:, :used], old.memory.table[:, :used])
        assert [cold.memory.children(r) for r in range(3)] == \
            [old.memory.children(r) for r in range(3)]
        assert np.array_equal(cold.memory.ctx, old.memory.ctx)
        assert np.array_equal(cold.memory.seen, old.memory.seen)
        warm = None
        for step in range(64):
            want = old(logits[step])
            assert np.array_equal(cold(logits[step]), want), step
            if warm is not None:
                assert np.array_equal(warm(logits[step]), want), step
            for m in (old, cold) + ((warm,) if warm is not None else ()):
                m.update(tokens[:, step])
            if step == 0:  # the cold mixer has moved on: the kept memory has not
                warm = MemoryMixer(vocab, 3, prefix, mixing, steps=64, **kw)
                again = _fed_the_old_way(vocab, 3, prefix, old.mixing, 64, **kw)
                assert np.array_equal(warm(logits[0]), MemoryMixer.__call__(
                    _with_memory(old.mixing, again, vocab), logits[0]))
                warm.update(tokens[:, 0])
        # the same seed: one kept (the empty one is _with_memory's)
        assert [key[-1] for key in memory_module._SEEDED if key[-1]] == [tuple(prefix)]


def _with_memory(mixing, memory, vocab):
    mixer = MemoryMixer(vocab, memory.rows, [], mixing)
    mixer.memory = memory
    return mixer


def test_only_the_latest_seeded_memories_are_kept():
    from engine.generation import memory as memory_module

    memory_module._SEEDED.clear()
    rng = np.random.default_rng(1)
    mixing = Mixing("linear", max_order=5, phase_period=2)
    seeds = [rng.integers(0, 9, 30).tolist() for _ in range(memory_module.SEEDED_KEPT + 2)]
    for seed in seeds:
        MemoryMixer(9, 2, seed, mixing)
    assert len(memory_module._SEEDED) == memory_module.SEEDED_KEPT
    kept = {key[-1] for key in memory_module._SEEDED}
    assert kept == {tuple(s) for s in seeds[-memory_module.SEEDED_KEPT:]}
    # a memory whose counts take more than SEEDED_MAX_BYTES (a long drum seed's) is not
    # kept, and still built as before
    long_seed = rng.integers(0, 454, 400).tolist()
    drums = Mixing("linear", max_order=24, phase_period=12)
    big = MemoryMixer(454, 2, long_seed, drums)
    assert tuple(long_seed) not in {key[-1] for key in memory_module._SEEDED}
    assert big.memory.table.nbytes > memory_module.SEEDED_MAX_BYTES
    old = _fed_the_old_way(454, 2, long_seed, drums, 512)
    assert np.array_equal(big.memory.distribution(), old.distribution())


def test_a_card_added_rewritten_or_removed_is_read_again(tmp_path, monkeypatch):
    """mixing_for reads a card's memory section again when a card in the default
    folders is added, rewritten (even to the same size) or removed: the cards'
    signature (path, modification time, size of every ``*.json``) tells."""
    from engine.generation import memory as memory_module
    from engine.models.card import CARD_FORMAT

    monkeypatch.setenv("CONTINUO_MODELS_DIR", str(tmp_path))
    name = "signature-test-model"
    path = tmp_path / f"{name}.json"
    default = mixing_for(name)

    def write(weight: str, mtime_ns: int) -> None:
        card = {"format": CARD_FORMAT, "name": name,
                "memory": {"method": "linear", "weight": float(weight), "max_order": 6}}
        path.write_text(json.dumps(card))
        os.utime(path, ns=(mtime_ns, mtime_ns))

    write("0.3", 1_000_000_000_000)
    assert mixing_for(name) == Mixing("linear", weight=0.3, max_order=6)
    size = path.stat().st_size
    write("0.4", 2_000_000_000_000)
    assert path.stat().st_size == size
    assert mixing_for(name) == Mixing("linear", weight=0.4, max_order=6)
    signature = memory_module._cards_signature([tmp_path])
    assert signature == ((str(path), 2_000_000_000_000, size),)
    path.unlink()
    assert mixing_for(name) == default
    assert memory_module._cards_signature([tmp_path]) == ()
    assert memory_module._cards_signature([tmp_path / "missing"]) == ()
