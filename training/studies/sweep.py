"""``python -m training sweep``: choose a model's sizes on validation loss.

Every candidate size is trained the same short way (the same training tunes, the same
number of epochs, the same seed) and scored on the validation split in bits per note,
computed from the Keras model directly.  The table goes to ``models/sweeps/<model>.json``
and into ``models/README.md``; the full run of the chosen size is an ordinary
``python -m training train``.  A size is written as ``key=value`` pairs over the
architecture's defaults, e.g. ``"units=384,384 dropout=0.3"``.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.encodings import DEFAULT_ENCODING, Encoding
from engine.errors import ContinuoError
from training.architectures import get

TRAINING = {"transpose"}  # how to train, not what to build


def parse_size(spec: str, base: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """``"units=256,256 dropout=0.2 transpose=2"`` over ``base`` -> (hyperparameters,
    training options); each setting is typed by its architecture's defaults."""
    arch = get(base["architecture"])
    hp = dict(base)
    options: dict[str, int] = {}
    for part in spec.split():
        key, sep, value = part.partition("=")
        if not sep:
            raise ContinuoError(f"size '{spec}': '{part}' is not key=value")
        if key in TRAINING:
            try:
                options[key] = int(value)
            except ValueError:
                raise ContinuoError(f"size '{spec}': bad value for {key}: {value}") from None
        elif key in arch.defaults:
            try:
                hp[key] = arch.parse_size(key, value)
            except ContinuoError as exc:
                raise ContinuoError(f"size '{spec}': {exc}") from None
        else:
            known = sorted(set(arch.defaults) | TRAINING)
            raise ContinuoError(f"size '{spec}': unknown setting '{key}' (one of "
                                f"{', '.join(known)})")
    return hp, options


def run_sweep(architecture: str, sizes: Sequence[str], train_tunes, val_tunes, *,
              epochs: int, batch_size: int, max_len: int, learning_rate: float, seed: int,
              out_path: Path, command: str, base: dict | None = None,
              encoding: Encoding = DEFAULT_ENCODING) -> dict:
    from training.models import count_parameters
    from training.scoring import keras_bits_per_note
    from training.train import train_model

    base = base or get(architecture).hyperparameters(encoding.vocab_size)
    rows = []
    for spec in sizes:
        hp, options = parse_size(spec, base)
        print(f"sweep {architecture}: {spec} ({epochs} epochs on {len(train_tunes)} tunes)",
              file=sys.stderr, flush=True)
        result = train_model(hp, train_tunes, val_tunes, epochs=epochs, batch_size=batch_size,
                             max_len=max_len, learning_rate=learning_rate, patience=epochs,
                             max_minutes=1e9, seed=seed, encoding=encoding, **options)
        scored = keras_bits_per_note(result.model, val_tunes, encoding=encoding)
        rows.append({"size": spec, "hyperparameters": hp, "training_options": options,
                     "parameters": count_parameters(result.model),
                     "validation_bits_per_note": scored["bits_per_note"],
                     "validation_accuracy": scored["accuracy"],
                     "best_val_loss": round(result.best_val_loss, 5),
                     "best_epoch": result.best_epoch,
                     "wall_time_s": round(result.wall_time_s, 1)})
        print(f"sweep {architecture}: {spec}: validation {scored['bits_per_note']:.3f} "
              f"bits/note ({result.wall_time_s:.0f} s)", file=sys.stderr, flush=True)
    best = min(rows, key=lambda r: r["validation_bits_per_note"]) if rows else None
    report = {"architecture": architecture, "command": command, "epochs": epochs,
              "training_tunes": len(train_tunes), "validation_tunes": len(val_tunes),
              "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
              "date": _dt.date.today().isoformat(), "rows": rows,
              "best": best["size"] if best else None}
    from engine.formats import write_bytes_atomic

    write_bytes_atomic(out_path, (json.dumps(report, indent=2) + "\n").encode())
    out_path.chmod(0o644)
    return report


def sweep_markdown(report: dict) -> str:
    """The sweep as a Markdown table for models/README.md."""
    lines = [f"`{report['command']}`: {report['epochs']} epochs on {report['training_tunes']} "
             f"training tunes each, scored on all {report['validation_tunes']} validation "
             f"tunes; best: `{report['best']}`.", "",
             "| size | parameters | validation bits/note | validation accuracy | time |",
             "|---|---|---|---|---|"]
    for r in report["rows"]:
        mark = " (best)" if r["size"] == report["best"] else ""
        lines.append(f"| `{r['size']}`{mark} | {r['parameters']} | "
                     f"{r['validation_bits_per_note']:.3f} | {r['validation_accuracy']:.3f} | "
                     f"{r['wall_time_s'] / 60:.1f} min |")
    if report.get("note"):  # what was decided from it, added by hand
        lines += ["", report["note"]]
    return "\n".join(lines)

