"""``python -m training progressions``: the chord progression model that suggests chords
for a melody (engine/generation/progressions.py), counted from the chords detected in
music21's part music (the folk collections have no harmony).

The pieces are those of the part-music notes cache (training/datasets/partmusic.py) of
the collections asked for (default Bach's: with Monteverdi's madrigals too, 1.6 points
fewer validation beats agree; parsed into a cache of their own,
``training/cache/progressions/``, when it is missing).  The train
split's chords are counted; the melody fit's weight of each unit (beat, half bar, bar) is
chosen on the validation split's four-part chorales (the share of beats whose suggested
root for the soprano is the root detected in Bach's four parts); the figures are the
test split's four-part chorales, beside a first-order baseline: on each beat, the chord
most often heard in the key (the train split's counts) that holds the soprano's note.

Writes ``models/chords/progressions.json``: the counts and a card-like header (data,
split, command, figures).  No pickle.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from engine.encodings.chords import DETECTED_QUALITIES, QUALITIES, beat_segments, chord_at, \
    detect_beat_chords
from engine.formats import write_bytes_atomic
from engine.generation import progressions as P
from engine.song import Song, Track, melody_track

CACHE_DIR = Path(__file__).resolve().parent / "cache" / "progressions"
COLLECTIONS = ("bach",)  # Monteverdi too: 1.6 points fewer beats right on validation
FIT_WEIGHTS = (0.75, 1.0, 1.5, 2.0, 3.0)


def melody_only(song: Song) -> Song:
    """The song's melody (its highest line) alone, with its bars."""
    track = song.tracks[melody_track(song)]
    return Song(ppq=song.ppq, tracks=[Track(name=track.name, notes=list(track.notes))],
                tempo_map=song.tempo_map, time_signatures=song.time_signatures,
                key_signatures=song.key_signatures)


def baseline_beats(melody: Song, model: P.ProgressionModel) -> list[tuple[int, int | None]]:
    """(tick, root pitch class) on every beat: the chord most often heard in the key
    (train counts) that holds the melody note sounding at the beat (the last one
    before it through a rest)."""
    notes = sorted(melody.tracks[0].notes, key=lambda n: n.start_tick)
    key = P.melody_key(notes)
    heard = model.counts.pairs["beat"]["minor" if key.minor else "major"].sum(axis=(0, 1))[:P.N_CHORDS]
    out, i, current = [], 0, None
    for tick, _, _ in beat_segments(melody):
        while i < len(notes) and notes[i].start_tick <= tick:
            current = notes[i]
            i += 1
        if current is None:
            out.append((tick, None))
            continue
        rel = (current.pitch - key.tonic) % 12
        best, best_count = None, -1.0
        for c in range(P.N_CHORDS):
            root, q = divmod(c, len(DETECTED_QUALITIES))
            if (rel - root) % 12 in QUALITIES[DETECTED_QUALITIES[q]] and heard[c] > best_count:
                best, best_count = c, heard[c]
        out.append((tick, (best // len(DETECTED_QUALITIES) + key.tonic) % 12))
    return out


def agreement(song: Song, model: P.ProgressionModel, per: str) -> dict:
    """On the beats where the four parts name a chord: how many, how many of the
    suggested chords (for the melody alone) share its root, and the baseline's."""
    truth = detect_beat_chords(song)
    melody = melody_only(song)
    suggested = P.suggest_chords(melody, per=per, model=model)
    base = dict(baseline_beats(melody, model))
    beats = roots = base_roots = 0
    for tick, symbol in truth:
        if symbol is None:
            continue
        beats += 1
        mine = chord_at(suggested, tick)
        roots += mine is not None and mine.root_pc == symbol.root_pc
        base_roots += base.get(tick) == symbol.root_pc
    return {"beats": beats, "root": roots, "baseline_root": base_roots}


def four_part_chorales(pieces) -> list[tuple[str, Song]]:
    return [(pid, song) for pid, collection, song in pieces
            if collection == "bach" and len(song.tracks) == 4]


def score_split(chorales, model, per: str) -> dict:
    rows = [agreement(song, model, per) for _, song in chorales]
    beats = sum(r["beats"] for r in rows)
    return {"pieces": len(rows), "beats": beats,
            "root": sum(r["root"] for r in rows) / max(beats, 1),
            "baseline_root": sum(r["baseline_root"] for r in rows) / max(beats, 1)}


def build(collections=COLLECTIONS, cache_dir: Path = CACHE_DIR, processes: int = 1,
          say=print) -> tuple[P.ProgressionModel, dict]:
    from training.datasets import partmusic as D

    npz, _ = D.cache_paths(cache_dir)
    if not npz.exists():
        say(f"parsing {', '.join(collections)} into {cache_dir} (music21; minutes)")
        D.build_notes_cache(processes, collections=list(collections), cache_dir=cache_dir)
    pieces = [p for p in D.load_part_songs(cache_dir=cache_dir) if p[1] in collections]
    by_split = {s: [p for p in pieces if D.split_of(p[0]) == s]
                for s in ("train", "validation", "test")}
    counts = P.ProgressionCounts.empty()
    for _, _, song in by_split["train"]:
        counts = counts.add(P.count_song(song))
    say(f"counted {counts.pieces} training pieces")
    validation = four_part_chorales(by_split["validation"])
    fit_weight, chosen = {}, {}
    for per in P.UNITS:
        tried = {}
        for w in FIT_WEIGHTS:
            model = P.ProgressionModel(counts, {**{u: P.DEFAULT_FIT for u in P.UNITS}, per: w}, {})
            tried[w] = score_split(validation, model, per)["root"]
        fit_weight[per] = max(tried, key=tried.get)
        chosen[per] = {str(w): round(r, 4) for w, r in tried.items()}
        say(f"{per}: validation root agreement by fit weight {chosen[per]}")
    model = P.ProgressionModel(counts, fit_weight, {})
    test = four_part_chorales(by_split["test"])
    figures = {per: score_split(test, model, per) for per in P.UNITS}
    info = {"pieces": {s: len(v) for s, v in by_split.items()},
            "validation_chorales": len(validation), "test_chorales": len(test),
            "validation_root_by_fit_weight": chosen}
    return model, {"figures": figures, **info}


def run(args: argparse.Namespace, command: str) -> int:
    t0 = time.monotonic()
    collections = tuple(c for c in args.collections.split(",") if c)
    model, info = build(collections, Path(args.cache_dir), args.processes)
    model.card = {
        "name": "progressions",
        "data": f"music21's part music ({', '.join(collections)}), chords detected by "
                f"engine.encodings.chords.detect_beat_chords in every part, the melody the "
                f"highest line (engine.song.melody_track); keys estimated from all parts "
                f"(Krumhansl-Schmuckler)",
        "split": "zlib.crc32(id) % 20: 0 test, 1 validation, else train (training/datasets/"
                 "splits.py); counts from train, fit weights chosen on validation's "
                 "four-part chorales, figures on test's",
        "command": command,
        "figures": {"test_four_part_chorales": info["figures"],
                    "what": "share of the beats where Bach's four parts name a chord whose "
                            "root the chords suggested for the soprano alone share; "
                            "baseline: on each beat the commonest chord in the key holding "
                            "the soprano's note"},
        "pieces": info["pieces"],
        "validation_root_by_fit_weight": info["validation_root_by_fit_weight"],
        "built_seconds": round(time.monotonic() - t0, 1),
    }
    out = Path(args.out)
    write_bytes_atomic(out, json.dumps(model.to_json(), separators=(",", ":")).encode("utf-8"))
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB, "
          f"{time.monotonic() - t0:.0f} s)")
    print("| unit | test chorales | beats | suggested root | baseline root |")
    print("|---|---:|---:|---:|---:|")
    for per, f in info["figures"].items():
        print(f"| {per} | {f['pieces']} | {f['beats']:,} | {100 * f['root']:.1f}% | "
              f"{100 * f['baseline_root']:.1f}% |")
    return 0


def add_parser(sub, command_line) -> argparse.ArgumentParser:
    """The ``progressions`` sub-command of ``python -m training``."""
    p = sub.add_parser("progressions", help="count chord progressions in the part music "
                                            "and write the model that suggests chords")
    p.add_argument("--collections", default=",".join(COLLECTIONS),
                   help="comma-separated part-music collections (default: bach)")
    p.add_argument("--cache-dir", default=str(CACHE_DIR),
                   help="the notes cache of those collections (built when missing)")
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--out", default=str(P.model_path()))
    p.set_defaults(run=lambda args, argv: run(args, command_line(argv)))
    return p
