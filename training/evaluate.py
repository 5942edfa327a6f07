"""``python -m training evaluate`` and ``kn``: score every model and baseline, write the
metrics into the cards and the comparison table into ``models/README.md``."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


from engine.encodings import DEFAULT_ENCODING, Encoding, encoding_from_card
from engine.formats import write_bytes_atomic
from engine.models import attention_context
from engine.models.card import write_card
from training import corpus as C
from training.architectures import ARCHITECTURES
from training.scoring import score_distributions, score_onnx

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "models"
BASELINE_DIR = Path(__file__).resolve().parent / "runs" / "baselines"
KN_RESULT = "kn.metrics.json"


def _splits(cache_dir, corpus_name: str = C.TRAIN_COLLECTION,
            encoding: Encoding = DEFAULT_ENCODING) -> dict[str, tuple[str, list]]:
    main = C.get_corpus(corpus_name, cache_dir=cache_dir, encoding=encoding) \
        if not corpus_name.startswith("midi:") \
        else C.load_corpus(corpus_name, cache_dir, encoding)
    out = {"test": (main.name, main.split("test")),
           "validation": (main.name, main.split("validation"))}
    if corpus_name != C.PART_MUSIC:  # the folk models' other tradition
        other = C.get_corpus(C.OTHER_COLLECTION, cache_dir=cache_dir, encoding=encoding)
        out["other_collection"] = (other.name, other.tunes)
    return out


def evaluate_card(card_path: str | Path, cache_dir=C.CACHE_DIR,
                  corpus_name: str | None = None, splits=None) -> dict:
    """Score one card's sequence model on test, validation and the other collection and
    write the numbers into the card's ``metrics``.  ``corpus_name``: by default the
    part music for a polyphonic encoding, else the folk tunes."""
    card_path = Path(card_path)
    card = json.loads(card_path.read_text())
    encoding = encoding_from_card(card["encoding"])
    if corpus_name is None:
        corpus_name = C.PART_MUSIC if card["encoding"].get("polyphonic") \
            else C.TRAIN_COLLECTION
    splits = splits or _splits(cache_dir, corpus_name, encoding)
    seq = card_path.parent / card["files"]["sequence"]
    metrics = {}
    for split, (name, tunes) in splits.items():
        t0 = time.monotonic()
        m = score_onnx(seq, tunes, encoding=encoding, context=attention_context(card))
        m["corpus"] = f"music21 {name}" if not name.startswith("midi:") else name
        if split == "other_collection":
            m["name"] = f"music21 {name} (all tunes; never used in training)"
        metrics[split] = m
        print(f"{card['name']:>10} {split:>16}: {m['bits_per_note']:.3f} bits/note, "
              f"accuracy {m['accuracy']:.3f} ({m['tokens']} tokens, "
              f"{time.monotonic() - t0:.0f} s)", file=sys.stderr)
    card["metrics"] = metrics
    write_card(card, card_path)
    return metrics


def run_kneser_ney(max_order: int = 12, cache_dir=C.CACHE_DIR,
                   out_dir: Path = BASELINE_DIR, corpus_name: str = C.TRAIN_COLLECTION,
                   encoding: Encoding = DEFAULT_ENCODING, name: str = "kn") -> dict:
    """Fit Kneser-Ney n-grams of orders 1..max_order on the training split, keep the
    order with the lowest validation bits/note, score it everywhere."""
    from engine.models.ngram import KneserNey, max_order_for

    splits = _splits(cache_dir, corpus_name, encoding)
    corpus = C.get_corpus(corpus_name, cache_dir=cache_dir, encoding=encoding)
    train = corpus.split("train")
    vocab = encoding.vocab_size
    max_order = min(max_order, max_order_for(vocab))
    by_order = {}
    best = None
    t0 = time.monotonic()
    for order in range(1, max_order + 1):
        kn = KneserNey(vocab, order).fit(train)
        m = score_distributions(kn.distributions, splits["validation"][1], encoding=encoding)
        by_order[order] = m["bits_per_note"]
        print(f"Kneser-Ney order {order:2d}: validation {m['bits_per_note']:.3f} bits/note",
              file=sys.stderr)
        if best is None or m["bits_per_note"] < by_order[best[0]]:
            best = (order, kn)
    order, kn = best
    metrics = {}
    for split, (split_name, tunes) in splits.items():
        m = score_distributions(kn.distributions, tunes, encoding=encoding)
        m["corpus"] = f"music21 {split_name}"
        metrics[split] = m
    result = {"name": name, "architecture": f"Kneser-Ney {order}-gram (modified, interpolated)",
              "order": order, "validation_bits_per_note_by_order": by_order,
              "metrics": metrics, "parameters": int(sum(len(c) for c in kn.counts)),
              "encoding": encoding.card(),
              "training": {"command": f"python -m training kn --max-order {max_order}"
                                      + (f" --corpus {corpus_name} --encoding {encoding.name}"
                                         if corpus_name != C.TRAIN_COLLECTION else ""),
                           "wall_time_s": round(time.monotonic() - t0, 1)},
              "data": corpus.data_card()}
    out_dir.mkdir(parents=True, exist_ok=True)
    kn.save(out_dir / f"{name}.json")
    write_bytes_atomic(out_dir / (KN_RESULT if name == "kn" else f"{name}.metrics.json"), (json.dumps(result, indent=2) + "\n").encode())
    print(f"Kneser-Ney: best order {order}; test {metrics['test']['bits_per_note']:.3f} "
          f"bits/note", file=sys.stderr)
    return result


def _row(entry: dict, shipped: bool) -> str:
    m = entry.get("metrics", {})

    def f(split, key, fmt="{:.3f}"):
        v = m.get(split, {}).get(key)
        return fmt.format(v) if isinstance(v, (int, float)) else "-"

    rf = entry.get("receptive_field_steps")
    tr = entry.get("training", {})
    wall = tr.get("wall_time_s")
    cmd = tr.get("command") or "-"
    arch = entry.get("architecture", "?")
    hp = entry.get("hyperparameters", {})
    size = ARCHITECTURES[arch].size_text(hp) if arch in ARCHITECTURES else arch
    return (f"| {entry['name']}{' (shipped)' if shipped else ''} | {size} | "
            f"{entry.get('parameters', '-')} | {rf if rf else '-'} | "
            f"{f('test', 'bits_per_note')} | {f('test', 'accuracy')} | "
            f"{f('validation', 'bits_per_note')} | {f('other_collection', 'bits_per_note')} | "
            f"{f('other_collection', 'accuracy')} | "
            f"{'-' if wall is None else f'{wall / 60:.1f} min'} | `{cmd}` |")


def write_readme(models_dir: Path, entries: list[tuple[dict, bool]], corpus: C.Corpus,
                 other: C.Corpus) -> None:
    table = "\n".join(_row(e, s) for e, s in entries)
    shipped = {e["name"]: e.get("metrics", {}).get("test", {}).get("bits_per_note")
               for e, s in entries if s}
    scored = {k: v for k, v in shipped.items() if v is not None}
    if scored:
        best = min(scored.values())
        verdicts = ", ".join(f"{k} {v:.3f} ({'meets' if v <= 3.5 else 'misses'} <= 3.5)"
                             for k, v in scored.items())
        targets = (f"Targets of issue 3 on the Essen test split: {verdicts}; the best one "
                   f"{'meets' if best <= 3.4 else 'misses'} <= 3.4.")
    else:
        targets = "No shipped model has been scored yet."
    rejected = "; ".join(f"{C.REASONS.get(k, k)}: {v}"
                         for k, v in sorted(corpus.rejected.items(), key=lambda kv: -kv[1]))
    counts = corpus.counts()
    from training.studies.sweep import sweep_markdown

    sweeps = []
    for path in sorted((models_dir / "sweeps").glob("*.json"), key=lambda p: p.stem):
        report = json.loads(path.read_text())
        sweeps.append(f"### {report['architecture']} (`sweeps/{path.name}`)\n\n"
                      f"{sweep_markdown(report)}")
    sizes = ("\n\n## Sizes and augmentation, chosen on the validation split\n\n"
             "Each candidate trained the same short way, then scored on the validation "
             "split (`python -m training sweep`). A short run ranks sizes by how fast they "
             "learn, which is a guide, not a promise of how well they end.\n\n"
             + "\n\n".join(sweeps)) if sweeps else ""
    text = f"""# Continuo's models

Each model is a pair of ONNX files (`<name>.onnx`: one step, with its states;
`<name>.seq.onnx`: a whole sequence) beside its card `<name>.json`
(docs/model-contract.md). `keras/<name>.weights.h5` holds the same weights for Keras
(`training.models.load_keras_model("models/<name>.json")` rebuilds the model).
The shipped models are the ones marked "shipped" below (an `ensemble` is two of them
run as one, docs/model-contract.md); the baselines are trained the same way and kept
out of git.

## Data

music21's `{corpus.name}` collection: {len(corpus.tunes)} of {corpus.total} tunes encode
with `melody-16th` v1 (train {counts['train']}, validation {counts['validation']},
test {counts['test']}). Rejected: {rejected}.
Split: `zlib.crc32(id.encode()) % 20` (0 test, 1 validation, else train) on the id
`<ABC file name>#<index of the tune in the file, from 0>`.
Other tradition (never trained on): music21's `{other.name}`, {len(other.tunes)} of
{other.total} tunes.

## Results

Bits per note: the sum over all tunes of -log2 p(token) for every token after a tune's
first, divided by the number of NOTE_ON tokens among them. Accuracy: share of those
tokens that were the model's most likely next token. Neural models are scored from
their `.seq.onnx` with onnxruntime. Wall time: training on this machine's CPU (2 threads).

| model | size | parameters | receptive field (steps) | test bits/note | test accuracy | validation bits/note | {other.name} bits/note | {other.name} accuracy | training time | command |
|---|---|---|---|---|---|---|---|---|---|---|
{table}

{targets}

Baselines: `seed-lstm` is the seed notebooks' network (one-hot input, two LSTM(128),
Dense(256) relu, softmax), trained briefly; `kn` is a modified interpolated Kneser-Ney
n-gram over the same tokens, its order chosen on the validation split. Their weights
(`training/runs/baselines/`) are not in git. A command joined by `&&` is a model trained
in stages (`--resume`); its training time is the sum. Runs that wrote into
`training/runs/candidates` were copied here by
`python -m training promote --card training/runs/candidates/<name>.json`, which only
replaces a model whose validation bits/note is worse. `--average` is stochastic weight
averaging: a constant learning rate, the weights averaged twenty times an epoch, the
average judged on the validation split.

Reproduce: `python -m training corpus`, then the commands above, then
`python -m training kn` and `python -m training evaluate` (rewrites this file and the
cards' metrics).{sizes}
"""
    from training.studies.fill_eval import fill_section
    from training.studies.memory_sweep import readme_sections

    from training.studies.poly_report import poly_section

    from training.drums import drums_section

    text = (text.rstrip("\n") + readme_sections(models_dir) + fill_section(models_dir)
            + poly_section(models_dir).rstrip("\n") + drums_section(models_dir).rstrip("\n")
            + "\n")
    write_bytes_atomic(models_dir / "README.md", text.encode())
    os.chmod(models_dir / "README.md", 0o644)


def evaluate_all(models_dir: Path = MODELS_DIR, baseline_dir: Path = BASELINE_DIR,
                 cache_dir=C.CACHE_DIR, readme: bool = True) -> None:
    splits = _splits(cache_dir)
    entries: list[tuple[dict, bool]] = []
    for folder, shipped in ((models_dir, True), (baseline_dir, False)):
        for card_path in sorted(Path(folder).glob("*.json")):
            try:
                card = json.loads(card_path.read_text())
            except (OSError, ValueError):
                continue
            if card.get("format") != "continuo-model-card":
                continue
            if card.get("encoding", {}).get("drums"):  # scored on grooves: training/drums.py
                continue
            # the shared splits are the default encoding's tokens
            same = card.get("encoding") == DEFAULT_ENCODING.card()
            evaluate_card(card_path, cache_dir, splits=splits if same else None)
            entries.append((json.loads(card_path.read_text()), shipped))
    kn_path = baseline_dir / KN_RESULT
    if kn_path.exists():
        entries.append((json.loads(kn_path.read_text()), False))
    else:
        print("no Kneser-Ney result yet (python -m training kn)", file=sys.stderr)
    if readme:
        corpus = C.get_corpus(C.TRAIN_COLLECTION, cache_dir=cache_dir)
        other = C.get_corpus(C.OTHER_COLLECTION, cache_dir=cache_dir)
        write_readme(models_dir, entries, corpus, other)
