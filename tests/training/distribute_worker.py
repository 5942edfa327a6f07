"""One worker of tests/training/test_distribute.py: trains a tiny LSTM through
``train_model(..., strategy=strategy_for("multi-worker"))`` with the cluster of its ``TF_CONFIG``.

``python -m tests.training.distribute_worker OUT_DIR`` writes ``OUT_DIR/worker<i>.npz``
(the initial and the trained weights) and prints one JSON line of what it did.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from engine.encodings import DEFAULT_ENCODING

HP = {"architecture": "lstm", "vocab_size": DEFAULT_ENCODING.vocab_size, "embed_dim": 4,
      "units": [8], "dense_hidden": 0, "dropout": 0.0}
SEED = 3


def tunes(n: int, seed: int) -> list[np.ndarray]:
    """``n`` random token sequences of 10 to 70 tokens (the same in every worker)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, HP["vocab_size"], int(rng.integers(10, 70))).astype(np.int32)
            for _ in range(n)]


def main(out_dir: str) -> int:
    from training.distribute import any_replica, is_chief, strategy_for, tf_config
    from training.train import train_model

    out = Path(out_dir)
    index = tf_config(required=True)["task"]["index"]
    strategy = strategy_for("multi-worker")
    result = train_model(HP, tunes(48, 1), tunes(6, 2), epochs=2, batch_size=8, max_len=64,
                         patience=5, seed=SEED, verbose=2, strategy=strategy,
                         checkpoint=out / f"worker{index}" / "ckpt.weights.h5")
    votes = [any_replica(strategy, index == 0), any_replica(strategy, False)]
    import keras

    from training.models import build_model

    keras.utils.set_random_seed(SEED)  # the weights train_model started from
    initial = build_model(HP).get_weights()
    final = result.model.get_weights()
    np.savez(out / f"worker{index}.npz", *initial, *final)
    print(json.dumps({"index": index, "chief": is_chief(), "steps": result.steps_per_epoch,
                      "epochs": result.epochs, "n_weights": len(final), "votes": votes,
                      "val_loss": result.history["val_loss"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
