"""Choosing the drum model's motif memory on the validation grooves.

    python -m training drum-memory-sweep [--write]       # fit on validation
    python -m training drum-memory-sweep --score test    # held-out bits/hit
    python -m training drum-memory-sweep --score human   # second test set

The memory is the melody models' (``engine.generation.memory``: an online
variable-order n-gram of the piece, Witten-Bell, fed as the piece goes) over the
``drums-12th`` tokens, one a grid step, twelve a quarter, 48 a 4/4 bar.  Drums repeat
bar after bar, so the contexts tried include ones keyed by the step's position in the
bar: the memory's ``phase_period`` (a context predicts only what followed it at the same
phase) of 1 (blind), 12 (the beat) or a whole bar (``BAR_PERIOD``, narrowed to the
song's bar by :meth:`Mixing.in_metre`: 48 in 4/4, 36 in 3/4, 42 in 7/8), for several
maximum orders.  For each: the network's probabilities of every validation token (the
``.seq.onnx`` ``main.py score`` runs, each groove conditioned as score conditions it:
style unknown, its bars and the other parts' onsets), bits per drum hit of linear
weights and of the adaptive table fitted by expectation-maximisation, with and without
REST left to the network.  The best adaptive mixing is printed, kept as JSON
(``models/memory/drum_sweep.json``) and with ``--write`` written into the card's
``memory`` section, where ``engine.generation.memory.mixing_for`` reads it.

Numpy and onnxruntime only: no TensorFlow.  Run it niced.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from engine.encodings.drums import REST
from engine.formats.atomic import write_bytes_atomic
from engine.generation.memory import Mixing, memory_distributions, mix, softmax
from training.studies.memory_sweep import fit_adaptive

ROOT = Path(__file__).resolve().parents[2]
MODEL = "drums-lstm"
OUT = ROOT / "models" / "memory" / "drum_sweep.json"
#: a phase period every common bar length divides (lcm of 24, 30, 36, 42, 48, 60, 72):
#: in_metre narrows it to the song's bar, so a context knows its step of the bar
BAR_PERIOD = 5040
PERIODS = (1, 12, BAR_PERIOD)
ORDERS = (4, 8, 16, 24, 48)
STEPS_PER_QUARTER = 12
LINEAR_WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def songs(split: str) -> list[tuple[str, object]]:
    """(name, Song) of the grooves of ``split`` ("validation", "test") or, for
    "human", the second test set (training/drums.py's human_songs)."""
    from training import drums as D

    if split == "human":
        return D.human_songs(ROOT / "tests" / "data" / "external")
    return [(g.midi_name, song) for g, song in D.load_grooves()[split]]


def prepared(model, items) -> list[dict]:
    """Per song: its tokens, the network's probabilities of every token after the first
    (conditioned as ``main.py score`` conditions it) and its bar's phase period."""
    enc = model.encoding
    out = []
    for name, song in items:
        tokens = enc.song_to_tokens(song)  # sets the encoding's context from the song
        if not tokens or len(tokens) < 2:
            continue
        t = np.asarray(tokens, np.int64)
        logits = model.sequence_logits(t[None, :-1].astype(np.int32))[0]
        bar = Mixing(phase_period=BAR_PERIOD).in_metre(song, STEPS_PER_QUARTER).phase_period
        out.append({"name": name, "tokens": t, "p_net": softmax(logits), "bar": bar,
                    "song": song})
    return out


def memories(data: list[dict], order: int, period: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The memory's p(token t | before) and longest seen context, per song."""
    out = []
    for d in data:
        p = d["bar"] if period == BAR_PERIOD else \
            Mixing(phase_period=period).in_metre(d["song"], STEPS_PER_QUARTER).phase_period
        pm, longest = memory_distributions(d["tokens"].tolist(), d["p_net"].shape[1], order, p)
        out.append((pm[1:], longest[1:]))
    return out


def bits_per_hit(data, mems, mixing: Mixing, enc) -> tuple[float, float]:
    """(bits per drum hit, bits per step) of ``mixing`` over ``data``."""
    bits, hits, steps = 0.0, 0, 0
    for d, (pm, longest) in zip(data, mems):
        targets = d["tokens"][1:]
        p = mix(d["p_net"], pm, mixing, longest)[np.arange(len(targets)), targets]
        bits -= np.log2(np.maximum(p, 1e-300)).sum()
        hits += enc.count_onsets(targets.tolist())
        steps += len(targets)
    return bits / hits, bits / steps


def sweep(model, split: str = "validation", orders=ORDERS, periods=PERIODS) -> dict:
    enc = model.encoding
    data = prepared(model, songs(split))
    tunes = [d["tokens"] for d in data]
    p_net = [d["p_net"] for d in data]
    alone = bits_per_hit(data, [(d["p_net"], None) for d in data],
                         Mixing("linear", weight=0.0), enc)
    rows, fitted = [], {}
    print(f"{split}: {len(data)} grooves, network alone {alone[0]:.4f} bits/hit",
          file=sys.stderr)
    for period in periods:
        for order in orders:
            mems = memories(data, order, period)
            candidates = [Mixing("linear", weight=w, max_order=order, phase_period=period)
                          for w in LINEAR_WEIGHTS]
            for keep in ((), (REST,)):
                m = fit_adaptive(p_net, mems, tunes, order, network_tokens=keep)
                m = Mixing("adaptive", max_order=order, table=m.table,
                           network_tokens=keep, phase_period=period)
                fitted[(period, order, keep)] = m
                candidates.append(m)
            for mixing in candidates:
                bph, bps = bits_per_hit(data, mems, mixing, enc)
                rows.append({"method": mixing.method, "weight": mixing.weight,
                             "max_order": order, "phase_period": period,
                             "network_tokens": list(mixing.network_tokens),
                             "bits_per_hit": round(float(bph), 4),
                             "bits_per_step": round(float(bps), 4)})
            best_here = min(r["bits_per_hit"] for r in rows[-len(candidates):])
            print(f"period {period:5d} order {order:3d}: best {best_here:.4f}", file=sys.stderr)
    best = min((r for r in rows if r["method"] == "adaptive"), key=lambda r: r["bits_per_hit"])
    m = fitted[(best["phase_period"], best["max_order"], tuple(best["network_tokens"]))]
    chosen = {"method": "adaptive", "max_order": m.max_order,
              "network_tokens": list(m.network_tokens), "table": list(m.table),
              "phase_period": m.phase_period, "bits_per_note": best["bits_per_hit"]}
    best_linear = min((r for r in rows if r["method"] == "linear" and r["weight"] > 0),
                      key=lambda r: r["bits_per_hit"])
    return {"split": split, "grooves": len(data), "model": model.name,
            "network_alone": round(float(alone[0]), 4), "chosen": chosen,
            "best_linear": best_linear, "tried": rows}


def score(model, split: str) -> dict:
    """Bits per hit on ``split`` with the memory off, the card's memory and the
    melody models' default memory (what a card without a section gets)."""
    from engine.generation.memory import MIXING_FILE, mixing_for

    enc = model.encoding
    data = prepared(model, songs(split))
    out = {"split": split, "songs": len(data)}
    off = bits_per_hit(data, [(d["p_net"], None) for d in data], Mixing("linear", weight=0.0),
                       enc)
    out["off"] = [round(float(x), 4) for x in off]
    default = _melody_default(MIXING_FILE)
    for label, mixing in (("card", mixing_for(model.name)), ("melody default", default)):
        if mixing is None:
            continue
        mems = []
        for d in data:
            mm = mixing.in_metre(d["song"], STEPS_PER_QUARTER)
            pm, longest = memory_distributions(d["tokens"].tolist(), d["p_net"].shape[1],
                                               mm.max_order, mm.phase_period)
            mems.append((pm[1:], longest[1:]))
        per = []
        for d, mem in zip(data, mems):
            per.append(mixing.in_metre(d["song"], STEPS_PER_QUARTER))
        bph = _mixed_bits(data, mems, per, enc)
        out[label] = [round(float(x), 4) for x in bph]
    return out


def _melody_default(path: Path) -> Mixing | None:
    """The mixing a card without a memory section gets (memory_mixing.json's "*")."""
    m = json.loads(path.read_text(encoding="utf-8"))["models"].get("*")
    if m is None:
        return None
    fields = ("method", "weight", "bias", "max_order", "table", "network_tokens",
              "generation_power", "phase_period")
    return Mixing(**{k: tuple(m[k]) if isinstance(m[k], list) else m[k]
                     for k in fields if k in m})


def _mixed_bits(data, mems, mixings, enc) -> tuple[float, float]:
    bits, hits, steps = 0.0, 0, 0
    for d, (pm, longest), m in zip(data, mems, mixings):
        targets = d["tokens"][1:]
        p = mix(d["p_net"], pm, m, longest)[np.arange(len(targets)), targets]
        bits -= np.log2(np.maximum(p, 1e-300)).sum()
        hits += enc.count_onsets(targets.tolist())
        steps += len(targets)
    return bits / hits, bits / steps


def write_card(chosen: dict, cards: Path = ROOT / "models") -> Path:
    """The chosen mixing into the drum card's ``memory`` section (atomically)."""
    path = cards / f"{MODEL}.json"
    card = json.loads(path.read_text(encoding="utf-8"))
    card["memory"] = {k: chosen[k] for k in ("method", "max_order", "network_tokens",
                                             "table", "phase_period")}
    write_bytes_atomic(path, (json.dumps(card, indent=2) + "\n").encode("utf-8"))
    return path


def add_parser(sub) -> argparse.ArgumentParser:
    """The ``drum-memory-sweep`` sub-command of ``python -m training``."""
    ap = sub.add_parser("drum-memory-sweep", help="study: fit the drum model's motif memory "
                                                  "shares on the validation grooves; --score",
                        description=__doc__.splitlines()[0])
    ap.add_argument("--score", choices=("test", "human", "validation"), default=None)
    ap.add_argument("--write", action="store_true", help="write the card's memory section")
    ap.add_argument("--orders", type=int, nargs="*", default=list(ORDERS))
    ap.add_argument("--periods", type=int, nargs="*", default=list(PERIODS))
    ap.set_defaults(run=lambda args, argv: run(args))
    return ap


def run(args: argparse.Namespace) -> int:
    from engine.models import ModelLibrary

    model = ModelLibrary().get(MODEL)
    if args.score:
        print(json.dumps(score(model, args.score), indent=1))
        return 0
    report = sweep(model, orders=args.orders, periods=args.periods)
    write_bytes_atomic(OUT, (json.dumps(report, indent=1) + "\n").encode("utf-8"))
    print(json.dumps({k: v for k, v in report.items() if k != "tried"}, indent=1))
    if args.write:
        print(f"wrote {write_card(report['chosen'])}", file=sys.stderr)
    return 0

