"""How often does the auto key lock forbid the notes a tune really plays next?

For every tune of a split of music21's Essen collection (training's corpus cache: the
tunes are already in C major / A minor by the whole-tune estimate, which changes
nothing here since every estimator below moves with the music), the first 2 bars are
the seed and the next 4 bars the real continuation; bars are of 4/4 (16 steps: the
cache keeps no metre).  For each way of choosing the lock, the share of the
continuation's notes outside the locked pitch classes, the tunes where the lock forbids
at least one of them, how many pitch classes the lock allows on average and in how many
tunes it allows all 12 (locks nothing):

* ``seed profile``: Krumhansl-Schmuckler on the seed (the generator before issue 14);
* ``model``: :func:`engine.generation.keychoice.choose_key`, the auto key lock now;
* ``C major / A minor``: the scale the whole tune was moved into (a bound: it knows
  the whole tune);
* with ``--grid``, the model's likelihoods with every temperature and threshold tried,
  the table the defaults in engine/encodings/keys.py were chosen from (validation).

    python bench/key_lock.py [--split test|validation] [--models duet lstm wavenet] [--grid]

Prints a table and writes bench/results/key_lock.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import ROOT  # noqa: E402
from engine.encodings import Key, estimate_song_key  # noqa: E402
from engine.encodings.keys import (KEY_ALLOW, KEY_TEMPERATURE,  # noqa: E402
                                   key_from_likelihoods)
from engine.generation.keychoice import plausible_shifts, shift_log_likelihoods  # noqa: E402
from engine.models import ModelLibrary  # noqa: E402

SEED_STEPS, NEXT_STEPS = 32, 64
PPQ = 480
TEMPERATURES = (1.0, 2.0, 4.0)
ALLOWS = (0.05, 0.1, 0.2, 0.3, 0.5)


def seeds(split: str):
    from training import corpus as C

    corpus = C.get_corpus(C.TRAIN_COLLECTION)
    enc = corpus.encoding
    for tokens in corpus.split(split):
        notes = enc.decode([int(t) for t in tokens[:SEED_STEPS]], PPQ)
        nxt = [enc.token_pitch(int(t)) for t in tokens[SEED_STEPS:SEED_STEPS + NEXT_STEPS]
               if enc.onset_mask[int(t)]]
        if notes and nxt:
            yield enc, notes, nxt


class Tally:
    def __init__(self) -> None:
        self.outside = self.notes = self.tunes = self.hit = self.pcs = self.open = 0

    def add(self, allowed, nxt) -> None:
        out = sum(1 for p in nxt if p % 12 not in allowed)
        self.outside += out
        self.notes += len(nxt)
        self.tunes += 1
        self.hit += out > 0
        self.pcs += len(allowed)
        self.open += len(allowed) == 12

    def row(self) -> dict:
        return {"outside_share": round(self.outside / max(self.notes, 1), 4),
                "tunes_with_a_forbidden_note": self.hit, "tunes": self.tunes,
                "mean_allowed_pitch_classes": round(self.pcs / max(self.tunes, 1), 2),
                "tunes_unlocked": self.open}


def model_rows(library: ModelLibrary, name: str, tunes, args: argparse.Namespace,
               rows: dict[str, dict]) -> None:
    """Add the rows of one model's lock (with ``--grid``, of every temperature and
    threshold) to ``rows``."""
    model = library.get(name)
    t0 = time.perf_counter()
    found = []
    for enc, notes, nxt in tunes:
        shifts = range(12) if args.all_shifts else plausible_shifts(notes)
        ll = shift_log_likelihoods(model, enc, notes, PPQ, 0, SEED_STEPS, shifts)
        found.append((np.zeros(12) if ll is None else ll, notes, nxt))
    ms = (time.perf_counter() - t0) * 1000 / len(tunes)
    grid = [(KEY_TEMPERATURE, KEY_ALLOW)]
    if args.grid:
        grid += [(t, a) for t in TEMPERATURES for a in ALLOWS]
    for temperature, allow in grid:
        tally = Tally()
        for ll, notes, nxt in found:
            pairs = [(n.pitch, n.duration_ticks) for n in notes]
            est = key_from_likelihoods(ll, pairs, notes[0].pitch, temperature, allow)
            tally.add(est.allowed, nxt)
        label = (f"model {name}" if (temperature, allow) == (KEY_TEMPERATURE, KEY_ALLOW)
                 and name not in {r.split()[1] for r in rows if r.startswith("model ")}
                 else f"model {name} T={temperature:g} allow>={allow:g}")
        rows[label] = {**tally.row(), "temperature": temperature, "allow": allow,
                       "ms_per_seed": round(ms, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = common.parser(__doc__)
    ap.add_argument("--split", default="test")
    ap.add_argument("--models", nargs="+", default=["duet", "lstm", "wavenet"])
    ap.add_argument("--grid", action="store_true", help="also every temperature and threshold")
    ap.add_argument("--all-shifts", action="store_true",
                    help="score all 12 shifts (the generator scores the plausible ones)")
    common.add_out(ap, "key_lock")
    args = ap.parse_args(argv)
    library = ModelLibrary([ROOT / "models"])
    tunes = list(seeds(args.split))
    rows: dict[str, dict] = {}
    profile, whole = Tally(), Tally()
    for enc, notes, nxt in tunes:
        profile.add(estimate_song_key(notes).scale_pitch_classes, nxt)
        whole.add(Key(0).scale_pitch_classes, nxt)
    rows["seed profile (before)"] = profile.row()
    rows["C major / A minor (whole tune)"] = whole.row()
    for name in args.models:
        model_rows(library, name, tunes, args, rows)
    print(f"{args.split} split: first {SEED_STEPS // 16} bars as the seed, the next "
          f"{NEXT_STEPS // 16} bars' notes ({sum(len(t[2]) for t in tunes)} notes, "
          f"{len(tunes)} tunes)")
    common.print_table(
        [("lock", "44"), ("outside", 8), ("tunes hit", 10), ("pcs", 5), ("unlocked", 9)],
        ([label, f"{r['outside_share']:8.2%}", r["tunes_with_a_forbidden_note"],
          f"{r['mean_allowed_pitch_classes']:5.2f}", r["tunes_unlocked"]]
         for label, r in rows.items()))
    common.write_json(Path(args.out), {"split": args.split, "seed_steps": SEED_STEPS,
                                       "next_steps": NEXT_STEPS, "locks": rows}, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
