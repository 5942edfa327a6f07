"""Training under tf.distribute: the strategies' set-up and a real two-worker run of
MultiWorkerMirroredStrategy on localhost (two processes, gradients all-reduced)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from training.distribute import (DistributeError, is_chief, replica_share, strategy_for,
                                 tf_config, worker_count)

ROOT = Path(__file__).resolve().parents[2]


def _config(index=0, workers=("localhost:1", "localhost:2"), **extra):
    return json.dumps({"cluster": {"worker": list(workers), **extra},
                       "task": {"type": "worker", "index": index}})


@pytest.mark.parametrize("value, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"task": {"type": "worker", "index": 0}}', "no 'cluster'"),
    ('{"cluster": {"worker": "localhost:1"}, "task": {"type": "worker", "index": 0}}',
     "list of 'host:port'"),
    ('{"cluster": {"ps": ["localhost:1"]}, "task": {"type": "ps", "index": 0}}',
     "'ps' job"),
    ('{"cluster": {"worker": ["localhost:1"]}}', "no 'task'"),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "chief", "index": 0}}',
     "task type 'chief' is not a job"),
    (_config(index=2), "task index 2 is not one of the 2"),
])
def test_multi_worker_needs_a_good_tf_config(monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(DistributeError, match=message):
        strategy_for("multi-worker")


def test_unknown_strategy():
    with pytest.raises(DistributeError, match="unknown strategy 'ring'"):
        strategy_for("ring")


def test_chief_and_worker_count(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert is_chief() and worker_count() == 1 and tf_config() is None
    monkeypatch.setenv("TF_CONFIG", _config(index=0))
    assert is_chief() and worker_count() == 2
    monkeypatch.setenv("TF_CONFIG", _config(index=1))
    assert not is_chief()
    monkeypatch.setenv("TF_CONFIG", _config(index=0, chief=["localhost:3"]))
    assert not is_chief() and worker_count() == 3


def test_replica_share_gives_every_replica_the_same_steps():
    # 2 workers of 1 replica: every other batch, the odd last one dropped
    assert replica_share(7, 2, 2, 0) == ([0, 2, 4], 3)
    assert replica_share(7, 2, 2, 1) == ([1, 3, 5], 3)
    # 2 workers of 2 replicas each: a step takes 4 consecutive batches
    assert replica_share(9, 4, 2, 1) == ([2, 3, 6, 7], 2)
    with pytest.raises(DistributeError):
        replica_share(8, 3, 2, 0)


def test_validation_batches_hold_every_tune_once():
    from training.train import even_batches

    rng = np.random.default_rng(0)
    tunes = [rng.integers(0, 38, int(rng.integers(1, 90))) for _ in range(9)]
    real_steps = sum(min(len(t), 65) - 1 for t in tunes if len(t) >= 2)
    for n in (2, 4, 12):
        batches = even_batches(tunes, n, max_len=64)
        assert len(batches) == n
        assert sum(float(w.sum()) for _, _, w in batches) == real_steps
        sizes = [len(x) for x, _, _ in batches]
        assert max(sizes) - min(sizes) <= 1 or min(sizes) == 0


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus(tmp_path):
    """Two replicas in one process (the CPU split in two, as two GPUs would be)."""
    code = """if True:
        import json, sys
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        from tests.training.distribute_worker import HP, SEED, tunes
        from training.train import train_model
        result = train_model(HP, tunes(48, 1), tunes(6, 2), epochs=1, batch_size=8,
                             max_len=64, seed=SEED, verbose=2, strategy=strategy)
        print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                          "steps": result.steps_per_epoch, "history": result.history}))
    """
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2 and report["steps"] == 6
    assert np.isfinite(report["history"]["val_loss"][0])
    assert "ran out of data" not in done.stderr


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_on_localhost_train_the_same_model(tmp_path):
    cluster = [f"localhost:{p}" for p in _free_ports(2)]
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    workers = []
    t0 = time.monotonic()
    for index in range(2):
        log = open(tmp_path / f"worker{index}.log", "w+")
        config = {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}
        workers.append((subprocess.Popen(
            [sys.executable, "-m", "tests.training.distribute_worker", str(tmp_path)],
            cwd=ROOT, env={**env, "TF_CONFIG": json.dumps(config)},
            stdout=subprocess.PIPE, stderr=log, text=True), log))
    reports = []
    try:
        for process, log in workers:
            stdout, _ = process.communicate(timeout=240)
            log.seek(0)
            assert process.returncode == 0, f"a worker failed:\n{log.read()[-4000:]}"
            reports.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for process, log in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    print(f"two workers trained in {time.monotonic() - t0:.0f} s")
    assert [r["index"] for r in reports] == [0, 1]
    assert [r["chief"] for r in reports] == [True, False]
    # 48 tunes in batches of 8 / 2 replicas = 12 batches: 6 steps of each worker per epoch
    assert reports[0]["steps"] == reports[1]["steps"] == 6
    assert reports[0]["epochs"] == reports[1]["epochs"] == 2
    assert reports[0]["val_loss"] == reports[1]["val_loss"]  # all-reduced metrics
    # one worker's "yes" is every worker's (how they agree to stop at the time budget)
    assert reports[0]["votes"] == reports[1]["votes"] == [True, False]
    # only the chief writes the checkpoint
    assert (tmp_path / "worker0" / "ckpt.weights.h5").exists()
    assert not (tmp_path / "worker1").exists()
    n = reports[0]["n_weights"]
    saved = [np.load(tmp_path / f"worker{i}.npz") for i in range(2)]
    arrays = [[s[f"arr_{k}"] for k in range(2 * n)] for s in saved]
    initial, final0, final1 = arrays[0][:n], arrays[0][n:], arrays[1][n:]
    for a, b in zip(final0, final1):  # the all-reduce keeps the replicas in step
        np.testing.assert_array_equal(a, b)
    assert any(not np.allclose(a, b) for a, b in zip(initial, final0))
