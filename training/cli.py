"""The training command line, one entry: ``python -m training CMD``.

The production path: ``corpus`` (and ``partmusic``, the part-music cache under it),
``train``, ``export``, ``evaluate``, ``kn``, ``ensemble``, ``promote``, ``finetune`` and
``fill train``.  The studies (:mod:`training.studies`): ``sweep``, ``key-study``,
``memory-sweep``, ``poly-report`` and ``fill evaluate``.

Training never runs inside the app; these commands are run by hand (or by CI's tiny
end-to-end test) and write the cards and ONNX files that ``models/`` ships.  The
architectures (``--model``) are those registered in :mod:`training.architectures`, the
encodings (``--encoding``) those registered in :mod:`engine.encodings`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shlex
import sys
from pathlib import Path

from engine.errors import ContinuoError

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "models"
BASELINE_DIR = Path(__file__).resolve().parent / "runs" / "baselines"


def _command_line(argv: list[str] | None) -> str:
    args = sys.argv[1:] if argv is None else argv
    return "python -m training " + " ".join(shlex.quote(a) for a in args)


def _encoding(args: argparse.Namespace):
    from training.corpus import encoding_named

    return encoding_named(getattr(args, "encoding", None))


def _encoding_option(args: argparse.Namespace) -> str:
    """How a command line names the encoding (nothing for the default)."""
    return f" --encoding {args.encoding}" if getattr(args, "encoding", None) else ""


def _cmd_corpus(args: argparse.Namespace, argv: list[str] | None) -> int:
    from training import corpus as C

    encoding = _encoding(args)
    if args.midi_dir:
        built = C.build_midi_corpus(args.midi_dir, processes=args.processes, encoding=encoding)
        C.save_corpus(built, args.cache_dir)
        print(built.summary())
        print(f"  cached as {Path(args.cache_dir) / C.cache_key(built.name, encoding)}.npz; "
              f"train on it with --corpus '{built.name}'{_encoding_option(args)}")
        return 0
    for name in args.collections:
        built = C.get_corpus(name, processes=args.processes, rebuild=args.rebuild,
                             cache_dir=args.cache_dir, encoding=encoding)
        print(built.summary())
        print(f"  built in {built.build_seconds:.0f} s; cached as "
              f"{Path(args.cache_dir) / C.cache_key(name, encoding)}.npz")
    return 0


def _load_training_corpus(args: argparse.Namespace, encoding=None):
    from training import corpus as C

    encoding = encoding or _encoding(args)
    if args.corpus.startswith("midi:"):
        corpus = C.load_corpus(args.corpus, args.cache_dir, encoding)
        if corpus is None:
            raise ContinuoError(f"there is no cached corpus '{args.corpus}' of {encoding.name}; "
                                f"build it with python -m training corpus --midi-dir DIR"
                                f"{_encoding_option(args)}")
        return corpus
    return C.get_corpus(args.corpus, cache_dir=args.cache_dir, encoding=encoding)


def _training_splits(args: argparse.Namespace, encoding=None):
    """The corpus, its training tunes (``--subset`` of them, the same ones every time)
    and its validation tunes; both must be there."""
    import numpy as np

    corpus = _load_training_corpus(args, encoding)
    train = corpus.split("train")
    val = corpus.split("validation")
    if args.subset:
        keep = np.random.default_rng(0).permutation(len(train))[: args.subset]
        train = [train[k] for k in sorted(keep)]
    # pieces many windows long become consecutive windows (a melody stays one tune)
    length = getattr(args, "max_len", 512) + 1
    train = [w for t in train for w in corpus.encoding.training_windows(t, length)]
    val = [w for t in val for w in corpus.encoding.training_windows(t, length)]
    if not train or not val:
        raise ContinuoError(f"the corpus '{corpus.name}' has {len(train)} training and "
                            f"{len(val)} validation tunes; it needs some of both")
    return corpus, train, val


# the sizes' own options: option -> hyperparameter
SIZE_OPTIONS = {"embed": "embed_dim", "units": "units", "channels": "residual_channels",
                "skip_channels": "skip_channels", "dilations": "dilations",
                "dropout": "dropout", "block_dropout": "block_dropout"}


def _hyperparameters(args: argparse.Namespace, vocab_size: int) -> dict:
    """The architecture's defaults for this vocabulary, then the size options, then
    ``--set key=value``; a setting the architecture does not have is an error."""
    from training.architectures import get

    arch = get(args.model)
    hp = arch.hyperparameters(vocab_size)
    for option, key in SIZE_OPTIONS.items():
        value = getattr(args, option, None)
        if value is None or value is False:
            continue
        if key not in arch.defaults:
            raise ContinuoError(f"--{option.replace('_', '-')} is not a setting of "
                                f"{arch.name} (its settings: {', '.join(arch.defaults)})")
        hp[key] = value  # block_dropout: dropout on every block's output, not only skips
    for item in getattr(args, "set", None) or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ContinuoError(f"--set {item}: not key=value")
        hp[key] = arch.parse_size(key, value)
    return hp


def _cmd_train(args: argparse.Namespace, argv: list[str] | None) -> int:
    from training.export import export_model
    from training.train import train_model

    from engine.encodings import encoding_from_card
    from training.architectures import get

    encoding = _encoding(args)
    name = args.name or args.model
    previous = None
    initial_weights = None
    old = None
    if args.resume:  # go on training a card's model: its sizes, its weights
        resume = Path(args.resume)
        if not resume.exists():
            raise ContinuoError(f"{resume}: there is no such model card to resume from")
        old = json.loads(resume.read_text())
        if old["hyperparameters"]["architecture"] != args.model:
            raise ContinuoError(f"{resume} holds a {old['architecture']}, not a {args.model}")
        encoding = encoding_from_card(old["encoding"])
        initial_weights = resume.parent / old["keras"]["weights"]
        previous = old.get("training", {})
    if args.epoch_tunes and args.strategy != "default":
        raise ContinuoError("--epoch-tunes draws each epoch on one device; under a "
                            "tf.distribute strategy every replica passes over the whole "
                            "corpus (leave it out)")
    corpus, train, val = _training_splits(args, encoding)
    hp = old["hyperparameters"] if old else _hyperparameters(args, encoding.vocab_size)
    out_dir = Path(args.out_dir) if args.out_dir else (
        BASELINE_DIR if get(args.model).baseline else MODELS_DIR)
    print(f"training {name} ({hp}) on {len(train)} tunes, validating on {len(val)}",
          file=sys.stderr)
    result = train_model(hp, train, val, epochs=args.epochs, batch_size=args.batch_size,
                         max_len=args.max_len, learning_rate=args.lr, patience=args.patience,
                         max_minutes=args.max_minutes, seed=args.seed,
                         checkpoint=Path(args.checkpoint_dir) / f"{name}.weights.h5",
                         initial_weights=initial_weights, average=args.average,
                         transpose=args.transpose, encoding=encoding,
                         epoch_tunes=args.epoch_tunes, strategy=args.strategy)
    if not result.chief:
        return 0  # the chief worker exports the model, writes its card and scores it
    data = corpus.data_card()
    if args.subset:
        data["tunes_used_for_training"] = len(train)
    training = {"command": _command_line(argv), "wall_time_s": round(result.wall_time_s, 1),
                "epochs": result.epochs, "best_epoch": result.best_epoch,
                "best_val_loss": round(result.best_val_loss, 5),
                "val_loss_note": "Keras' weighted mean: nats per padded position, for "
                                 "choosing epochs only; metrics has the real figures",
                "batch_size": args.batch_size, "max_len": args.max_len,
                "learning_rate": args.lr,
                "optimizer": "Adam, clipnorm 1.0, " + (
                    "constant lr, weights averaged 20 times an epoch (SWA)" if args.average
                    else "lr halved on plateau"),
                "early_stopping": f"val_loss, patience {args.patience}, best weights restored",
                "augmentation": (f"each training tune moved by a random shift of up to "
                                 f"{args.transpose} semitones on every pass" if args.transpose
                                 else "none (tunes are already transposed to C major / A "
                                      "minor; models/sweeps/wavenet-transpose.json has the "
                                      "measurement)"),
                "history": result.history,
                "date": dt.date.today().isoformat(),
                "machine": f"{platform.machine()} CPU ({platform.platform()}), 2 threads"}
    if previous:  # the card tells the whole story: every stage, total time and epochs
        stages = previous.get("stages") or [{k: v for k, v in previous.items()
                                             if k != "stages"}]
        this = dict(training)
        training["stages"] = stages + [this]
        training["command"] = " && ".join(st["command"] for st in training["stages"])
        training["wall_time_s"] = round(sum(st["wall_time_s"] for st in training["stages"]), 1)
        training["epochs"] = sum(st["epochs"] for st in training["stages"])
        training.pop("history", None)
        training.pop("best_epoch", None)
        if args.subset is None and "tunes_used_for_training" in data:
            data.pop("tunes_used_for_training")
    card = export_model(result.model, hp, out_dir, name, save_keras_weights=True, data=data,
                        training=training, encoding=encoding)
    print(f"exported {name} to {out_dir} ({card['parameters']} parameters, "
          f"{result.wall_time_s:.0f} s, {result.epochs} epochs)", file=sys.stderr)
    if not args.no_eval:
        from training.evaluate import evaluate_card

        evaluate_card(out_dir / f"{name}.json", cache_dir=args.cache_dir,
                      corpus_name=corpus.name)
    return 0


def _cmd_export(args: argparse.Namespace, argv: list[str] | None) -> int:
    """Re-export a card's model from its Keras weights (or a checkpoint), keeping the
    card's other fields; or export a freshly initialised model with --random."""
    from engine.encodings import encoding_from_card
    from training.export import export_model
    from training.models import build_model

    card_path = Path(args.card)
    if args.random:
        encoding = _encoding(args)
        hp = _hyperparameters(args, encoding.vocab_size)
        model = build_model(hp)
        card = export_model(model, hp, card_path.parent, card_path.stem,
                            save_keras_weights=True, encoding=encoding)
        print(f"exported a randomly initialised {hp['architecture']} to {card_path}")
        return 0
    if not card_path.exists():
        raise ContinuoError(f"{card_path}: there is no such model card")
    old = json.loads(card_path.read_text())
    hp = old["hyperparameters"]
    model = build_model(hp)
    weights = Path(args.weights) if args.weights else card_path.parent / old["keras"]["weights"]
    model.load_weights(str(weights))
    keep = {k: old[k] for k in ("data", "metrics", "training", "description") if k in old}
    card = export_model(model, hp, card_path.parent, old["name"], save_keras_weights=True,
                        encoding=encoding_from_card(old["encoding"]), **keep)
    print(f"re-exported {card['name']} from {weights}: {card['files']}")
    return 0


def _cmd_promote(args: argparse.Namespace, argv: list[str] | None) -> int:
    """Copy a candidate model (card, ONNX files, Keras weights) into the models folder,
    only when its validation bits/note beats the model there (or with --force)."""
    import shutil

    src = Path(args.card)
    if not src.exists():
        raise ContinuoError(f"{src}: there is no such model card")
    card = json.loads(src.read_text())
    dest_dir = Path(args.models_dir)
    dest = dest_dir / src.name
    new = card.get("metrics", {}).get("validation", {}).get("bits_per_note")
    if new is None:
        raise ContinuoError(f"{src}: the card has no validation metrics; run it through "
                            f"python -m training evaluate first")
    if dest.exists() and not args.force:
        old = json.loads(dest.read_text()).get("metrics", {}).get("validation", {}) \
            .get("bits_per_note")
        if old is not None and old <= new:
            print(f"kept {dest}: validation {old:.3f} bits/note <= the candidate's {new:.3f}")
            return 0
    files = list(card["files"].values())
    if "keras" in card:  # an ensemble has no Keras weights of its own
        files.append(card["keras"]["weights"])
    for f in files:
        (dest_dir / f).parent.mkdir(parents=True, exist_ok=True)
        tmp = dest_dir / f"{f}.promote-tmp"
        shutil.copyfile(src.parent / f, tmp)
        tmp.replace(dest_dir / f)
    shutil.copyfile(src, dest_dir / f"{src.name}.promote-tmp")
    (dest_dir / f"{src.name}.promote-tmp").replace(dest)
    print(f"promoted {src} to {dest} (validation {new:.3f} bits/note)")
    return 0


def _cmd_kn(args: argparse.Namespace, argv: list[str] | None) -> int:
    from training.evaluate import run_kneser_ney

    from training.corpus import TRAIN_COLLECTION

    corpus = getattr(args, "corpus", None) or TRAIN_COLLECTION
    run_kneser_ney(max_order=args.max_order, cache_dir=args.cache_dir, corpus_name=corpus,
                   encoding=_encoding(args),
                   name="kn" if corpus == TRAIN_COLLECTION else f"kn-{corpus}")
    return 0


def _cmd_ensemble(args: argparse.Namespace, argv: list[str] | None) -> int:
    from training.architectures import get

    out_dir = Path(args.out_dir) if args.out_dir else Path(args.cards[0]).parent
    # --no-eval changes nothing in the files, so the card's command leaves it out
    argv = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--no-eval"]
    card = get("ensemble").combine(args.cards, args.name, out_dir, weight=args.weight,
                                   cache_dir=args.cache_dir, command=_command_line(argv))
    hp = card["hyperparameters"]
    print(f"wrote {out_dir / (args.name + '.json')}: {' + '.join(hp['members'])}, "
          f"weights {hp['weights']}", file=sys.stderr)
    if not args.no_eval:
        from training.evaluate import evaluate_card

        evaluate_card(out_dir / f"{args.name}.json", cache_dir=args.cache_dir)
    return 0


def _cmd_sweep(args: argparse.Namespace, argv: list[str] | None) -> int:
    from training.studies.sweep import run_sweep

    encoding = _encoding(args)
    _, train, val = _training_splits(args, encoding)
    out = Path(args.out) if args.out else MODELS_DIR / "sweeps" / f"{args.model}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = run_sweep(args.model, args.sizes, train, val, epochs=args.epochs,
                       batch_size=args.batch_size, max_len=args.max_len,
                       learning_rate=args.lr, seed=args.seed, out_path=out,
                       command=_command_line(argv), encoding=encoding)
    print(f"best {args.model} size on validation: {report['best']} (table in {out})")
    return 0


def _cmd_evaluate(args: argparse.Namespace, argv: list[str] | None) -> int:
    from training.evaluate import evaluate_all

    evaluate_all(models_dir=Path(args.models_dir), baseline_dir=Path(args.baseline_dir),
                 cache_dir=args.cache_dir, readme=not args.no_readme)
    return 0


def _cmd_partmusic(args: argparse.Namespace, argv: list[str] | None) -> int:
    from training import corpus as C
    from training.datasets import partmusic as P

    if args.paths:
        corpus = C.load_corpus(C.PART_MUSIC, encoding=C.encoding_named("polyphony-16th"))
        if corpus is None:
            print("build the corpus first: python -m training corpus --collections "
                  "partmusic --encoding polyphony-16th", file=sys.stderr)
            return 1
        root = P.corpus_root()
        for pid, split in zip(corpus.ids, corpus.splits):
            if split == args.paths:
                print(root / pid)
        return 0
    if args.list:
        for c, ids in P.collection_files().items():
            print(f"{c}: {len(ids)}")
        return 0
    cols = None if args.collections is None else [c for c in args.collections.split(",") if c]
    path = P.build_notes_cache(args.processes, args.limit, cols, args.cache_dir)
    index = P.load_index(args.cache_dir)
    print(f"wrote {path} ({len(index['pieces'])} pieces of {index['files_considered']} "
          f"files, {index['build_seconds'] / 60:.1f} min)\n")
    print(P.counts_markdown(args.cache_dir))
    print("\nrejected:")
    print(P.rejected_markdown(args.cache_dir))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from engine.encodings import ENCODINGS
    from training import corpus as C
    from training import drum_styles
    from training import drums as drum_models
    from training import fill, finetune
    from training import progressions as progression_model
    from training.architectures import names
    from training.datasets import partmusic as P
    from training.datasets.splits import SPLIT_NAMES
    from training.studies import (drum_memory_sweep, fill_eval, key_study, memory_sweep,
                                  part_bits, part_memory_sweep, poly_report)
    from training.train import CHECKPOINT_DIR

    trainable = names(trainable=True)
    encodings = sorted({n for n, _ in ENCODINGS})

    def encoding_option(sp):
        sp.add_argument("--encoding", choices=encodings,
                        help="the tokens (default: melody-16th)")

    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("corpus", help="encode music21's folk collections (or a MIDI folder)")
    c.add_argument("--collections", nargs="+",
                   default=[C.TRAIN_COLLECTION, C.OTHER_COLLECTION])
    c.add_argument("--midi-dir", help="build a corpus from this folder of MIDI files instead")
    c.add_argument("--processes", type=int, default=2)
    c.add_argument("--rebuild", action="store_true", help="ignore the cache")
    c.add_argument("--cache-dir", default=str(C.CACHE_DIR))
    encoding_option(c)
    c.set_defaults(run=_cmd_corpus)

    pm = sub.add_parser("partmusic", help="parse music21's multi-part works into the notes "
                                          "cache (corpus --collections partmusic reads it)",
                        description=P.__doc__.split("\n\n")[0])
    pm.add_argument("--limit", type=int, default=None, help="parse only the first N files")
    pm.add_argument("--collections", default=None,
                    help="comma-separated collections (default: all)")
    pm.add_argument("--processes", type=int, default=2)
    pm.add_argument("--cache-dir", default=None)
    pm.add_argument("--list", action="store_true",
                    help="only list the collections and their file counts")
    pm.add_argument("--paths", choices=SPLIT_NAMES, metavar="SPLIT",
                    help="print the files of SPLIT (test, validation, train) that the "
                         "polyphonic corpus holds, one path per line: main.py score's input "
                         "for reproducing a card's figure")
    pm.set_defaults(run=_cmd_partmusic)

    def size_options(sp):
        sp.add_argument("--embed", type=int)
        sp.add_argument("--units", type=int, nargs="+", help="LSTM units per layer")
        sp.add_argument("--channels", type=int, help="WaveNet residual channels")
        sp.add_argument("--skip-channels", type=int, help="WaveNet skip channels")
        sp.add_argument("--dilations", type=int, nargs="+", help="WaveNet dilations")
        sp.add_argument("--dropout", type=float)
        sp.add_argument("--set", nargs="+", metavar="KEY=VALUE",
                        help="any of the architecture's settings, e.g. units=64,64")
        encoding_option(sp)

    def arch_options(sp):
        sp.add_argument("--model", choices=trainable, required=True)
        size_options(sp)
        sp.add_argument("--block-dropout", action="store_true",
                        help="WaveNet: dropout inside every residual block too")

    t = sub.add_parser("train", help="train a model, export it and score it")
    arch_options(t)
    t.add_argument("--name", help="model name (default: the architecture)")
    t.add_argument("--corpus", default=C.TRAIN_COLLECTION,
                   help="essenFolksong, or 'midi:<folder name>' built by corpus --midi-dir")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--max-minutes", type=float, default=25.0, help="wall-clock budget")
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--max-len", type=int, default=512, help="crop tunes to this many steps")
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--patience", type=int, default=3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--transpose", type=int, default=0, metavar="N",
                   help="augmentation: move each training tune by up to N semitones")
    t.add_argument("--average", action="store_true",
                   help="constant learning rate and stochastic weight averaging "
                        "(for going on from a trained model with --resume)")
    t.add_argument("--subset", type=int, help="train on this many training tunes only")
    t.add_argument("--epoch-tunes", type=int, metavar="N",
                   help="each epoch a fresh random draw of N training tunes (windows of "
                        "long pieces): epochs of a fixed size for a corpus too large to "
                        "pass over within the budget")
    t.add_argument("--resume", help="go on training the model of this card (its sizes and "
                                    "Keras weights), e.g. models/wavenet.json")
    t.add_argument("--out-dir", help="default: models/ (seed-lstm: training/runs/baselines)")
    t.add_argument("--checkpoint-dir", default=str(CHECKPOINT_DIR))
    t.add_argument("--cache-dir", default=str(C.CACHE_DIR))
    t.add_argument("--no-eval", action="store_true", help="skip scoring after export")
    t.add_argument("--strategy", choices=["default", "mirrored", "multi-worker"],
                   default="default", help="tf.distribute: several GPUs or, with TF_CONFIG, "
                                           "machines (docs/training-at-scale.md)")
    t.set_defaults(run=_cmd_train)

    e = sub.add_parser("export", help="(re-)export a card's model to ONNX")
    e.add_argument("--card", required=True, help="the card to (re)write, e.g. models/lstm.json")
    e.add_argument("--weights", help="a .weights.h5 file (default: the card's Keras weights)")
    e.add_argument("--random", action="store_true", help="export a freshly initialised model")
    e.add_argument("--model", choices=trainable, default="lstm")
    size_options(e)
    e.set_defaults(run=_cmd_export)

    pr = sub.add_parser("promote", help="copy a candidate model into models/ if it is better")
    pr.add_argument("--card", required=True, help="the candidate's card")
    pr.add_argument("--models-dir", default=str(MODELS_DIR))
    pr.add_argument("--force", action="store_true", help="copy even if it is not better")
    pr.set_defaults(run=_cmd_promote)

    k = sub.add_parser("kn", help="fit the Kneser-Ney n-gram baseline (best order on validation)")
    k.add_argument("--max-order", type=int, default=12)
    k.add_argument("--cache-dir", default=str(C.CACHE_DIR))
    k.add_argument("--corpus", default=C.TRAIN_COLLECTION,
                   help=f"the collection (default {C.TRAIN_COLLECTION}; {C.PART_MUSIC}: "
                        f"music21's multi-part works)")
    encoding_option(k)
    k.set_defaults(run=_cmd_kn)

    en = sub.add_parser("ensemble", help="two trained models as one (a product of experts), "
                                         "its weight chosen on the validation split")
    en.add_argument("--cards", nargs=2, required=True, help="the two members' cards")
    en.add_argument("--name", default="duet")
    en.add_argument("--weight", type=float, help="the first member's weight (default: the "
                                                 "best on the validation split)")
    en.add_argument("--out-dir", help="default: the first card's folder")
    en.add_argument("--cache-dir", default=str(C.CACHE_DIR))
    en.add_argument("--no-eval", action="store_true", help="skip scoring")
    en.set_defaults(run=_cmd_ensemble)

    finetune.add_parser(sub, _command_line)
    drum_models.add_parser(sub, _command_line)
    drum_styles.add_parser(sub, _command_line)
    progression_model.add_parser(sub, _command_line)

    fl = sub.add_parser("fill", help="fill-in-the-middle models: train one (fill train), or "
                                     "measure them (fill evaluate, a study)",
                        description=fill.__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    fill_jobs = fl.add_subparsers(dest="fill_command", required=True)
    fill.add_parser(fill_jobs, _command_line)
    fill_eval.add_parser(fill_jobs)

    v = sub.add_parser("evaluate", help="bits/note and accuracy of every model and baseline")
    v.add_argument("--models-dir", default=str(MODELS_DIR))
    v.add_argument("--baseline-dir", default=str(BASELINE_DIR))
    v.add_argument("--cache-dir", default=str(C.CACHE_DIR))
    v.add_argument("--no-readme", action="store_true")
    v.set_defaults(run=_cmd_evaluate)

    sw = sub.add_parser("sweep", help="study: train several sizes the same short way and "
                                      "compare them on the validation split")
    sw.add_argument("--model", choices=trainable, required=True)
    sw.add_argument("--sizes", nargs="+", required=True,
                    help='each a quoted list of key=value over the defaults, e.g. '
                         '"units=384,384 dropout=0.3"')
    sw.add_argument("--corpus", default=C.TRAIN_COLLECTION)
    sw.add_argument("--subset", type=int, default=2500,
                    help="train each size on this many training tunes (0: all)")
    sw.add_argument("--epochs", type=int, default=4)
    sw.add_argument("--batch-size", type=int, default=32)
    sw.add_argument("--max-len", type=int, default=512)
    sw.add_argument("--lr", type=float, default=2e-3)
    sw.add_argument("--seed", type=int, default=0)
    sw.add_argument("--out", help="default: models/sweeps/<model>.json")
    sw.add_argument("--cache-dir", default=str(C.CACHE_DIR))
    encoding_option(sw)
    sw.set_defaults(run=_cmd_sweep)

    key_study.add_parser(sub)
    memory_sweep.add_parser(sub)
    part_memory_sweep.add_parser(sub)
    part_bits.add_parser(sub)
    drum_memory_sweep.add_parser(sub)
    poly_report.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    # every command's parser has a default run(args, argv) that carries it out
    args = build_parser().parse_args(argv)
    try:
        return args.run(args, argv)
    except ContinuoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
