"""The polyphonic models' section of ``models/README.md``: the part-music corpus, the
held-out figures beside the Kneser-Ney baseline, and the chorale measures.

Rendered from files in git (the cards, ``models/baselines/kn-partmusic.metrics.json``,
``models/baselines/partmusic-corpus.json``, ``bench/results/chorales.json``), so that
``python -m training evaluate`` can rewrite the README without the corpus cache.
``python -m training poly-report`` refreshes the corpus summary from the cache (after
``python -m training corpus --collections partmusic --encoding polyphony-16th``) and
prints the section.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS_SUMMARY = "baselines/partmusic-corpus.json"
KN_METRICS = "baselines/kn-partmusic.metrics.json"
CHORALES = ROOT / "bench" / "results" / "chorales.json"
ENCODING = "polyphony-16th"


def corpus_summary() -> dict:
    """Per collection: pieces per split, tokens, notes and what was left out (why),
    from the part-music caches."""
    from training.corpus import PART_MUSIC, encoding_named, load_corpus
    from training.datasets.partmusic import load_index

    enc = encoding_named(ENCODING)
    corpus = load_corpus(PART_MUSIC, encoding=enc)
    if corpus is None:
        raise SystemExit("build the corpus first: python -m training corpus --collections "
                         "partmusic --encoding polyphony-16th")
    rows: dict[str, dict] = defaultdict(lambda: {"train": 0, "validation": 0, "test": 0,
                                                 "tokens": 0, "notes": 0, "left_out": {}})
    for pid, split, tokens in zip(corpus.ids, corpus.splits, corpus.tunes):
        row = rows[pid.split("/")[0]]
        row[split] += 1
        row["tokens"] += int(len(tokens))
        row["notes"] += enc.count_onsets(tokens)
    left: dict[str, Counter] = defaultdict(Counter)
    index = load_index()
    for reason, info in index["rejected"].items():
        for collection, n in info["by_collection"].items():
            left[collection][reason] += n
    kept = set(corpus.ids)
    for piece in index["pieces"]:
        if piece["id"] not in kept:
            why = ("voices stored as separate ABC tunes" if piece.get("tunes_in_file", 1) > 1
                   else "notes off the sixteenth grid")
            left[piece["collection"]][why] += 1
    for collection, reasons in left.items():
        rows[collection]["left_out"] = dict(sorted(reasons.items()))
    return {"encoding": enc.card()["name"], "split": corpus.data_card()["split"],
            "collections": dict(sorted(rows.items(), key=lambda kv: -kv[1]["tokens"]))}


def _corpus_table(summary: dict) -> str:
    lines = ["| collection | train | validation | test | tokens | notes | left out (why) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    total: Counter = Counter()
    reasons: Counter = Counter()
    for name, row in summary["collections"].items():
        why = ", ".join(f"{n} {r}" for r, n in row["left_out"].items()) or "-"
        lines.append(f"| {name} | {row['train']:,} | {row['validation']} | {row['test']} | "
                     f"{row['tokens']:,} | {row['notes']:,} | {why} |")
        total.update({k: row[k] for k in ("train", "validation", "test", "tokens", "notes")})
        reasons.update(row["left_out"])
    why = ", ".join(f"{n} {r}" for r, n in reasons.most_common())
    lines.append(f"| **all** | {total['train']:,} | {total['validation']} | {total['test']} | "
                 f"{total['tokens']:,} | {total['notes']:,} | {sum(reasons.values())}: {why} |")
    return "\n".join(lines)


def _figures(models_dir: Path) -> tuple[str, list[str]]:
    kn_path = models_dir / KN_METRICS
    kn = json.loads(kn_path.read_text()) if kn_path.exists() else None
    rows = ["| model | parameters | test bits/note | test bits/step | test accuracy | "
            "validation bits/note | below the n-gram (test) | training | command |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    notes = []
    kn_test = kn["metrics"]["test"]["bits_per_note"] if kn else None
    for card_path in sorted(models_dir.glob("*.json")):
        card = json.loads(card_path.read_text())
        if not isinstance(card, dict) or card.get("encoding", {}).get("name") != ENCODING:
            continue
        test, val = card["metrics"]["test"], card["metrics"]["validation"]
        below = f"{1 - test['bits_per_note'] / kn_test:.1%}" if kn_test else "-"
        training = card.get("training", {})
        rows.append(f"| {card['name']} | {card.get('parameters', '-'):,} | "
                    f"{test['bits_per_note']:.3f} | {test.get('bits_per_step', 0):.3f} | "
                    f"{test['accuracy']:.3f} | {val['bits_per_note']:.3f} | {below} | "
                    f"{training.get('wall_time_s', 0) / 60:.1f} min, "
                    f"{training.get('epochs', '-')} epochs | `{training.get('command', '')}` |")
        if kn_test:
            notes.append(f"{card['name']} {test['bits_per_note']:.3f} "
                         f"({'meets' if test['bits_per_note'] <= 0.8 * kn_test else 'misses'} "
                         f"<= {0.8 * kn_test:.3f}, 20% below the n-gram)")
    if kn:
        t, v = kn["metrics"]["test"], kn["metrics"]["validation"]
        rows.append(f"| kn-partmusic (baseline) | {kn['parameters']:,} | "
                    f"{t['bits_per_note']:.3f} | {t.get('bits_per_step', 0):.3f} | "
                    f"{t['accuracy']:.3f} | {v['bits_per_note']:.3f} | - | "
                    f"{kn['training']['wall_time_s'] / 60:.1f} min | "
                    f"`{kn['training']['command']}` |")
    return "\n".join(rows), notes


def _chorales() -> str:
    if not CHORALES.exists():
        return ""
    report = json.loads(CHORALES.read_text())
    table = report.get("markdown") or report.get("table")
    if table:
        return "\n\n" + table.strip()
    return ""


def poly_section(models_dir: Path) -> str:
    """The README section; empty when no polyphonic model is there."""
    models_dir = Path(models_dir)
    figures, targets = _figures(models_dir)
    if not targets and "| kn" not in figures:
        return ""
    summary_path = models_dir / CORPUS_SUMMARY
    corpus = ""
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        corpus = (f"Music21's multi-part works, parsed once by `python -m training partmusic` "
                  f"(one track per part, ties joined, repeats not expanded; files with the "
                  f"same notes as another dropped) and encoded with `{summary['encoding']}` "
                  f"v1 (docs/polyphony-encoding.md), moved to C major / A minor. Split: "
                  f"{summary['split']}.\n\n{_corpus_table(summary)}\n\n")
    return f"""

## Polyphonic models (issue 12)

{corpus}Bits per note: as above, the bits of every token after a piece's first divided by
the notes (NEW tokens) among them, whole pieces scored from the `.seq.onnx`; bits per
step divide the same bits by the sixteenth-note steps. `main.py score` gives the same
figure from the files themselves:
`python -m training partmusic --paths test | xargs -d '\\n' python main.py score --model NAME`.

{figures}

Targets of issue 12 on the test split: {'; '.join(targets)}.

The LSTM is two layers of 256, the WaveNet 16 blocks (dilations 1-128 twice, receptive
field 512 tokens, about 100 steps of four parts); both trained on windows of 512
tokens cut at step boundaries (`training_windows`), each epoch a fresh draw of windows
(`--epoch-tunes`), because one pass over the 9 million training tokens takes longer
than a budget on two cores. The n-gram's order is capped at 8 by its 64-bit codes over
159 tokens; its validation figure was still falling with the order (by_order in
`baselines/kn-partmusic.metrics.json`).

Continuations and harmonisations of the four-part test-split chorales
(`python bench/chorales.py`, results in `bench/results/chorales.json`): (a) the first 4
bars continued by 4 bars, 4 variations at temperature 1, against Bach's own bars 5-8;
(b) the soprano of the first 8 bars harmonised, 4 variations. Parallels are counted
beat to beat between every pair of parts, Bach's with the same function.{_chorales()}

What the generator adds to the networks' probabilities (`engine/generation/polyphony.py`,
every rule a mask on the next token): a continuation holds as many notes at once as
the seed's parts; the j-th note of a step (top down) goes no higher than the j-th part's
highest seed note plus 3 semitones, and nothing below the lowest part's lowest note
minus 3, and on a beat that sounds every part (below) the j-th note no lower than the
j-th part's lowest seed note minus 3; a new note may not move in parallel fifths or octaves with a part above it
(parts read by position in the step); when the seed keeps all its parts sounding on at
least 75% of its beats, no beat of the continuation has fewer notes while one may still
come; no new note is held longer than the seed's longest note (at least a half note),
since a network that has begun to hold tends to hold on; a harmonisation keeps at least
three notes under a sounding melody. Measured
before the voice-leading and texture rules (the first 24-minute poly-lstm and the same
poly-wavenet): median 3 and 4 notes per beat, 3.09 and 7.28 parallels per 100 beats.
"""


def add_parser(sub):
    """The ``poly-report`` sub-command of ``python -m training``."""
    ap = sub.add_parser("poly-report", help="study: the polyphonic models' section of "
                                            "models/README.md (printed)",
                        description=__doc__.split("\n\n")[0])
    ap.add_argument("--models-dir", default=str(ROOT / "models"))
    ap.add_argument("--no-corpus", action="store_true",
                    help="do not refresh the corpus summary from the cache")
    ap.set_defaults(run=lambda args, argv: run(args))
    return ap


def run(args) -> int:
    from engine.formats import write_bytes_atomic

    models_dir = Path(args.models_dir)
    if not args.no_corpus:
        summary = corpus_summary()
        (models_dir / "baselines").mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(models_dir / CORPUS_SUMMARY,
                           (json.dumps(summary, indent=1) + "\n").encode())
    sys.stdout.write(poly_section(models_dir))
    return 0

