"""Training the neural models (any architecture of :mod:`training.architectures`) with Keras.

A training example is one whole tune (cropped to ``max_len`` steps), fed from its first
token with a zero initial state, exactly as the model is later scored and as the app
starts generating: inputs ``tokens[:-1]``, targets ``tokens[1:]``.  Tunes of similar
length are batched together and padded to a multiple of 32 steps; padded targets carry
sample weight 0, and because every model is causal the padding on the right never
touches the real steps.

Early stopping watches the validation loss and restores the best weights; the best
weights are also checkpointed (``.weights.h5``, HDF5) after every improving epoch, and a
wall-clock budget stops a run that would take too long on this two-core machine.

Under a ``tf.distribute`` strategy (``strategy``, :mod:`training.distribute`) the model
lives in the strategy's scope and every replica builds the same seeded list of batches
of ``batch_size / replicas`` tunes, taking every ``replicas``-th one (docs/
training-at-scale.md); only the chief writes the checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.encodings import DEFAULT_ENCODING, Encoding

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
PAD_MULTIPLE = 32


@dataclass
class TrainResult:
    model: Any
    hyperparameters: dict
    epochs: int
    best_epoch: int
    wall_time_s: float
    history: dict
    best_val_loss: float
    steps_per_epoch: int | None = None
    chief: bool = True  # False on the workers of a cluster that write no files


def transposed(tune: np.ndarray, rng: np.random.Generator, semitones: int,
               encoding: Encoding = DEFAULT_ENCODING) -> np.ndarray:
    """``tune`` moved by a random whole number of semitones in [-semitones, semitones],
    chosen among the shifts that keep every note inside the encoding's range
    (:meth:`Encoding.transpose_tokens`)."""
    if semitones <= 0 or not encoding.count_onsets(tune):
        return tune
    moves = {s: encoding.transpose_tokens(tune, s) for s in range(-semitones, semitones + 1)}
    shifts = [s for s, moved in moves.items() if moved is not None]
    shift = shifts[int(rng.integers(0, len(shifts)))] if shifts else 0
    return tune if not shift else moves[shift]


def padded_batches(tunes: Sequence[np.ndarray], batch_size: int, max_len: int,
             rng: np.random.Generator | None, transpose: int = 0,
             encoding: Encoding = DEFAULT_ENCODING
             ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Length-bucketed batches of (inputs, targets, weights); shuffled when rng given,
    each tune moved by up to ``transpose`` semitones when also given."""
    tunes = [t[: max_len + 1] for t in tunes if len(t) >= 2]
    if rng is not None and transpose:
        tunes = [transposed(t, rng, transpose, encoding) for t in tunes]
    order = np.argsort([len(t) for t in tunes], kind="stable")
    if rng is not None:  # jitter the sort so batches differ between epochs
        noise = rng.uniform(0, 8, size=len(tunes))
        order = np.argsort(np.array([len(t) for t in tunes]) + noise, kind="stable")
    batches = []
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        longest = max(len(tunes[i]) - 1 for i in idx)
        width = int(math.ceil(longest / PAD_MULTIPLE) * PAD_MULTIPLE)
        x = np.zeros((len(idx), width), np.int32)
        y = np.zeros((len(idx), width), np.int32)
        w = np.zeros((len(idx), width), np.float32)
        for row, i in enumerate(idx):
            t = tunes[i].astype(np.int32)
            x[row, : len(t) - 1] = t[:-1]
            y[row, : len(t) - 1] = t[1:]
            w[row, : len(t) - 1] = 1.0
        batches.append((x, y, w))
    if rng is not None:
        rng.shuffle(batches)
    return batches


def padded_dataset(tunes: Sequence[np.ndarray], batch_size: int, max_len: int, seed: int,
                   shuffle: bool, transpose: int = 0, encoding: Encoding = DEFAULT_ENCODING,
                   epoch_tunes: int | None = None):
    """A tf.data pipeline that re-buckets and reshuffles the tunes on every pass.

    With ``epoch_tunes`` (and ``shuffle``), each pass is a fresh random draw of that
    many tunes: a corpus too large for one pass within the budget still gets epochs
    for early stopping and the learning-rate schedule, and every epoch sees new music.

    The output signature is given explicitly as ``[None, None]``: left to infer it
    from the first batches, Keras may fix the width and fail on a later batch.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed) if shuffle else None
    tunes = list(tunes)
    draw = epoch_tunes if shuffle and epoch_tunes and epoch_tunes < len(tunes) else None

    def gen():
        pool = tunes if draw is None else \
            [tunes[i] for i in sorted(rng.choice(len(tunes), draw, replace=False))]
        yield from padded_batches(pool, batch_size, max_len, rng, transpose, encoding)

    spec = tf.TensorSpec([None, None], tf.int32)
    sig = (spec, spec, tf.TensorSpec([None, None], tf.float32))
    n = len(padded_batches(tunes if draw is None else tunes[:draw], batch_size, max_len, None))
    ds = tf.data.Dataset.from_generator(gen, output_signature=sig)
    return ds.apply(tf.data.experimental.assert_cardinality(n)).prefetch(2), n


def even_batches(tunes: Sequence[np.ndarray], n: int, max_len: int
                 ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Exactly ``n`` batches of the tunes sorted by length, their sizes differing by one
    at most; empty ones (which change no loss or accuracy) only past the last tune."""
    tunes = [t for t in tunes if len(t) >= 2]
    order = np.argsort([min(len(t), max_len + 1) for t in tunes], kind="stable")
    empty = np.zeros((0, PAD_MULTIPLE), np.int32)
    return [padded_batches([tunes[i] for i in group], len(group), max_len, None)[0]
            if len(group) else (empty, empty, empty.astype(np.float32))
            for group in np.array_split(order, n)]


def _distributed_dataset(strategy, tunes: Sequence[np.ndarray], batch_size: int, max_len: int,
                         seed: int, shuffle: bool, transpose: int = 0,
                         encoding: Encoding = DEFAULT_ENCODING, every_tune: bool = False):
    """:func:`padded_dataset` for ``strategy``'s replicas, and its steps per epoch.

    Every input pipeline (one per worker) builds the same list of batches of
    ``batch_size / replicas`` tunes, from the same seeded generator, and feeds its
    replicas their share (:func:`training.distribute.replica_share`): so a step of all
    replicas together sees ``batch_size`` tunes and every replica runs the same number
    of steps.  The batches past the last whole step are dropped; with ``every_tune``
    (for the validation data, which should all count) the tunes are instead split into
    exactly as many batches as the steps need, of at most ``batch_size / replicas``
    tunes.  tf.data's auto-sharding is off: the pipelines share out the batches.
    """
    import tensorflow as tf

    from training.distribute import DistributeError, replica_share

    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise DistributeError(f"a batch of {batch_size} tunes does not split evenly over "
                              f"{replicas} replicas; choose a multiple of {replicas}")
    per_replica = batch_size // replicas
    tunes = list(tunes)
    n = len(padded_batches(tunes, per_replica, max_len, None))
    fixed = None
    if every_tune:
        n = -(-n // replicas) * replicas
        fixed = even_batches(tunes, n, max_len)
    if n // replicas == 0:
        raise DistributeError(f"{len(tunes)} tunes make fewer batches of {per_replica} than "
                              f"there are replicas ({replicas}); use a smaller batch size")
    spec = tf.TensorSpec([None, None], tf.int32)
    sig = (spec, spec, tf.TensorSpec([None, None], tf.float32))
    steps = n // replicas

    def dataset_fn(context):
        picks, _ = replica_share(n, replicas, context.num_input_pipelines,
                                 context.input_pipeline_id)
        rng = np.random.default_rng(seed) if shuffle else None

        def gen():
            batches = fixed if every_tune else padded_batches(tunes, per_replica, max_len,
                                                              rng, transpose, encoding)
            for k in picks:
                yield batches[k]

        ds = tf.data.Dataset.from_generator(gen, output_signature=sig)
        if len(picks) == steps:  # one replica per pipeline: Keras knows the epoch's steps
            ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.OFF
        return ds.with_options(options).prefetch(2)

    return strategy.distribute_datasets_from_function(dataset_fn), steps


def _prepare_for_strategy(model, strategy) -> None:
    """Work around two gaps of Keras 3's ``fit`` (3.x up to at least 3.13) under a
    ``tf.distribute`` strategy, changing ``model`` only (keras-team/keras#20585,
    tensorflow/tensorflow#72388):

    * it builds the model's, loss's, metrics' and optimizer's state from the dataset's
      first element, all-reduced over the replicas first, which fails across workers (a
      PerReplica it cannot convert) and for batches of different widths: here a dummy
      batch builds it in the strategy's scope and ``fit`` and ``evaluate`` skip it;
    * across workers it reduces each step's metric values with a mean over axis 0,
      which scalars do not have: the steps return them as vectors of one value.

    The epoch's figures (the logs that early stopping and the learning-rate schedule
    read) come from the metrics' on-read variables, summed over every replica.
    """
    import tensorflow as tf

    x = np.zeros((1, PAD_MULTIPLE), np.int32)
    model._maybe_symbolic_build(data_batch=(x, x, x.astype(np.float32)))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    multi_worker = getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and multi_worker:
        def vectors(step):
            return lambda data: tf.nest.map_structure(lambda v: tf.reshape(v, [1]),
                                                      step(data))

        model.train_step = vectors(model.train_step)
        model.test_step = vectors(model.test_step)


def _weight_average_class():
    import keras

    class WeightAverage(keras.callbacks.Callback):
        """The running mean of the weights, snapshot every ``every`` training batches.

        At each epoch's end the mean is put into the model and scored on the validation
        data; that score replaces ``val_loss`` in the logs, so the callbacks after this
        one (early stopping, checkpoints) judge and save the averaged weights.  The
        training weights come back at the next epoch's start.
        """

        def __init__(self, model, val_data, every: int) -> None:
            super().__init__()
            self._net, self._val, self.every = model, val_data, every
            self.mean: list[np.ndarray] | None = None
            self.count = 0
            self._raw: list[np.ndarray] | None = None
            self.best: tuple[float, list[np.ndarray]] | None = None

        def on_train_batch_end(self, batch, logs=None):
            if (batch + 1) % self.every:
                return
            weights = self._net.get_weights()
            self.count += 1
            if self.mean is None:
                self.mean = [w.astype(np.float64) for w in weights]
            else:
                for m, w in zip(self.mean, weights):
                    m += (w - m) / self.count

        def on_epoch_begin(self, epoch, logs=None):
            if self._raw is not None:
                self._net.set_weights(self._raw)
                self._raw = None

        def on_epoch_end(self, epoch, logs=None):
            if self.mean is None or logs is None:
                return
            self._raw = self._net.get_weights()
            averaged = [m.astype(w.dtype) for m, w in zip(self.mean, self._raw)]
            self._net.set_weights(averaged)
            result = self._net.evaluate(self._val, verbose=0, return_dict=True)
            print(f"\nweights averaged over {self.count} snapshots: val_loss "
                  f"{result['loss']:.5f} (training weights {logs.get('val_loss', 0):.5f})",
                  file=sys.stderr, flush=True)
            logs["val_loss_training_weights"] = logs.get("val_loss")
            logs["val_loss"] = result["loss"]
            if "acc" in result:
                logs["val_acc"] = result["acc"]
            if self.best is None or result["loss"] < self.best[0]:
                self.best = (result["loss"], averaged)

        def keep_best(self) -> None:
            """Leave the best averaged weights in the model (early stopping may not)."""
            if self.best is not None:
                self._net.set_weights(self.best[1])

    return WeightAverage


def configure_threads(threads: int | None = None) -> None:
    """Use the cores we were given, not more (the machine is shared)."""
    import tensorflow as tf

    n = threads or min(2, os.cpu_count() or 1)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialised


def train_model(hp: dict[str, Any], train_tunes: Sequence[np.ndarray],
                val_tunes: Sequence[np.ndarray], *, epochs: int = 30, batch_size: int = 32,
                max_len: int = 512, learning_rate: float = 2e-3, patience: int = 3,
                max_minutes: float = 25.0, seed: int = 0, checkpoint: str | Path | None = None,
                verbose: int | None = None,
                initial_weights: str | Path | None = None,
                average: bool = False, transpose: int = 0,
                encoding: Encoding = DEFAULT_ENCODING, strategy: Any = "default",
                epoch_tunes: int | None = None, extra_callbacks: Sequence[Any] = ()
                ) -> TrainResult:
    """Fit a model of ``hp`` with early stopping on validation loss: a fresh one, or
    one that goes on from ``initial_weights`` (a ``.weights.h5`` of the same ``hp``).

    With ``average`` (stochastic weight averaging, Izmailov et al. 2018; the averaged
    SGD of Merity et al.'s AWD-LSTM): the learning rate stays constant, the weights are
    averaged over snapshots taken twenty times an epoch, and the validation loss,
    early stopping, checkpoints and the returned model all use the averaged weights.

    ``transpose``: augmentation, every training tune moved by a random shift of up to
    that many semitones, drawn again on every pass (validation is never moved);
    ``encoding`` is the tunes' (it moves their notes).

    ``strategy``: "default" (one device, as always), "mirrored", "multi-worker" (see
    :mod:`training.distribute`) or a ``tf.distribute.Strategy``; ``batch_size`` is then
    the global batch, split evenly over the replicas, and only the chief worker writes
    the ``checkpoint``.

    ``extra_callbacks``: Keras callbacks run before early stopping, so a ``val_loss``
    one writes into an epoch's logs is what early stopping (and its keep-best), the
    learning-rate schedule and the checkpoint judge (fine-tuning's exact held-out bits
    per note, :mod:`training.finetune`)."""
    import keras

    from training.distribute import any_replica, strategy_for
    from training.models import build_model

    WeightAverage = _weight_average_class()
    configure_threads()
    distributed = not (isinstance(strategy, str) and strategy == "default")
    if distributed and isinstance(strategy, str):
        strategy = strategy_for(strategy)  # before other TensorFlow work (collectives)
    chief = strategy.extended.should_checkpoint if distributed else True
    keras.utils.set_random_seed(seed)
    with strategy.scope() if distributed else contextlib.nullcontext():
        model = build_model(hp)
        if initial_weights is not None:
            model.load_weights(str(initial_weights))
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=1.0),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
        )
    if distributed:
        _prepare_for_strategy(model, strategy)
        train_data, n_train_batches = _distributed_dataset(
            strategy, train_tunes, batch_size, max_len, seed, shuffle=True,
            transpose=transpose, encoding=encoding)
        val_data, _ = _distributed_dataset(strategy, val_tunes, 64, max_len, seed,
                                           shuffle=False, every_tune=True)
    else:
        train_data, n_train_batches = padded_dataset(train_tunes, batch_size, max_len,
                                                     seed, shuffle=True, transpose=transpose,
                                                     encoding=encoding, epoch_tunes=epoch_tunes)
        val_data, _ = padded_dataset(val_tunes, 64, max_len, seed, shuffle=False)

    t0 = time.monotonic()
    deadline = t0 + max_minutes * 60

    class Budget(keras.callbacks.Callback):
        """Stops after the epoch that crosses the wall-clock budget."""

        def on_epoch_end(self, epoch, logs=None):
            elapsed = time.monotonic() - t0
            per_epoch = elapsed / (epoch + 1)
            late = time.monotonic() + per_epoch > deadline
            if distributed:  # every worker stops after the same epoch
                late = any_replica(strategy, late)
            if late:
                print(f"\nstopping: the next epoch would pass the {max_minutes:g}-minute budget",
                      file=sys.stderr)
                self.model.stop_training = True

    class Progress(keras.callbacks.Callback):
        """A progress line every tenth of an epoch when the output is a log file."""

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.t_epoch = epoch, time.monotonic()

        def on_train_batch_end(self, batch, logs=None):
            n = n_train_batches
            if (batch + 1) % max(1, n // 10) == 0:
                el = time.monotonic() - self.t_epoch
                print(f"epoch {self.epoch + 1} batch {batch + 1}/{n} loss "
                      f"{(logs or {}).get('loss', float('nan')):.4f} {el:.0f}s "
                      f"(total {time.monotonic() - t0:.0f}s)", file=sys.stderr, flush=True)

    averager = WeightAverage(model, val_data, max(1, n_train_batches // 20)) if average \
        else None
    callbacks = [averager] if averager else []  # first: the others see the averaged weights
    callbacks += list(extra_callbacks)
    callbacks += [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                      restore_best_weights=True, verbose=1),
        Budget(),
    ]
    if not average:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=1, min_lr=1e-4, verbose=1))
    if checkpoint is not None and chief:  # the other workers write nothing
        Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
        callbacks.append(keras.callbacks.ModelCheckpoint(
            str(checkpoint), monitor="val_loss", save_best_only=True, save_weights_only=True))
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    if verbose != 1:
        callbacks.append(Progress())
    with warnings.catch_warnings() if distributed else contextlib.nullcontext():
        if distributed:  # Keras cannot count the steps of several replicas per worker
            warnings.filterwarnings("ignore", message="Your input ran out of data")
        history = model.fit(train_data, validation_data=val_data, epochs=epochs,
                            callbacks=callbacks, verbose=verbose)
    if averager is not None:
        averager.keep_best()
    wall = time.monotonic() - t0
    val = list(history.history.get("val_loss", [float("nan")]))
    best_epoch = int(np.nanargmin(val)) + 1 if val else 0
    hist = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    return TrainResult(model, hp, len(val), best_epoch, wall, hist,
                       float(np.nanmin(val)) if val else float("nan"), n_train_batches, chief)
