"""Fine-tuning a shipped network on a folder of the user's own music.

``python -m training finetune --from lstm --data DIR`` reads every tune of the folder
(:func:`engine.formats.folder.read_folder`, in the network's encoding), holds out a
tenth of them (at least one: the tunes whose names have the smallest
``zlib.crc32``, so the same folder always holds out the same tunes), and goes on
training the shipped network's Keras weights on the rest (same architecture, a low
learning rate, halved on a plateau) with :func:`training.train.train_model`.  After
every epoch the network's exact bits per note on the held-out tunes (whole tunes, as
``main.py score`` counts them) are printed and judged: early stopping keeps the best
epoch, and the run also stops at its time budget.  Then the two ONNX graphs and a card
go into the user's models folder (:func:`engine.models.library.user_models_dir`), where
the app lists them; the card says what the network was fine-tuned from and on, and the
held-out bits per note before and after (from the ONNX files themselves).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import platform
import re
import sys
import time
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.errors import ContinuoError

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "models"
BASES = ("lstm", "wavenet")  # the shipped networks with Keras weights to go on from
HELD_OUT_SHARE = 10  # one tune in ten
MAX_LISTED = 100  # problems printed, held-out names on the card


def held_out_names(names: Sequence[str]) -> set[str]:
    """A tenth of ``names`` (at least one): those with the smallest crc32."""
    ranked = sorted(names, key=lambda n: (zlib.crc32(n.encode("utf-8")), n))
    return set(ranked[: max(1, len(ranked) // HELD_OUT_SHARE)])


def _held_out_callback(tunes, encoding, say):
    """A Keras callback that scores the held-out tunes after every epoch (and before
    the first): their bits per note become the epoch's ``val_loss``."""
    import keras

    from training.scoring import keras_bits_per_note

    def bits(model) -> float:
        return keras_bits_per_note(model, tunes, encoding=encoding)["bits_per_note"]

    class HeldOut(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.t0 = time.monotonic()
            self.before = bits(self.model)
            self.best = self.before
            say(f"held out before fine-tuning: {self.before:.3f} bits/note")

        def on_epoch_end(self, epoch, logs=None):
            now = bits(self.model)
            self.best = min(self.best, now)
            if logs is not None:
                logs["val_loss_keras"] = logs.get("val_loss")
                logs["val_loss"] = logs["val_bits_per_note"] = now
            say(f"epoch {epoch + 1}: held out {now:.3f} bits/note (best {self.best:.3f}, "
                f"before {self.before:.3f}), training loss {(logs or {}).get('loss', 0):.4f}, "
                f"{(time.monotonic() - self.t0) / 60:.1f} min")

    return HeldOut()


def _tunes(n: int) -> str:
    return f"{n} tune{'s' if n != 1 else ''}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "folder"


def _base_card(base: str, models_dir: Path) -> tuple[Path, dict]:
    """The shipped card to go on from; a clear refusal for anything else."""
    path = models_dir / f"{base}.json"
    card = json.loads(path.read_text()) if path.is_file() else None
    if card and card.get("architecture") == "ensemble":
        members = card.get("hyperparameters", {}).get("members", [])
        raise ContinuoError(f"'{base}' is an ensemble of {' and '.join(members)}, with no "
                            f"weights of its own: fine-tune its parts ("
                            f"{', '.join('--from ' + m for m in members)})")
    if base not in BASES or card is None:
        raise ContinuoError(f"--from {base}: fine-tuning goes on from a shipped network: "
                            f"{' or '.join(BASES)}")
    if not (path.parent / card.get("keras", {}).get("weights", "")).is_file():
        raise ContinuoError(f"{path}: the Keras weights the card names are missing")
    return path, card


def finetune(args: argparse.Namespace, command: str) -> int:
    if importlib.util.find_spec("tensorflow") is None:
        raise ContinuoError("fine-tuning needs TensorFlow and Keras: install the train "
                            "extra (pip install -e '.[train]')")
    from engine.encodings import encoding_from_card
    from engine.formats.folder import read_folder
    from engine.models.card import write_card
    from engine.models.library import REPO_MODELS_DIR, user_models_dir
    from training.scoring import score_onnx
    from training.export import export_model
    from training.models import load_keras_model
    from training.train import train_model

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    base_path, base = _base_card(args.base, Path(args.models_dir))
    encoding = encoding_from_card(base["encoding"])
    folder = Path(args.data).expanduser()
    name = args.name or f"{args.base}-{_slug(folder.resolve().name)}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ContinuoError(f"--name {name}: a model name is letters, digits, '.', '_' and "
                            f"'-'")
    out_dir = Path(args.out).expanduser() if args.out else user_models_dir()
    if (REPO_MODELS_DIR / f"{name}.json").exists() and out_dir.resolve() != REPO_MODELS_DIR:
        raise ContinuoError(f"a shipped model is called '{name}' and would hide this one; "
                            f"choose another --name")

    step = [0]

    def reading(done: int, total: int, _file: str) -> None:
        if done == total or done >= step[0]:
            say(f"reading {folder}: {done}/{total} files")
            step[0] = done + max(1, total // 10)

    found = read_folder(folder, encoding, progress=reading)
    for line in found.problems[:MAX_LISTED]:
        say(f"skipped {line}")
    if len(found.problems) > MAX_LISTED:
        say(f"... and {len(found.problems) - MAX_LISTED} more files skipped")
    if len(found.tunes) < 2:
        raise ContinuoError(f"{folder}: {_tunes(len(found.tunes))} to learn from; fine-tuning "
                            f"needs at least 2 (a tenth, at least one, is held out to judge "
                            f"the training)")
    held = held_out_names([n for n, _ in found.tunes])
    train = [t for n, t in found.tunes if n not in held]
    val = [t for n, t in found.tunes if n in held]
    say(f"fine-tuning {args.base} on {_tunes(len(train))} of {folder}, holding out "
        f"{len(val)} ({found.files} music files, {len(found.problems)} skipped)")

    hp = base["hyperparameters"]
    judge = _held_out_callback(val, encoding, say)
    result = train_model(hp, train, val, epochs=args.epochs, batch_size=args.batch_size,
                         max_len=args.max_len, learning_rate=args.lr, patience=args.patience,
                         max_minutes=args.max_minutes, seed=args.seed,
                         initial_weights=base_path.parent / base["keras"]["weights"],
                         encoding=encoding, verbose=0, extra_callbacks=[judge])
    kept_base = judge.before <= result.best_val_loss
    if kept_base:  # no epoch beat the shipped weights: keep them
        result.model.set_weights(load_keras_model(base_path).get_weights())
        say(f"no epoch did better on the held-out tunes than {args.base} itself "
            f"({judge.before:.3f} bits/note): the model keeps its weights")
    held_names = sorted(held)
    data = {"corpus": f"folder {folder.resolve()}",
            "fine_tuned_from": {"model": args.base, "corpus": base["data"].get("corpus")},
            "split": f"held out: a tenth of the tunes (at least one), those with the "
                     f"smallest zlib.crc32(name) (name: the file's path in the folder, "
                     f"#N for the Nth tune of a file)",
            "tunes": {"train": len(train), "validation": len(val), "test": 0},
            "files": found.files, "skipped_files": len(found.problems),
            "held_out": held_names[:MAX_LISTED]
            + ([f"... {len(held_names) - MAX_LISTED} more"]
               if len(held_names) > MAX_LISTED else [])}
    training = {"command": command,
                "fine_tuned_from": f"{base_path.name} (its Keras weights, "
                                   f"{base['keras']['weights']})",
                "wall_time_s": round(result.wall_time_s, 1), "epochs": result.epochs,
                "best_epoch": 0 if kept_base else result.best_epoch,
                "held_out_bits_per_note_by_epoch": [round(v, 4) for v in
                                                    result.history.get("val_loss", [])],
                "batch_size": args.batch_size, "max_len": args.max_len,
                "learning_rate": args.lr, "optimizer": "Adam, clipnorm 1.0, lr halved on "
                                                       "plateau (at least 1e-4)",
                "early_stopping": f"held-out bits per note, patience {args.patience}, best "
                                  f"weights kept (the shipped ones if no epoch beat them); "
                                  f"budget {args.max_minutes:g} min",
                "date": dt.date.today().isoformat(),
                "machine": f"{platform.machine()} CPU ({platform.platform()}), 2 threads"}
    description = (f"{base['description'].split(':')[0]} fine-tuned on "
                   f"{folder.resolve().name} ({_tunes(len(found.tunes))}).")
    card = export_model(result.model, hp, out_dir, name, save_keras_weights=True,
                        encoding=encoding, description=description, data=data,
                        training=training, jobs=["continue"])
    before = score_onnx(base_path.parent / base["files"]["sequence"], val, encoding=encoding)
    after = score_onnx(out_dir / card["files"]["sequence"], val, encoding=encoding)
    card["metrics"] = {"held_out": {**after, "bits_per_note_before": before["bits_per_note"],
                                    "accuracy_before": before["accuracy"],
                                    "before": f"{args.base}, not fine-tuned",
                                    "tunes": len(val)}}
    write_card(card, out_dir / f"{name}.json")
    say(f"held out ({_tunes(len(val))}): {before['bits_per_note']:.3f} bits/note before, "
        f"{after['bits_per_note']:.3f} after")
    say(f"wrote {out_dir / (name + '.json')} ({result.epochs} epochs, "
        f"{result.wall_time_s / 60:.1f} min): the app lists it as '{name}'")
    return 0


def add_parser(sub, command_line) -> argparse.ArgumentParser:
    """The ``finetune`` sub-command of ``python -m training``; ``command_line(argv)``:
    the command line the card records."""
    f = sub.add_parser("finetune", help="fine-tune a shipped network on a folder of your "
                                        "music and write it to your models folder")
    f.add_argument("--from", dest="base", required=True, metavar="MODEL",
                   help=f"the shipped network to go on from: {' or '.join(BASES)}")
    f.add_argument("--data", required=True, metavar="DIR",
                   help="a folder of MIDI, ABC, MusicXML or kern files (read recursively)")
    f.add_argument("--name", help="the new model's name (default: <from>-<folder name>)")
    f.add_argument("--max-minutes", type=float, default=15.0, help="wall-clock budget")
    f.add_argument("--out", metavar="FOLDER", help="where the model goes (default: your "
                                                   "models folder, $CONTINUO_MODELS_DIR)")
    f.add_argument("--epochs", type=int, default=50)
    f.add_argument("--patience", type=int, default=3)
    f.add_argument("--lr", type=float, default=5e-4)
    f.add_argument("--batch-size", type=int, default=32)
    f.add_argument("--max-len", type=int, default=1024, help="crop tunes to this many steps")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--models-dir", default=str(MODELS_DIR), help=argparse.SUPPRESS)
    f.set_defaults(run=lambda args, argv: finetune(args, command_line(argv)))
    return f
