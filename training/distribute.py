"""Training under a ``tf.distribute`` strategy: one GPU, several, or several machines.

``python -m training train ... --strategy NAME`` picks one of :data:`STRATEGIES`:

* ``default``: TensorFlow's default strategy, one device; exactly the training of before.
* ``mirrored``: :class:`tf.distribute.MirroredStrategy`, one replica per local GPU (or
  the CPU when there is none), gradients summed across them every step.
* ``multi-worker``: :class:`tf.distribute.MultiWorkerMirroredStrategy`, the same command
  run once per machine (or process), each with its own ``TF_CONFIG``::

      {"cluster": {"worker": ["host0:12345", "host1:12345"]},
       "task": {"type": "worker", "index": 0}}

  The worker of index 0 is the chief (:func:`is_chief`): only it writes checkpoints, the
  exported model and its card.

The data side lives in :func:`training.train.train_model`: every replica builds the same
seeded list of batches and takes its own share of them (docs/training-at-scale.md).
This module imports TensorFlow only inside its functions.
"""

from __future__ import annotations

import json
import os
from typing import Any

from engine.errors import ContinuoError

STRATEGIES = ("default", "mirrored", "multi-worker")


class DistributeError(ContinuoError):
    """A strategy that cannot be set up: an unknown name, a missing or bad TF_CONFIG."""


def tf_config(required: bool = False) -> dict[str, Any] | None:
    """``TF_CONFIG`` read and checked: a cluster of ``worker`` (and at most one ``chief``)
    addresses and this process's ``task`` in it; None when the variable is not set (an
    error instead when ``required``)."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        if required:
            raise DistributeError(
                "--strategy multi-worker needs the TF_CONFIG environment variable on every "
                "worker, e.g. TF_CONFIG='{\"cluster\": {\"worker\": [\"host0:12345\", "
                "\"host1:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}' "
                "(docs/training-at-scale.md)")
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DistributeError(f"TF_CONFIG is not valid JSON ({e.msg} at character "
                              f"{e.pos}): {raw!r}") from None
    if not isinstance(config, dict):
        raise DistributeError(f"TF_CONFIG must be a JSON object with 'cluster' and 'task', "
                              f"not {raw!r}")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise DistributeError("TF_CONFIG has no 'cluster' object (e.g. {\"worker\": "
                              "[\"host0:12345\", \"host1:12345\"]})")
    for job, addresses in cluster.items():
        if job not in ("worker", "chief"):
            raise DistributeError(f"TF_CONFIG's cluster has a '{job}' job; multi-worker "
                                  f"training knows only 'worker' (and one 'chief')")
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and ":" in a for a in addresses)):
            raise DistributeError(f"TF_CONFIG's cluster '{job}' must be a list of "
                                  f"'host:port' addresses, not {addresses!r}")
    if len(cluster.get("chief", [])) > 1:
        raise DistributeError("TF_CONFIG's cluster has more than one 'chief'")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise DistributeError("TF_CONFIG has no 'task' with a 'type' and an 'index' (e.g. "
                              "{\"type\": \"worker\", \"index\": 0})")
    kind, index = task["type"], task["index"]
    if kind not in cluster:
        raise DistributeError(f"TF_CONFIG's task type '{kind}' is not a job of its cluster "
                              f"({', '.join(cluster)})")
    if not isinstance(index, int) or isinstance(index, bool) \
            or not 0 <= index < len(cluster[kind]):
        raise DistributeError(f"TF_CONFIG's task index {index!r} is not one of the "
                              f"{len(cluster[kind])} '{kind}' addresses")
    return config


def worker_count() -> int:
    """How many processes train together (1 without TF_CONFIG)."""
    config = tf_config()
    if config is None:
        return 1
    return sum(len(addresses) for addresses in config["cluster"].values())


def is_chief() -> bool:
    """Whether this process writes the files: the ``chief`` task, else worker 0, and any
    process that runs without TF_CONFIG."""
    config = tf_config()
    if config is None:
        return True
    kind, index = config["task"]["type"], config["task"]["index"]
    if "chief" in config["cluster"]:
        return kind == "chief"
    return kind == "worker" and index == 0


def strategy_for(name: str):
    """The ``tf.distribute`` strategy called ``name`` (one of :data:`STRATEGIES`).

    ``multi-worker`` reads the cluster from ``TF_CONFIG`` (checked first, so that a bad
    one is a clear error, not a hang); create it before any other TensorFlow work, as
    the collective operations are set up when it is made.
    """
    if name not in STRATEGIES:
        raise DistributeError(f"unknown strategy '{name}' (one of {', '.join(STRATEGIES)})")
    if name == "multi-worker":
        tf_config(required=True)
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()


def replica_share(n_batches: int, replicas: int, pipelines: int, pipeline: int
                  ) -> tuple[list[int], int]:
    """Which of ``n_batches`` (a list every replica builds alike) the input pipeline
    ``pipeline`` of ``pipelines`` feeds its ``replicas // pipelines`` local replicas,
    and the steps of the epoch.

    Step ``s`` of all replicas together takes the batches ``s * replicas`` to
    ``s * replicas + replicas - 1``; the pipeline yields its consecutive run of them.
    The batches past the last whole step are dropped, so every replica runs the same
    number of steps (synchronous training needs it).
    """
    if replicas % pipelines:
        raise DistributeError(f"{replicas} replicas do not split over {pipelines} workers")
    local = replicas // pipelines
    steps = n_batches // replicas
    picks = [s * replicas + pipeline * local + k for s in range(steps) for k in range(local)]
    return picks, steps


def any_replica(strategy, flag: bool) -> bool:
    """Whether ``flag`` holds on any replica of ``strategy`` (an all-reduce): how the
    workers agree on a decision that each takes from its own clock, such as stopping
    at the wall-clock budget, so that none goes on alone and waits for the others."""
    import tensorflow as tf

    votes = strategy.run(lambda: tf.constant(1.0 if flag else 0.0))
    return bool(float(strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None)) > 0)
