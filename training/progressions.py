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

The root classifier that adds its evidence for a chord a beat
(:class:`engine.generation.progressions.RootClassifier`) is a softmax regression per
mode fitted here (numpy, full-batch Adam) to the train split's beats: the melody's
:func:`~engine.generation.progressions.root_features` against the root of the chord
detected on the beat, above the tonic of the key estimated from every part.  Its L2
penalty, its evidence's weight and the melody fit's scale beside it are chosen on the
validation chorales (:data:`ROOT_L2`, :data:`ROOT_WEIGHTS`, :data:`FIT_SCALES`); where
none beats the model without it, the model ships without one.

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
# the root classifier (a chord a beat): its L2 penalties, its evidence's weights and the
# melody fit's scale beside it, each tried on the validation chorales
ROOT_L2 = (1e-4, 3e-4, 1e-3)  # 1e-2 and 1e-5: 1-3 points fewer validation beats
ROOT_WEIGHTS = (1.0, 2.0, 4.0, 8.0)
FIT_SCALES = (1.0, 0.5)
PRIOR_SCALES = (0.0, 0.5, 1.0)
ROOT_STEPS = 300


def fit_softmax(x: np.ndarray, y: np.ndarray, l2: float, steps: int | None = None,
                rate: float = 0.05) -> np.ndarray:
    """(features, 12) weights of a softmax regression of the roots ``y`` on ``x`` (its
    last column the constant): the mean log loss plus ``l2``/2 times the squared weights
    (the constant's aside), minimised by full-batch Adam (``steps``, default
    :data:`ROOT_STEPS`) with the rate falling to 0."""
    steps = ROOT_STEPS if steps is None else steps
    x = np.asarray(x, dtype=np.float32)
    n, f = x.shape
    target = np.zeros((n, 12), dtype=np.float32)
    target[np.arange(n), y] = 1.0
    w = np.zeros((f, 12), dtype=np.float32)
    m, v = np.zeros_like(w), np.zeros_like(w)
    penalised = np.ones((f, 1), dtype=np.float32)
    penalised[-1] = 0.0
    for t in range(1, steps + 1):
        z = x @ w
        z -= z.max(axis=1, keepdims=True)
        prob = np.exp(z)
        prob /= prob.sum(axis=1, keepdims=True)
        g = x.T @ (prob - target) / n + l2 * penalised * w
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        step = rate * (1.0 - (t - 1) / steps)
        w -= step * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return w.astype(float)


def root_data(examples) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """mode -> (features, roots) of the beats with a chord, from
    :func:`engine.generation.progressions.root_examples` of every piece."""
    out = {}
    for mode in P.MODES:
        xs, ys = [], []
        for m, rel, strengths, roots in examples:
            if m != mode:
                continue
            keep = roots >= 0
            xs.append(P.root_features(rel, strengths)[keep])
            ys.append(roots[keep])
        out[mode] = (np.vstack(xs) if xs else np.zeros((0, P.N_ROOT_FEATURES)),
                     np.concatenate(ys) if ys else np.zeros(0, dtype=np.int64))
    return out


def train_roots(data, l2: float) -> P.RootClassifier:
    """A root classifier fitted to ``data`` (:func:`root_data`) with penalty ``l2``."""
    weights, prior = {}, {}
    for mode, (x, y) in data.items():
        weights[mode] = fit_softmax(x, y, l2) if len(y) else np.zeros((P.N_ROOT_FEATURES, 12))
        share = np.bincount(y, minlength=12) + 1.0
        prior[mode] = np.log(share / share.sum())
    return P.RootClassifier(weights, prior)


def beat_cases(chorales, model: P.ProgressionModel) -> list[dict]:
    """What scoring a chord a beat on ``chorales`` needs, worked out once: each one's
    soprano cut into beats, its key and melody fit (which the root classifier does not
    change), and the roots detection names in the four parts."""
    out = []
    for _, song in chorales:
        units = P.melody_units(melody_only(song), "beat")
        key, fit, post = P.best_key(model, "beat", units)
        truth = [(tick, s.root_pc) for tick, s in detect_beat_chords(song) if s is not None]
        out.append({"units": units, "key": key, "fit": fit, "post": post, "truth": truth,
                    "starts": np.array([a for a, _ in units.spans])})
    return out


def beat_agreement(cases, posts) -> float:
    """The share of the cases' beats whose likeliest root (``posts``: each case's chord
    probabilities) is detection's, as :func:`agreement` counts it."""
    n_q = len(DETECTED_QUALITIES)
    right = beats = 0
    for case, post in zip(cases, posts):
        roots = (post.reshape(len(post), 12, n_q).sum(axis=2).argmax(axis=1)
                 + case["key"].tonic) % 12
        for tick, root in case["truth"]:
            beats += 1
            i = int(np.searchsorted(case["starts"], tick, side="right")) - 1
            right += i >= 0 and roots[min(i, len(roots) - 1)] == root
    return right / max(beats, 1)


def choose_roots(examples, model: P.ProgressionModel, validation, say=print
                 ) -> tuple[P.RootClassifier | None, dict]:
    """The root classifier (penalty, weight and fit scale) whose chords a beat agree
    with the validation chorales' most, or None where none beats the model without one."""
    cases = beat_cases(validation, model)
    plain = beat_agreement(cases, [c["post"] for c in cases])
    data = root_data(examples)
    say(f"root classifier: {', '.join(f'{m} {len(y):,}' for m, (_, y) in data.items())} "
        f"training beats; validation without it {100 * plain:.2f}%")
    best, best_score, best_l2, tried = None, plain, None, {}
    for l2 in ROOT_L2:
        roots = train_roots(data, l2)
        alone = beat_agreement(cases, [np.repeat(np.exp(roots.log_probs(
            P.root_features(P.above_tonic(c["units"].weights, c["key"].tonic),
                            c["units"].strengths), "minor" if c["key"].minor else "major")),
            len(DETECTED_QUALITIES), axis=1) for c in cases])
        row = {"alone": round(alone, 4)}
        for weight in ROOT_WEIGHTS:
            for scale in FIT_SCALES:
                for prior in PRIOR_SCALES:
                    candidate = roots.with_weights(weight, scale, prior)
                    score = beat_agreement(cases, [P.with_root_evidence(
                        model, c["units"], c["key"], c["fit"], candidate) for c in cases])
                    row[f"{weight}x{scale}/{prior}"] = round(score, 4)
                    if score > best_score:
                        best, best_score, best_l2 = candidate, score, l2
        tried[str(l2)] = row
        say(f"  l2 {l2}: alone {100 * alone:.2f}%, "
            + ", ".join(f"{k} {100 * v:.2f}%" for k, v in row.items() if k != "alone"))
    chosen = None if best is None else {"l2": best_l2, "weight": best.weight,
                                        "fit_scale": best.fit_scale,
                                        "prior_scale": best.prior_scale}
    return best, {"validation_without": round(plain, 4), "validation_by_l2": tried,
                  "chosen": chosen, "validation_chosen": round(best_score, 4)}


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
    examples = []
    for _, _, song in by_split["train"]:
        beats = detect_beat_chords(song)
        counts = counts.add(P.count_song(song, beats))
        example = P.root_examples(song, beats)
        if example is not None:
            examples.append(example)
    say(f"counted {counts.pieces} training pieces")
    validation = four_part_chorales(by_split["validation"])
    fit_weight, chosen = {}, {}
    for per in P.UNITS:
        tried = {}
        for w in FIT_WEIGHTS:
            model = P.ProgressionModel(counts, {**{u: P.DEFAULT_FIT for u in P.UNITS}, per: w}, {})
            tried[w] = score_split(validation, model, per)["root"]
        # a tie goes to the heavier melody fit: where validation cannot tell, the chords
        # follow the melody the user wrote (a bar's A C E A is Am at 1.5, F at 1.0)
        fit_weight[per] = max(tried, key=lambda w: (tried[w], w))
        chosen[per] = {str(w): round(r, 4) for w, r in tried.items()}
        say(f"{per}: validation root agreement by fit weight {chosen[per]}")
    model = P.ProgressionModel(counts, fit_weight, {})
    model.roots, root_choice = choose_roots(examples, model, validation, say)
    test = four_part_chorales(by_split["test"])
    figures = {per: score_split(test, model, per) for per in P.UNITS}
    info = {"pieces": {s: len(v) for s, v in by_split.items()},
            "validation_chorales": len(validation), "test_chorales": len(test),
            "validation_root_by_fit_weight": chosen, "root_classifier": root_choice}
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
        "root_classifier_choice": info["root_classifier"],
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
