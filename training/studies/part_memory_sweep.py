"""Choosing the part models' motif memory on the part-music validation split.

    python -m training part-memory-sweep [--models poly-lstm poly-wavenet] [--write]
    python -m training part-memory-sweep --score test [--prefix bach/]  # test bits
    python -m training part-memory-sweep --speed  # the memory's cost in CPU time

The part memory is the melody models' (``engine.generation.memory``: an online
variable-order n-gram of the piece, Witten-Bell, fed as the piece goes) over the
``polyphony-16th`` tokens of every part together (docs/polyphony-encoding.md), its
contexts blind to the beat (``phase_period`` 1: a polyphonic step is several tokens, so
a token's index says nothing of where in the beat it falls).  For each model: its
network's probabilities of every validation token (the ``.seq.onnx`` the app loads),
the memory's for a few maximum orders, and bits per note of every mixing tried (linear
weights; the adaptive table fitted by expectation-maximisation, with and without STEP
left to the network).  The best adaptive mixing per model is printed, written as JSON
(``models/memory/part_sweep.json``) and with ``--write`` into the model's card
(``memory``), where ``engine.generation.memory.mixing_for`` reads it.

The pieces are music21's multi-part works of the split (``zlib.crc32(id) % 20``, as
``training/datasets/splits.py``), parsed as ``python -m training partmusic`` parses
them and encoded as ``training.corpus.encode_part_song`` encodes them (files the corpus
leaves out are left out here too, duplicates aside); the tokens are kept in
``training/cache/part-memory-SPLIT.npz`` so a second run does not parse again.  Numpy
and onnxruntime only: no TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from engine.generation.memory import Mixing, memory_distributions
from training.studies.memory_sweep import (LINEAR_WEIGHTS, bits_per_note, fit_adaptive,
                                           network_probabilities)

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "training" / "cache"
ORDERS = (16,)  # the melody models' best order; the cards' memory was fitted with it
# each piece's first this many tokens (about 200 sixteenths of four parts, a whole
# chorale): the memory is a Python step a token, and the whole split (533,626 tokens)
# took ~15 minutes an order on a loaded machine; the cards' memory was fitted so
MAX_TOKENS = 1000
MODELS = ("poly-lstm", "poly-wavenet")
STEP = 0  # polyphony-16th's STEP token


def _encoded(task: tuple[str, str]) -> tuple[str, list[int] | None]:
    """One corpus file's tokens (None: the corpus leaves it out); runs in a worker."""
    from engine.encodings.polyphony import PolyphonyEncoding
    from engine.song import Note, Song, TimeSignature, Track
    from training.corpus import encode_part_song
    from training.datasets.partmusic import parse_file

    root, pid = task
    r = parse_file(root, pid)
    if not r["ok"]:
        return pid, None
    tracks = [Track(name=name) for name in r["track_names"]]
    for t, p, s, d, v in r["notes"].tolist():
        tracks[t].notes.append(Note(p, s, d, v, 0))
    num, den = r["time_signature"]
    song = Song(ppq=r["ppq"], tracks=tracks, time_signatures=[TimeSignature(0, num, den)])
    tokens, _ = encode_part_song(song, PolyphonyEncoding())
    return pid, tokens


def pieces(split: str, processes: int = 2) -> dict[str, np.ndarray]:
    """Id -> tokens of every piece of ``split`` the part-music corpus keeps."""
    from multiprocessing import Pool

    from training.datasets.partmusic import collection_files, corpus_root
    from training.datasets.splits import split_of

    path = CACHE / f"part-memory-{split}.npz"
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in sorted(data.files)}
    root = corpus_root()
    ids = [pid for files in collection_files(root).values() for pid in files
           if split_of(pid) == split]
    out: dict[str, np.ndarray] = {}
    with Pool(processes) as pool:
        for i, (pid, tokens) in enumerate(pool.imap_unordered(
                _encoded, [(str(root), pid) for pid in ids])):
            if tokens is not None and len(tokens) >= 2:
                out[pid] = np.asarray(tokens, dtype=np.int16)
            print(f"\r{split}: {i + 1}/{len(ids)} files parsed", end="", file=sys.stderr)
    print(file=sys.stderr)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)
    return dict(sorted(out.items()))


def sweep(models, split: str = "validation", orders=ORDERS,
          max_tokens: int = MAX_TOKENS, prefix: str = "") -> dict:
    """Fit each model's memory on ``split``'s pieces (those whose ids start with
    ``prefix``: "bach/" for a model of the chorales alone)."""
    from engine.encodings.polyphony import PolyphonyEncoding
    from engine.models import ModelLibrary

    tunes = [t[:max_tokens].astype(np.int64) for k, t in pieces(split).items()
             if k.startswith(prefix)]
    if not tunes:
        raise SystemExit(f"no {split} piece's id starts with {prefix!r}")
    enc = PolyphonyEncoding()
    memories = {}
    for n in orders:
        memories[n] = []
        for t in tunes:
            pm, longest = memory_distributions(t.tolist(), enc.vocab_size, n, 1)
            memories[n].append((pm[1:], longest[1:]))
        print(f"memory of order {n} done", file=sys.stderr)
    report: dict = {"split": split, "prefix": prefix, "pieces": len(tunes),
                    "max_tokens": max_tokens,
                    "tokens": int(sum(len(t) for t in tunes)), "models": {}}
    library = ModelLibrary()
    for name in models:
        model = library.get(name)
        p_net = network_probabilities(model, tunes)
        alone = bits_per_note(p_net, memories[orders[0]], tunes, Mixing("linear", weight=0.0),
                              enc)
        rows, fitted = [], {}
        for order in orders:
            candidates = [Mixing("linear", weight=w, max_order=order) for w in LINEAR_WEIGHTS]
            for keep in ((), (STEP,)):
                m = fit_adaptive(p_net, memories[order], tunes, order, network_tokens=keep)
                fitted[(order, keep)] = m
                candidates.append(m)
            for mixing in candidates:
                bpn = bits_per_note(p_net, memories[order], tunes, mixing, enc)
                rows.append({"method": mixing.method, "weight": mixing.weight,
                             "max_order": order, "network_tokens": list(mixing.network_tokens),
                             "bits_per_note": round(float(bpn), 4)})
                print(f"{name:13s} {mixing.describe():60s} {bpn:.4f}", file=sys.stderr)
        best = min((r for r in rows if r["method"] == "adaptive"),
                   key=lambda r: r["bits_per_note"])
        chosen = {"method": "adaptive", "max_order": best["max_order"],
                  "network_tokens": best["network_tokens"],
                  "table": list(fitted[(best["max_order"],
                                        tuple(best["network_tokens"]))].table),
                  "phase_period": 1, "bits_per_note": best["bits_per_note"]}
        report["models"][name] = {"network_alone": round(float(alone), 4), "chosen": chosen,
                                  "tried": rows}
        print(f"{name}: alone {alone:.4f}, best {best}", file=sys.stderr)
    return report


def score_split(models, split: str = "test", prefix: str = "") -> dict:
    """Bits per note of ``split``'s pieces (ids starting with ``prefix``: "bach/" for
    the chorales) under each model alone and with its card's memory, whole pieces, as
    ``main.py score`` scores them (``StepModel.score_tokens`` and
    ``engine.generation.memory.score_tokens_with_memory``)."""
    from engine.generation.memory import mixing_for, score_tokens_with_memory
    from engine.models import ModelLibrary

    tunes = {k: t.astype(np.int64) for k, t in pieces(split).items() if k.startswith(prefix)}
    if prefix == "bach/":  # the four-part chorales bench/chorales.py uses
        tunes = {k: t for k, t in tunes.items() if _four_parts(t)}
    library = ModelLibrary()
    out = {"split": split, "prefix": prefix, "pieces": len(tunes), "models": {}}
    for name in models:
        model = library.get(name)
        mixing = mixing_for(name)
        alone = mixed = notes = 0.0
        for i, t in enumerate(tunes.values()):
            a, _, n = model.score_tokens(t)
            m, _, _ = score_tokens_with_memory(model, t, mixing)
            alone, mixed, notes = alone + a, mixed + m, notes + n
            print(f"\r{name}: {i + 1}/{len(tunes)} alone {alone / notes:.4f} with the memory "
                  f"{mixed / notes:.4f}", end="", file=sys.stderr)
        print(file=sys.stderr)
        out["models"][name] = {"notes": int(notes), "alone": round(alone / notes, 4),
                               "memory": round(mixed / notes, 4)}
    return out


def speed(models=MODELS, repeats: int = 5) -> None:
    """CPU time of continuing BWV 66.6's first 4 bars by 8 (the golden chorale, every
    part), memory off and on interleaved, median of ``repeats``: the memory's cost."""
    import statistics
    import time

    from engine.formats import midi_file_to_song
    from engine.generation.polyphony import generate_polyphony
    from engine.generation.request import GenerationSettings
    from engine.models import ModelLibrary

    library = ModelLibrary()
    seed = midi_file_to_song(ROOT / "tests" / "engine" / "data" / "golden_chorale.mid")
    start = seed.ticks_per_bar_at(0) * 4
    for t in seed.tracks:
        t.notes = [n for n in t.notes if n.start_tick < start]
    for name in models:
        for k in (1, 4):
            times: dict[bool, list[float]] = {False: [], True: []}
            for rep in range(repeats):
                for memory in (False, True):
                    s = GenerationSettings(model=name, bars=8, variations=k, memory=memory,
                                           rng_seed=rep)
                    t0 = time.process_time()
                    generate_polyphony(library, seed, s, start_tick=start)
                    times[memory].append(time.process_time() - t0)
            off, on = statistics.median(times[False]), statistics.median(times[True])
            print(f"{name} {k} variation(s): memory off {1000 * off:.0f} ms CPU, on "
                  f"{1000 * on:.0f} ms, {on / off:.2f}x", flush=True)


def _four_parts(tokens: np.ndarray) -> bool:
    """Whether a piece's steps hold at most four notes and some hold four."""
    counts = np.diff(np.nonzero(tokens == STEP)[0]) - 1
    return counts.size > 0 and counts.max() == 4


def write_cards(report: dict) -> None:
    """Each model's chosen mixing into its card's ``memory`` section."""
    from engine.models import ModelLibrary
    from engine.models.card import write_card

    prefix = report.get("prefix", "")
    chosen_on = (f"part-music {report['split']} split, {report['pieces']} pieces"
                 f"{f' whose ids start {prefix}' if prefix else ''}, each's first "
                 f"{report['max_tokens']} tokens")
    library = ModelLibrary()
    for name, r in report["models"].items():
        path = library.info(name).card_path
        card = json.loads(path.read_text(encoding="utf-8"))
        card["memory"] = {**r["chosen"], "chosen_on": chosen_on,
                          "command": "python -m training part-memory-sweep --write"
                                     + (f" --prefix {prefix}" if prefix else "")}
        write_card(card, path)


def add_parser(sub) -> argparse.ArgumentParser:
    """The ``part-memory-sweep`` sub-command of ``python -m training``."""
    ap = sub.add_parser("part-memory-sweep", help="study: fit the part models' motif memory "
                                                  "shares on the validation split; --score, "
                                                  "--speed",
                        description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--split", default="validation")
    ap.add_argument("--orders", nargs="+", type=int, default=list(ORDERS))
    ap.add_argument("--max-tokens", type=int, default=MAX_TOKENS,
                    help="each piece's first N tokens")
    ap.add_argument("--parse-only", action="store_true",
                    help="only parse and cache the split's pieces")
    ap.add_argument("--out", default=str(ROOT / "models" / "memory" / "part_sweep.json"))
    ap.add_argument("--write", action="store_true", help="write the cards' memory sections")
    ap.add_argument("--score", metavar="SPLIT",
                    help="only score SPLIT's pieces alone and with each card's memory")
    ap.add_argument("--prefix", default="",
                    help="only the pieces whose ids start so (bach/: the chorales), "
                         "to fit or, with --score, to score (then the four-part ones)")
    ap.add_argument("--speed", action="store_true",
                    help="only time part generation with the memory off and on")
    ap.set_defaults(run=lambda args, argv: run(args))
    return ap


def run(args: argparse.Namespace) -> int:
    if args.speed:
        speed(args.models)
        return 0
    if args.score:
        print(json.dumps(score_split(args.models, args.score, args.prefix), indent=1))
        return 0
    if args.parse_only:
        print(f"{len(pieces(args.split))} pieces", file=sys.stderr)
        return 0
    report = sweep(args.models, args.split, tuple(args.orders), args.max_tokens, args.prefix)
    from engine.formats import write_bytes_atomic

    write_bytes_atomic(Path(args.out), (json.dumps(report, indent=1) + "\n").encode())
    if args.write:
        write_cards(report)
    return 0

