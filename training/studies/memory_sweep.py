"""Choosing the motif memory's mixing on the validation split, and writing a split as
MIDI files for ``main.py score``.

    python -m training memory-sweep [--models lstm wavenet duet] [--out models/memory/sweep.json]
    python -m training memory-sweep --write-split test --to DIR   # one MIDI file per tune
    python -m training memory-sweep --write-split all --collection oneills1850 --to DIR

For every model: its network's probabilities of every validation token (the
``.seq.onnx`` the app loads), the memory's (``engine.generation.memory``, fed each
tune as it goes) for a few maximum orders, and bits per note of every mixing tried
(linear weights; IDyOM's entropy weights, arithmetic and geometric, by bias).  The
best per model is printed and written as JSON; the engine's ``DEFAULT_MIXING`` quotes
it.  Needs the corpus cache (``python -m training corpus``), not TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from engine.generation.memory import (Mixing, buckets, hand_over, memory_distributions, mix,
                                      softmax)
from training import corpus as C

ROOT = Path(__file__).resolve().parents[2]
LINEAR_WEIGHTS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
BIASES = (0.25, 0.5, 1.0, 2.0, 4.0)
ORDERS = (6, 10, 16)  # 24 gave the duet 2.972 against 16's 2.978: not worth a longer step
PRIOR_WEIGHT, PRIOR_COUNT = 0.15, 5.0  # each bucket's share starts here, as if seen 5 times
# see engine.generation.memory.Mixing.generation_power: the largest of 1, 0.8, 0.6, 0.4 at
# which every model brings back at least 6% of its bars of 2 notes or more on the
# validation split (bench/musicality.py --split validation --generation-power ...): 0.6
# for the memory blind to the beat, 0.8 by phase (lstm 7.6%, wavenet 7.8%, duet 7.1%)
GENERATION_POWER = 0.8
# the memory's contexts by phase in the beat (engine.generation.memory.Mixing.phase_period):
# a quarter of 4 steps; each tune from its first note, as main.py score reads it (only the
# phases' differences matter to a model of the tune itself).  Validation bits per note of
# the adaptive mixing refitted, periods 1 / 2 / 4: lstm 3.070 / 3.062 / 3.062, wavenet
# 3.086 / 3.079 / 3.080, duet 2.976 / 2.969 / 2.968; and generating, new notes on
# off-sixteenths fell from 1.6-1.9 times the real tunes' share to 1.0-1.1 times (blind to
# the beat, the memory brought figures back a sixteenth late)
PHASE_PERIOD = 4


def network_probabilities(model, tunes: list[np.ndarray]) -> list[np.ndarray]:
    """Per tune, ``[len - 1, vocab]``: the network's p(token t + 1 | tokens to t)."""
    out = []
    for t in tunes:
        logits = model.sequence_logits(np.asarray(t, np.int32)[None, :-1])[0]
        out.append(softmax(logits))
    return out


def bits_per_note(p_net: list[np.ndarray], p_mem: list[tuple[np.ndarray, np.ndarray]], tunes,
                  mixing: Mixing, encoding) -> float:
    bits, notes = 0.0, 0
    for pn, (pm, longest), t in zip(p_net, p_mem, tunes):
        targets = np.asarray(t[1:], np.int64)
        p = mix(pn, pm, mixing, longest)[np.arange(len(targets)), targets]
        bits -= np.log2(p).sum()
        notes += encoding.count_onsets(targets)
    return bits / notes


def fit_adaptive(p_net, p_mem, tunes, max_order: int, iterations: int = 60,
                 network_tokens: tuple[int, ...] = ()) -> Mixing:
    """The adaptive mixing's table by expectation-maximisation: each bucket's memory
    share is the mean responsibility of the memory for the true tokens in it."""
    n = Mixing.buckets_for(max_order)
    a, b, k = [], [], []
    for pn, (pm, longest), t in zip(p_net, p_mem, tunes):
        if network_tokens:
            pm = hand_over(pn, pm, network_tokens)
        targets = np.asarray(t[1:], np.int64)
        rows = np.arange(len(targets))
        a.append(pm[rows, targets])
        b.append(pn[rows, targets])
        k.append(buckets(pn, pm, longest, max_order))
    a, b, k = np.concatenate(a), np.concatenate(b), np.concatenate(k)
    seen = np.bincount(k, minlength=n)
    w = np.full(n, PRIOR_WEIGHT)
    for _ in range(iterations):
        share = w[k]
        r = share * a / (share * a + (1.0 - share) * b)
        w = (np.bincount(k, r, n) + PRIOR_WEIGHT * PRIOR_COUNT) / (seen + PRIOR_COUNT)
    return Mixing("adaptive", max_order=max_order, table=tuple(round(float(x), 5) for x in w),
                  network_tokens=network_tokens)


def sweep(models: list[str], split: str = "validation",
          phase_period: int = PHASE_PERIOD) -> dict:
    from engine.models import ModelLibrary

    corpus = C.get_corpus(C.TRAIN_COLLECTION)
    tunes = [t.astype(np.int64) for t in corpus.split(split) if len(t) >= 2]
    library = ModelLibrary()
    enc = corpus.encoding
    # rests are the network's to place (engine.generation.memory.Mixing.network_tokens)
    rests = tuple(i for i, name in enumerate(enc.token_names()) if name == "NOTE_OFF")
    by_vocab: dict[int, dict] = {}  # a fill model's memory spans its sentinels too, as in the app

    def memories_of(vocab: int) -> dict:
        if vocab not in by_vocab:
            by_vocab[vocab] = {}
            for n in ORDERS:
                by_vocab[vocab][n] = []
                for t in tunes:
                    pm, longest = memory_distributions(t.tolist(), vocab, n, phase_period)
                    by_vocab[vocab][n].append((pm[1:], longest[1:]))
        return by_vocab[vocab]

    report: dict = {"split": split, "tunes": len(tunes), "phase_period": phase_period,
                    "models": {}}
    for name in models:
        model = library.get(name)
        memories = memories_of(model.encoding.vocab_size)
        p_net = network_probabilities(model, tunes)
        base = bits_per_note(p_net, memories[ORDERS[0]], tunes, Mixing("linear", weight=0.0),
                             enc)
        rows, fitted = [], {}
        for order in ORDERS:
            candidates = [Mixing("linear", weight=w, max_order=order) for w in LINEAR_WEIGHTS]
            candidates += [Mixing(m, bias=b, max_order=order)
                           for m in ("entropy", "geometric") for b in BIASES]
            plain = fit_adaptive(p_net, memories[order], tunes, order)
            fitted[order] = fit_adaptive(p_net, memories[order], tunes, order,
                                         network_tokens=rests)
            candidates += [plain, fitted[order]]
            for mixing in candidates:
                bpn = bits_per_note(p_net, memories[order], tunes, mixing, enc)
                rows.append({"method": mixing.method, "weight": mixing.weight,
                             "bias": mixing.bias, "max_order": order,
                             "network_tokens": list(mixing.network_tokens),
                             "bits_per_note": round(float(bpn), 4)})
                print(f"{name:8s} {mixing.describe():45s} {bpn:.4f}", file=sys.stderr)
        # the adaptive mixing that leaves rests to the network: it costs next to no bits
        # (when written: duet -0.002, wavenet -0.001, lstm +0.004 bits/note) and the
        # memory then does not thin out the rests of what it generates (from 3.3% of
        # the steps to 4.9% for the duet, the real tunes 4.6%: bench/musicality.py)
        best = min((r for r in rows if r["method"] == "adaptive" and r["network_tokens"]),
                   key=lambda r: r["bits_per_note"])
        best_of = {m: min((r for r in rows if r["method"] == m),
                          key=lambda r: r["bits_per_note"])
                   for m in ("linear", "entropy", "geometric", "adaptive")}
        best_of["adaptive, memory shares rests"] = min(
            (r for r in rows if r["method"] == "adaptive" and not r["network_tokens"]),
            key=lambda r: r["bits_per_note"])
        chosen = dict(best)
        chosen["table"] = list(fitted[chosen["max_order"]].table)
        chosen["phase_period"] = phase_period
        report["models"][name] = {"network_alone": round(float(base), 4), "chosen": chosen,
                                  "best_by_method": best_of, "tried": rows}
        print(f"{name}: alone {base:.4f}, best {best}", file=sys.stderr)
    return report


def write_mixing_file(report: dict, default_model: str = "duet",
                      generation_power: float = 1.0) -> Path:
    """The chosen mixing of each model into its card's ``memory`` section (where the
    engine's ``mixing_for`` reads it), and the ``default_model``'s into the engine's
    ``memory_mixing.json`` as ``"*"``, the mixing for a model whose card has none (kept
    as it is when ``default_model`` was not swept).  Returns that file's path."""
    from engine.formats import write_bytes_atomic
    from engine.generation.memory import MIXING_FILE
    from engine.models import ModelLibrary
    from engine.models.card import write_card

    chosen_on = f"{C.TRAIN_COLLECTION} {report['split']} split, {report['tunes']} tunes"
    command = "python -m training memory-sweep"
    chosen = {name: {**r["chosen"], "generation_power": generation_power}
              for name, r in report["models"].items()}
    library = ModelLibrary()
    for name, mixing in chosen.items():
        path = library.info(name).card_path
        card = json.loads(path.read_text(encoding="utf-8"))
        card["memory"] = {**mixing, "chosen_on": chosen_on, "command": command}
        write_card(card, path)
    if default_model not in chosen:
        return MIXING_FILE
    data = {"chosen_on": chosen_on, "command": command,
            "about": f"the mixing for a model whose card has no 'memory' section: the "
                     f"{default_model}'s", "models": {"*": chosen[default_model]}}
    write_bytes_atomic(MIXING_FILE, (json.dumps(data, indent=1) + "\n").encode())
    return MIXING_FILE


README_SECTIONS = ("## Motif memory", "## The auto key lock",
                   "## Musicality against real continuations")


def readme_sections(models_dir: Path) -> str:
    """models/README.md's sections on the motif memory, the auto key lock and the
    musicality bench as they stand (their figures come from this module,
    bench/key_lock.py and bench/musicality.py), for ``python -m training evaluate``,
    which rewrites the rest of the file, to keep; "" when there are none."""
    path = Path(models_dir) / "README.md"
    if not path.exists():
        return ""
    text = path.read_text()
    kept = []
    for heading in README_SECTIONS:
        start = text.find("\n" + heading)
        if start < 0:
            continue
        end = text.find("\n## ", start + 1)
        kept.append(text[start:end if end >= 0 else len(text)].strip("\n"))
    return "".join("\n\n" + section for section in kept)


def write_split(split: str, folder: Path, collection: str = C.TRAIN_COLLECTION,
                parity: str | None = None) -> int:
    """Every tune of ``split`` as a MIDI file (C major / A minor, 120 bpm, 4/4), checked
    to encode back to the very tokens; returns how many.  ``parity`` ("even" or "odd"):
    only the tunes whose number is even or odd, the collection's tunes numbered from 1
    in corpus order (the order of ``python -m training corpus``'s cache)."""
    from engine.formats import song_to_midi_file
    from engine.song import melody_song

    corpus = C.get_corpus(collection)
    enc = corpus.encoding
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for number, (tune_id, tokens) in enumerate(zip(corpus.ids, corpus.tunes), start=1):
        if split != "all" and C.split_of(tune_id) != split:
            continue
        if parity is not None and number % 2 != (parity == "odd"):
            continue
        notes = enc.decode(tokens.tolist(), 480)
        song = melody_song(notes, ppq=480)
        again = enc.song_to_tokens(song)
        if again != tokens.tolist():
            raise SystemExit(f"{tune_id}: does not encode back to its tokens")
        safe = tune_id.replace("#", "-").replace("/", "_")
        song_to_midi_file(song, folder / f"{n:04d}-{safe}.mid")
        n += 1
    return n


def add_parser(sub) -> argparse.ArgumentParser:
    """The ``memory-sweep`` sub-command of ``python -m training``."""
    ap = sub.add_parser("memory-sweep", help="study: choose the motif memory's mixing on "
                                             "the validation split; or write a split as MIDI",
                        description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["lstm", "wavenet", "duet"])
    ap.add_argument("--split", default="validation")
    ap.add_argument("--out", default=str(ROOT / "models" / "memory" / "sweep.json"))
    ap.add_argument("--write-split", metavar="SPLIT",
                    help="write SPLIT's tunes (test, validation, train or all) as MIDI")
    ap.add_argument("--to", metavar="DIR", help="the folder for --write-split")
    ap.add_argument("--collection", default=C.TRAIN_COLLECTION)
    ap.add_argument("--parity", choices=("even", "odd"),
                    help="with --write-split: only the even- or odd-numbered tunes")
    ap.add_argument("--phase-period", type=int, default=PHASE_PERIOD,
                    help="the memory's contexts by phase in this many steps (default "
                         f"{PHASE_PERIOD}: a quarter note; 1: contexts blind to the beat)")
    ap.add_argument("--generation-power", type=float, default=GENERATION_POWER,
                    help="the power of the memory's shares when generating (default "
                         f"{GENERATION_POWER:g}: chosen by bench/musicality.py on validation)")
    ap.set_defaults(run=lambda args, argv: run(args, ap))
    return ap


def run(args: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
    """``ap``: the command's parser, which reports bad options."""
    if args.write_split:
        if not args.to:
            ap.error("--write-split needs --to DIR")
        n = write_split(args.write_split, Path(args.to), args.collection, args.parity)
        print(f"wrote {n} tunes of the {args.write_split} split to {args.to}")
        return 0
    if args.phase_period < 1:
        ap.error("--phase-period must be 1 or more")
    report = sweep(args.models, args.split, args.phase_period)
    from engine.formats import write_bytes_atomic

    write_bytes_atomic(args.out, json.dumps(report, indent=1).encode())
    print(f"wrote {args.out} and "
          f"{write_mixing_file(report, generation_power=args.generation_power)}")
    for name, r in report["models"].items():
        print(f"{name}: network alone {r['network_alone']:.4f}; "
              + "; ".join(f"{m} {b['bits_per_note']:.4f} (w {b['weight']}, b {b['bias']}, "
                          f"order {b['max_order']})" for m, b in r["best_by_method"].items()))
    return 0

