"""Fill-in-the-middle models: a shipped network fine-tuned on ``melody-fim-16th``.

``python -m training fill train --base models/lstm.json --name lstm-fill`` grows the
shipped model's vocabulary by the fill sentinels (the old embedding rows and output
units copied, the new ones small and random, the new output biases low so the
sentinels start near probability 0), then trains on the Essen training split with each
tune, on every pass, either as it is (continuation) or rearranged around a random gap
of 1-4 bars (:func:`engine.encodings.fim.random_gap`; ``--fill-share`` of the tunes, one
in two by default): ``FILL_SUFFIX, suffix, FILL_MIDDLE(q), prefix, middle``.  The
sentinels are given, never predicted: their targets weigh 0.  The learning rate rises
linearly over the first ``--warmup`` batches (a trained network's first full-size Adam
steps can undo what it knew: one step at 1e-3 took the Transformer's validation loss
from 0.736 to 0.907).  Any architecture of the registry whose embedding and output
layers are named ``embedding`` and ``logits`` grows the same way (the LSTM, the
WaveNet, the Transformer).  Then it exports the two ONNX graphs (the Transformer's step
graph with its key/value cache) and a card (``jobs``: continue and fill) and scores
plain continuation on the test split.

``python -m training fill evaluate`` measures issue 13's figures on the Essen test split
(music21 parses those tunes again, for their bars): :mod:`training.studies.fill_eval`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.encodings.fim import PREFIX_STEPS, SUFFIX_STEPS, FillMelodyEncoding, random_gap

ROOT = Path(__file__).resolve().parent.parent
PAD_MULTIPLE = 32
FILL_SHARE = 0.5


def fill_batches(tunes: Sequence[np.ndarray], encoding: FillMelodyEncoding, batch_size: int,
                 max_len: int, rng: np.random.Generator, fill_share: float = FILL_SHARE,
                 prompt_weight: float = 1.0, anywhere: bool = False):
    """Length-bucketed (inputs, targets, weights) batches, each tune plain or as a fill
    example (drawn anew on every call).  A fill example's prompt tokens (the suffix and
    the prefix, predicted as targets too) weigh ``prompt_weight``, its middle 1.

    ``anywhere``: the gap may start anywhere in the tune, and the tune stays plain only
    if its fill example (the prefix and suffix as long as the tune gives, at most the
    encoding's) would pass ``max_len + 1`` tokens.  Otherwise :func:`random_gap`'s bound,
    which counts the prefix and suffix at full length and the start on top: with a long
    prefix (128 steps at max-len 256) a 2-bar gap could start no later than step 30, so
    training never saw a long prefix."""
    examples = []
    for t in tunes:
        t = np.asarray(t, np.int64)
        if len(t) < 2:
            continue
        gap = None
        if rng.random() < fill_share:
            if anywhere:
                gap = random_gap(len(t), rng, len(t) + encoding.suffix_steps
                                 + encoding.prefix_steps + 3, encoding.steps_per_quarter,
                                 encoding.suffix_steps, encoding.prefix_steps)
                if gap is not None and 2 + min(len(t) - gap[1], encoding.suffix_steps) \
                        + min(gap[0], encoding.prefix_steps) + gap[1] - gap[0] > max_len + 1:
                    gap = None
            else:
                gap = random_gap(len(t), rng, max_len, encoding.steps_per_quarter,
                                 encoding.suffix_steps, encoding.prefix_steps)
        if gap is None:
            seq, first = t[: max_len + 1], 0
        else:
            seq, first = encoding.fill_example(t, *gap)
            seq = np.asarray(seq, np.int64)[: max_len + 1]
        examples.append((seq, first))
    lengths = np.array([len(e) for e, _ in examples]) + rng.uniform(0, 8, size=len(examples))
    order = np.argsort(lengths, kind="stable")
    batches = []
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = int(math.ceil(max(len(examples[i][0]) - 1 for i in idx) / PAD_MULTIPLE)
                    * PAD_MULTIPLE)
        x = np.zeros((len(idx), width), np.int32)
        y = np.zeros((len(idx), width), np.int32)
        w = np.zeros((len(idx), width), np.float32)
        for row, i in enumerate(idx):
            e, first = examples[i]
            x[row, : len(e) - 1] = e[:-1]
            y[row, : len(e) - 1] = e[1:]
            weight = (e[1:] < encoding.melody_vocab_size).astype(np.float32)  # sentinels given
            weight[: max(0, first - 1)] *= prompt_weight  # target j + 1 < first: the prompt
            w[row, : len(e) - 1] = weight
        batches.append((x, y, w))
    rng.shuffle(batches)
    return batches


def grow_vocabulary(card_path: Path, encoding: FillMelodyEncoding, seed: int = 0):
    """The card's Keras model with the vocabulary grown to ``encoding``'s: every layer's
    weights copied, the embedding's new rows and the logits' new units small random,
    their biases -6.  Returns (model, hp, the base card)."""
    from training.models import build_model, load_keras_model

    old_card = json.loads(card_path.read_text())
    old = load_keras_model(card_path)
    hp = dict(old_card["hyperparameters"])
    old_vocab = int(hp["vocab_size"])
    if old_vocab != encoding.melody_vocab_size:
        raise SystemExit(f"{card_path}: vocabulary {old_vocab}, expected "
                         f"{encoding.melody_vocab_size}")
    hp["vocab_size"] = encoding.vocab_size
    new = build_model(hp)
    rng = np.random.default_rng(seed)
    extra = encoding.vocab_size - old_vocab
    for layer in new.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        src = old.get_layer(layer.name).get_weights()
        if layer.name == "embedding":
            e = src[0]
            rows = rng.normal(0, e.std() * 0.5, size=(extra, e.shape[1])).astype(e.dtype)
            layer.set_weights([np.concatenate([e, rows], axis=0)])
        elif layer.name == "logits":
            k, b = src
            cols = rng.normal(0, k.std() * 0.1, size=(*k.shape[:-1], extra)).astype(k.dtype)
            layer.set_weights([np.concatenate([k, cols], axis=-1),
                               np.concatenate([b, np.full(extra, -6.0, b.dtype)])])
        else:
            layer.set_weights(src)
    missing = {"embedding", "logits"} - {layer.name for layer in new.layers}
    if missing:
        raise SystemExit(f"{card_path}: a {hp['architecture']} has no layer named "
                         f"{' or '.join(sorted(missing))}; its vocabulary cannot grow")
    return new, hp, old_card


DESCRIPTIONS = {
    "lstm": "LSTM that fills gaps: reads the music after the gap too; also continues.",
    "wavenet": "WaveNet that fills gaps: reads the music after the gap too; also continues.",
    "transformer": "Transformer that fills gaps: attends straight back to the music after "
                   "the gap; also continues."}


def train_fill(args: argparse.Namespace, command: str) -> int:
    """Train a fill model as ``args`` say; ``command``: the command line, for its card."""
    import keras
    import tensorflow as tf

    from engine.models.card import write_card
    from training.corpus import get_corpus
    from training.export import export_model
    from training.train import configure_threads

    configure_threads()
    keras.utils.set_random_seed(args.seed)
    if args.resume:
        # go on training a fill model: its weights, vocabulary and fill window as they are
        from training.models import load_keras_model

        card_path = Path(args.resume)
        base_card = json.loads(card_path.read_text())
        encoding = FillMelodyEncoding.from_card(base_card["encoding"])
        if (args.suffix_steps, args.prefix_steps) != (SUFFIX_STEPS, PREFIX_STEPS):
            # a new fill window: the same tokens, the prompt laid out with other lengths
            encoding = FillMelodyEncoding(encoding.min_pitch, encoding.max_pitch,
                                          encoding.steps_per_quarter, args.suffix_steps,
                                          args.prefix_steps)
        model, hp = load_keras_model(card_path), dict(base_card["hyperparameters"])
    else:
        encoding = FillMelodyEncoding(suffix_steps=args.suffix_steps,
                                      prefix_steps=args.prefix_steps)
        card_path = Path(args.base)
        model, hp, base_card = grow_vocabulary(card_path, encoding, args.seed)
    corpus = get_corpus("essenFolksong", cache_dir=args.cache_dir)
    train, val = corpus.split("train"), corpus.split("validation")
    if args.subset:
        train = train[: args.subset]
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=args.lr, clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")])
    rng = np.random.default_rng(args.seed)
    share = args.fill_share
    pw = args.prompt_weight
    anywhere = args.gaps == "anywhere"
    n_train = len(fill_batches(train, encoding, args.batch_size, args.max_len,
                               np.random.default_rng(0), share, pw, anywhere))
    # validation: the tunes as training mixes them, or (--validate-on gaps) every tune
    # around a random gap with only the gap's tokens weighed, as a fill is scored
    val_batches = fill_batches(val, encoding, 64, args.max_len, np.random.default_rng(1),
                               *((1.0, 0.0) if args.validate_on == "gaps" else (share, pw)),
                               anywhere)

    spec = tf.TensorSpec([None, None], tf.int32)
    sig = (spec, spec, tf.TensorSpec([None, None], tf.float32))
    train_ds = tf.data.Dataset.from_generator(
        lambda: iter(fill_batches(train, encoding, args.batch_size, args.max_len, rng,
                                  share, pw, anywhere)),
        output_signature=sig).apply(tf.data.experimental.assert_cardinality(n_train)) \
        .prefetch(2)
    val_ds = tf.data.Dataset.from_generator(lambda: iter(val_batches), output_signature=sig) \
        .apply(tf.data.experimental.assert_cardinality(len(val_batches)))

    t0 = time.monotonic()
    deadline = t0 + args.max_minutes * 60
    steps_per_epoch = max(1, int(n_train * args.epoch_fraction))

    class Budget(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            per_epoch = (time.monotonic() - t0) / (epoch + 1)
            print(f"epoch {epoch + 1}: {logs} ({time.monotonic() - t0:.0f}s)",
                  file=sys.stderr, flush=True)
            if time.monotonic() + per_epoch > deadline:
                print(f"stopping: the next epoch would pass the {args.max_minutes:g}-minute "
                      f"budget", file=sys.stderr, flush=True)
                self.model.stop_training = True

    class Warmup(keras.callbacks.Callback):
        """The learning rate from ``lr / warmup`` up to ``lr`` over the first
        ``warmup`` batches; then ReduceLROnPlateau's."""

        seen = 0

        def on_train_batch_begin(self, batch, logs=None):
            if self.seen < args.warmup:
                self.seen += 1
                self.model.optimizer.learning_rate.assign(
                    args.lr * self.seen / args.warmup)

    class Progress(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if (batch + 1) % max(1, steps_per_epoch // 5) == 0:
                print(f"  batch {batch + 1}/{steps_per_epoch} loss "
                      f"{(logs or {}).get('loss', float('nan')):.4f} "
                      f"({time.monotonic() - t0:.0f}s)", file=sys.stderr, flush=True)

    ckpt = ROOT / "training" / "checkpoints" / f"{args.name}.weights.h5"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(ckpt), monitor="val_loss", save_best_only=True,
                                        save_weights_only=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2,
                                          min_lr=args.min_lr, verbose=1),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience,
                                      restore_best_weights=True, verbose=1),
        Budget(), Progress(),
    ]
    if args.warmup > 0:
        callbacks.insert(0, Warmup())
    before = model.evaluate(val_ds, verbose=0, return_dict=True)
    print(f"{card_path.name} before training: {before}", file=sys.stderr, flush=True)
    history = model.fit(train_ds.repeat(), validation_data=val_ds, epochs=args.epochs,
                        steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=2)
    wall = time.monotonic() - t0
    val_loss = [float(v) for v in history.history.get("val_loss", [])]
    training = {
        "command": command,
        "base": (f"{card_path.name} (its Keras weights, trained on: "
                 f"{base_card.get('training', {}).get('command', '?')})" if args.resume else
                 f"{card_path.name} (its Keras weights; vocabulary grown by the fill "
                 f"sentinels)"),
        "validation": ("the validation tunes, each around a random gap of 1-4 bars (the "
                       "few too short for one as they are), the loss on the gap's tokens only "
                       "(Keras's weighted mean over every padded position of a batch: its "
                       "scale is not nats per gap token)" if args.validate_on == "gaps" else
                       "the validation tunes mixed as the training tunes are"),
        "wall_time_s": round(wall, 1), "epochs": len(val_loss),
        "epoch": f"{args.epoch_fraction:g} of the training tunes' batches",
        "best_val_loss": round(min(val_loss), 5) if val_loss else None,
        "val_loss_before": round(float(before["loss"]), 5),
        "batch_size": args.batch_size, "max_len": args.max_len, "learning_rate": args.lr,
        "examples": f"each tune on each pass: as it is ({1 - share:g}) or around a "
                    f"random gap of 1-4 bars ({share:g}), reading {encoding.suffix_steps} "
                    f"steps after it and {encoding.prefix_steps} before; sentinel targets "
                    f"weigh 0"
                    + ("; the gap starting anywhere in the tune (plain if its example "
                       "would not fit max_len)" if anywhere else "")
                    + ("" if pw == 1 else f", a fill example's prompt targets (suffix and "
                                          f"prefix) {pw:g}, its middle 1"),
        "optimizer": f"Adam, clipnorm 1.0, lr halved on plateau (floor {args.min_lr:g})"
                     + (f", warmed up linearly over {args.warmup} batches"
                        if args.warmup > 0 else ""),
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()} CPU ({platform.platform()}), 2 threads"}
    arch = hp["architecture"]
    description = DESCRIPTIONS.get(arch, f"{arch} that fills gaps; also continues.")
    out_dir = Path(args.out_dir)
    card = export_model(model, hp, out_dir, args.name, save_keras_weights=True,
                        encoding=encoding, description=description, data=corpus.data_card(),
                        training=training, jobs=list(encoding.jobs))
    from training.scoring import score_onnx

    metrics = {}
    # a Transformer's sequence graph holds [rows, heads, T, T] scores: fewer tokens a batch
    # (at 16,384, the test split's longest tunes took the scoring past 20 GB)
    batch_tokens = 2048 if arch == "transformer" else 16384
    for split in ("test", "validation"):
        metrics[split] = score_onnx(out_dir / card["files"]["sequence"], corpus.split(split),
                                    batch_tokens=batch_tokens, encoding=encoding)
        metrics[split]["corpus"] = "music21 essenFolksong"
        metrics[split]["job"] = "continue (plain tunes)"
    card["metrics"] = metrics
    write_card(card, out_dir / f"{args.name}.json")
    print(f"exported {args.name}: {json.dumps(metrics)} ({wall:.0f} s)", file=sys.stderr)
    return 0


def add_parser(sub, command_line) -> argparse.ArgumentParser:
    """``python -m training fill train``: ``sub`` is the ``fill`` command's sub-commands,
    ``command_line(argv)`` the command line the card records."""
    t = sub.add_parser("train", help="fine-tune a shipped model to fill gaps",
                       description=__doc__.split("\n\n")[1])
    start = t.add_mutually_exclusive_group(required=True)
    start.add_argument("--base", help="the plain card to start from, e.g. models/lstm.json "
                                      "(its vocabulary grows by the fill sentinels)")
    start.add_argument("--resume", metavar="CARD",
                       help="go on training a fill model's card, e.g. "
                            "models/transformer-fill.json (its fill window kept unless "
                            "--suffix-steps or --prefix-steps give a new one)")
    t.add_argument("--name", required=True)
    t.add_argument("--epochs", type=int, default=60)
    t.add_argument("--epoch-fraction", type=float, default=0.25,
                   help="an epoch is this share of the training batches (more checkpoints)")
    t.add_argument("--max-minutes", type=float, default=35.0)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--max-len", type=int, default=512)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--patience", type=int, default=4)
    t.add_argument("--min-lr", type=float, default=1e-4,
                   help="the floor the learning rate is halved down to on a plateau")
    t.add_argument("--validate-on", choices=("mix", "gaps"), default="mix",
                   help="the validation loss that early stopping and the checkpoint watch: "
                        "the validation tunes mixed as in training (mix, the default), or "
                        "every one around a random gap, the gap's tokens only (gaps; a tune "
                        "too short for a gap stays as it is)")
    t.add_argument("--fill-share", type=float, default=FILL_SHARE,
                   help=f"the share of the tunes rearranged around a gap on each pass "
                        f"(default {FILL_SHARE:g}; the rest are plain continuations)")
    t.add_argument("--suffix-steps", type=int, default=SUFFIX_STEPS,
                   help=f"steps of the music after the gap the model reads (default "
                        f"{SUFFIX_STEPS}; the card keeps it)")
    t.add_argument("--prefix-steps", type=int, default=PREFIX_STEPS,
                   help=f"steps of the music before the gap it reads (default {PREFIX_STEPS})")
    t.add_argument("--gaps", choices=("bounded", "anywhere"), default="bounded",
                   help="where a training gap may start: bounded (the default, as the "
                        "shipped fill models trained: no later than max-len less the gap, "
                        "suffix and prefix at full length) or anywhere in the tune (plain "
                        "when its example would pass max-len)")
    t.add_argument("--prompt-weight", type=float, default=1.0,
                   help="the weight of a fill example's prompt tokens as targets (the "
                        "middle's weigh 1; default 1: every melody token alike)")
    t.add_argument("--warmup", type=int, default=0, metavar="BATCHES",
                   help="raise the learning rate linearly over this many batches "
                        "(default 0: none, as lstm-fill and wavenet-fill were trained)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--subset", type=int)
    t.add_argument("--out-dir", default=str(ROOT / "models"))
    t.add_argument("--cache-dir", default=str(ROOT / "training" / "cache"))
    t.set_defaults(run=lambda args, argv: train_fill(args, command_line(argv)))
    return t
