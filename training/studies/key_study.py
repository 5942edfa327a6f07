"""Does a better key estimator for the training corpus lower bits per note? (issue 14)

``python -m training key-study`` parses music21's Essen collection again (one process,
about ten minutes), keeps every tune that today's corpus keeps, and transposes each one
to C major / A minor by several whole-tune key estimators:

* ``today``: the encoding's own Krumhansl-Schmuckler estimate (``estimate_song_key``),
  which built training/cache (the script checks it gets the very same tokens);
* ``music21``: music21's default whole-tune analysis, ``score.analyze('key')``
  (the Aarden-Essen profiles);
* ``abc-header``: the ABC header's K: field as music21 reads it (major unless it says
  minor); Essen's K: names the tune's tonic, not its mode;
* ``abc-tonic``: the K: field's tonic, major or minor by the Krumhansl-Kessler
  profiles of the two keys on that tonic;
* ``final-note``: the tonic is the tune's last note (the folk-song cue), major or minor
  the same way;
* ``scale``: the transposition that puts most of the tune's duration on the white
  keys (any diatonic mode: Dorian stays on D, Mixolydian on G), today's key on a tie.

A tune without a usable K: field keeps today's key.  For each corpus (the tunes every
estimator can encode, so the same tunes everywhere) it fits the project's Kneser-Ney
n-gram on the train split at each order of ``--orders``, keeps the order with the best
validation bits/note, and scores the test split two ways: as that corpus transposed it
(the project's bits/note), and "any key": the test tunes' melodies with no key given,
the model's probability averaged over every shift that fits the range, which is the
same test data for every corpus and lets no whole-tune estimate (nor the K: field, which
a seed in the app does not have) tell the model where the tune is going.  Both come with
a 95% bootstrap interval (over test tunes) of the difference from ``today``.  It also
scores the test split with the shipped ``lstm`` network (trained on ``today``'s
transposition, so it favours that one).
It prints a table and writes ``models/baselines/key-estimator.json``.
``--tunes-cache FILE`` keeps the parsed tunes as JSON so that a rerun skips the parse.

The network's own answer (``network_trial`` in the same file): ``--write-corpus today
scale --corpus-dir DIR`` writes each estimator's corpus (the same tunes, the cache's
name) into ``DIR/<estimator>/`` for ``python -m training train --cache-dir``, and
``--score-runs today=CARD scale=CARD ...`` scores the networks trained on them: each on
its own corpus's validation and test splits, and the test split any key, with
bootstrap intervals against the first run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from engine.encodings import DEFAULT_ENCODING
from engine.encodings.keys import ALL_KEYS as _ALL_KEYS
from engine.encodings.keys import KEY_PROFILES as _KEY_PROFILES
from engine.encodings.keys import Key, estimate_song_key
from engine.errors import ContinuoError
from engine.formats import write_bytes_atomic
from engine.song import Note
from training import corpus as C
from training.datasets.folk import tune_handlers
from training.datasets.splits import id_sort_key

OUT = Path(__file__).resolve().parents[2] / "models" / "baselines" / "key-estimator.json"
GERMAN = {"H": "B", "Es": "Eb", "As": "Ab", "Des": "Db", "Ges": "Gb", "Fis": "F#",
          "Cis": "C#", "Dis": "D#", "Gis": "G#", "Ais": "A#"}


# ---------------------------------------------------------------------------------------
# the tunes, parsed once
# ---------------------------------------------------------------------------------------


def parse_tunes(files: Iterable[Path], limit: int | None = None,
                show_progress: bool = True) -> list[dict]:
    """Every tune of the ABC ``files`` that today's corpus keeps, as
    {id, split, ppq, notes: [[pitch, start, duration]], music21: [tonic, minor],
    header: the K: field or None}; the same parse and rules as training/corpus.py."""
    from music21.abcFormat import translate

    from engine.formats import music21_score_to_song

    warnings.filterwarnings("ignore")
    out: list[dict] = []
    t0, seen = time.monotonic(), 0
    for path in files:
        for i, handler in enumerate(tune_handlers(str(path))):
            if limit is not None and seen >= limit:
                return out
            seen += 1
            tune_id = f"{Path(path).name}#{i}"
            try:
                score = translate.abcToStreamScore(handler)
                song = music21_score_to_song(score, what=tune_id)
            except Exception:
                continue
            notes = list(song.notes())
            _, reason = C.encode_song_notes(notes, song.ppq, DEFAULT_ENCODING, strict=True)
            if reason is not None:
                continue
            m21 = score.analyze("key")
            header = next((t.data.strip() for t in handler.tokens
                           if type(t).__name__ == "ABCMetadata" and t.tag == "K"), None)
            out.append({"id": tune_id, "split": C.split_of(tune_id), "ppq": song.ppq,
                        "notes": [[n.pitch, n.start_tick, n.duration_ticks] for n in notes],
                        "music21": [m21.tonic.pitchClass, m21.mode == "minor"],
                        "header": header or None})
            if show_progress and seen % 100 == 0:
                sys.stderr.write(f"\rparsed {seen} tunes, kept {len(out)}, "
                                 f"{time.monotonic() - t0:.0f}s ")
    if show_progress:
        sys.stderr.write("\n")
    return out


def _notes(tune: dict) -> list[Note]:
    return [Note(int(p), int(s), int(d)) for p, s, d in tune["notes"]]


# ---------------------------------------------------------------------------------------
# the estimators
# ---------------------------------------------------------------------------------------


def mode_on(tonic: int, notes: list[Note]) -> Key:
    """The major or minor key on ``tonic`` whose Krumhansl-Kessler profile correlates
    better with the tune's duration-weighted pitch classes (major on a tie)."""
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += n.duration_ticks
    major, minor = Key(tonic, False), Key(tonic, True)
    if np.ptp(hist) == 0:
        return major
    r = _KEY_PROFILES @ (hist - hist.mean())
    return minor if r[_ALL_KEYS.index(minor)] > r[_ALL_KEYS.index(major)] else major


def header_key(text: str | None) -> Key | None:
    """The K: field as a key ('G', 'Dm', German 'H' and 'Es'); None when it names none."""
    if not text:
        return None
    word = text.split()[0]
    minor = word.endswith("m") and len(word) > 1
    root = word[:-1] if minor else word
    try:
        return Key.parse(GERMAN.get(root, root) + ("m" if minor else ""))
    except ContinuoError:
        return None


def _final_tonic(notes: list[Note]) -> int:
    last = max(notes, key=lambda n: (n.start_tick, n.pitch))  # the top line's last note
    return last.pitch % 12


def scale_key(notes: list[Note]) -> Key:
    """The major key whose scale holds the most of the tune's duration (every diatonic
    mode lands on the white keys); on a tie, today's key when its scale is among the
    best, else the lowest tonic; minor when today's estimate is the relative minor."""
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += n.duration_ticks
    held = np.array([hist[list(Key(t).scale_pitch_classes)].sum() for t in range(12)])
    best = np.flatnonzero(held >= held.max())
    today = estimate_song_key(notes)
    major = (today.tonic + 3) % 12 if today.minor else today.tonic
    tonic = major if major in best else int(best[0])
    return today if tonic == major else Key(tonic)


def _from_header(tune: dict, notes: list[Note], literal: bool) -> Key:
    key = header_key(tune["header"])
    if key is None:
        return estimate_song_key(notes)
    return key if literal else mode_on(key.tonic, notes)


ESTIMATORS: dict[str, tuple[str, Callable[[dict, list[Note]], Key]]] = {
    "today": ("Krumhansl-Schmuckler, duration-weighted (estimate_song_key)",
              lambda t, n: estimate_song_key(n)),
    "music21": ("music21 score.analyze('key') (Aarden-Essen)",
                lambda t, n: Key(int(t["music21"][0]), bool(t["music21"][1]))),
    "abc-header": ("the ABC K: field as written (major unless it says minor)",
                   lambda t, n: _from_header(t, n, literal=True)),
    "abc-tonic": ("the K: field's tonic; major or minor by the profiles",
                  lambda t, n: _from_header(t, n, literal=False)),
    "final-note": ("tonic = the last note; major or minor by the profiles",
                   lambda t, n: mode_on(_final_tonic(n), n)),
    "scale": ("the diatonic scale holding most of the tune (today's key on a tie)",
              lambda t, n: scale_key(n)),
}


def transpose_all(tunes: list[dict]) -> dict[str, dict[str, tuple[Key, np.ndarray | None]]]:
    """estimator -> tune id -> (its key, its tokens, or None when the key puts notes
    outside the encoding's range, a tune the corpus would reject)."""
    out: dict[str, dict] = {name: {} for name in ESTIMATORS}
    for tune in tunes:
        notes = _notes(tune)
        for name, (_, estimator) in ESTIMATORS.items():
            key = estimator(tune, notes)
            enc = DEFAULT_ENCODING.encode_notes(notes, tune["ppq"], key=key, closing_off=True)
            tokens = None if enc.report.notes_moved_by_octave else \
                np.asarray(enc.tokens, np.int8)
            out[name][tune["id"]] = (key, tokens)
    return out


def transposed(tunes: list[dict], names: Iterable[str]) -> tuple[list[dict], dict[str, dict]]:
    """The tunes that every named estimator can encode, in the cache's order, and
    estimator -> tune id -> its tokens (None when out of range)."""
    names = list(names)
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown:
        raise ContinuoError(f"no such estimator: {', '.join(unknown)} "
                            f"(the estimators: {', '.join(ESTIMATORS)})")
    encoded: dict[str, dict] = {n: {} for n in names}
    for tune in tunes:
        notes = _notes(tune)
        for name in names:
            enc = DEFAULT_ENCODING.encode_notes(notes, tune["ppq"],
                                                key=ESTIMATORS[name][1](tune, notes),
                                                closing_off=True)
            encoded[name][tune["id"]] = (None if enc.report.notes_moved_by_octave
                                         else np.asarray(enc.tokens, np.int8))
    keep = sorted((t for t in tunes if all(encoded[n][t["id"]] is not None for n in names)),
                  key=lambda t: id_sort_key(t["id"]))
    return keep, encoded


def write_corpora(tunes: list[dict], names: Iterable[str], out_dir: Path) -> dict[str, Path]:
    """The corpus transposed by each named estimator, cached as training/cache holds
    it (the same name and cache key) in ``out_dir/<estimator>/``, so that
    ``python -m training train --cache-dir out_dir/<estimator>`` trains on it: the tunes
    that every named estimator can encode, in the cache's order, so that the corpora
    differ in their transpositions only."""
    names = list(names)
    keep, encoded = transposed(tunes, names)
    cached = C.load_corpus(C.TRAIN_COLLECTION)
    rejected = dict(cached.rejected) if cached is not None else {}
    total = cached.total if cached is not None else len(tunes)
    if len(keep) < len(tunes):
        rejected["range"] = rejected.get("range", 0) + len(tunes) - len(keep)
    out = {}
    for name in names:
        corpus = C.Corpus(C.TRAIN_COLLECTION, [t["id"] for t in keep],
                          [t["split"] for t in keep], [encoded[name][t["id"]] for t in keep],
                          total, rejected, {}, 0.0, DEFAULT_ENCODING)
        out[name] = C.save_corpus(corpus, Path(out_dir) / name)
    return out


def score_runs(tunes: list[dict], runs: dict[str, Path], show_progress: bool = True) -> dict:
    """Networks trained on corpora transposed by different estimators (estimator ->
    its card), each scored from its ``.seq.onnx`` on the tunes every one of those
    estimators encodes: validation and test as its own estimator transposes them, and
    the test split "any key" (the same data for every run, as the study's Kneser-Ney
    figures); with the 95% bootstrap interval (over test tunes) of each run's
    difference from the first one.  A run's label is its estimator's name, or that
    name, '@' and a tag (``today@seed1``: a second run on the same corpus); a tagged
    run is also compared with the first estimator's run of the same tag."""
    from engine.models.card import read_card
    from engine.models.step_model import StepModel

    names = list(runs)
    estimator = {n: n.split("@")[0] for n in names}
    keep, encoded = transposed(tunes, dict.fromkeys(estimator.values()))
    encoded = {n: encoded[estimator[n]] for n in names}
    test = [t["id"] for t in keep if t["split"] == "test"]
    notes = np.array([DEFAULT_ENCODING.count_onsets(encoded[names[0]][i][1:]) for i in test])
    out, per_tune = {}, {}
    for name, card_path in runs.items():
        t0 = time.monotonic()
        model = StepModel(read_card(Path(card_path)))
        card = json.loads(Path(card_path).read_text())
        row: dict = {"estimator": estimator[name], "card": str(card_path)}
        for split in ("validation", "test"):
            row[split] = round(network_bits(model, [encoded[name][t["id"]] for t in keep
                                                    if t["split"] == split]), 4)
        own = np.array([model.score_tokens(encoded[name][i])[0] for i in test])
        anyk = np.array([any_key_bits(lambda m: model.score_tokens(m)[0], encoded[name][i])
                         for i in test])
        per_tune[name] = (own, anyk)
        row["test_any_key"] = round(float(anyk.sum() / notes.sum()), 4)
        # against the first run, and a run 'X@tag' also against the first estimator's
        # run of the same tag (a candidate against its own seed's control)
        tag = name.partition("@")[2]
        refs = [names[0]] + ([f"{estimator[names[0]]}@{tag}"] if tag else [])
        for ref in dict.fromkeys(refs):
            if ref in per_tune and ref != name:
                row[f"test_vs_{ref}_95"] = paired_interval(own, per_tune[ref][0], notes)
                row[f"test_any_key_vs_{ref}_95"] = paired_interval(anyk, per_tune[ref][1],
                                                                   notes)
        training = card.get("training", {})
        row["training"] = {k: training.get(k) for k in ("command", "epochs", "best_epoch",
                                                        "wall_time_s", "best_val_loss")}
        row["card_metrics"] = {k: round(v["bits_per_note"], 4)
                               for k, v in card.get("metrics", {}).items()}
        row["seconds"] = round(time.monotonic() - t0, 1)
        out[name] = row
        if show_progress:
            print(f"{name}: validation {row['validation']:.3f}, test {row['test']:.3f}, "
                  f"any key {row['test_any_key']:.3f}", file=sys.stderr)
    return {"tunes": {s: sum(t["split"] == s for t in keep) for s in C.SPLIT_NAMES},
            "test_notes": int(notes.sum()), "runs": out}


# ---------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------


def kneser_ney(train: list[np.ndarray], validation: list[np.ndarray], orders: Iterable[int]):
    """Fit at each order, keep the best on validation: (the model, validation bits/note
    by order)."""
    from training.scoring import score_distributions
    from engine.models.ngram import KneserNey

    by_order, best = {}, None
    for order in orders:
        kn = KneserNey(DEFAULT_ENCODING.vocab_size, order).fit(train)
        by_order[order] = round(score_distributions(kn.distributions, validation)
                                ["bits_per_note"], 4)
        if best is None or by_order[order] < by_order[best.order]:
            best = kn
    return best, by_order


def tune_bits(dist: Callable[[np.ndarray], np.ndarray], tune: np.ndarray) -> float:
    """-log2 p of every token after the tune's first (as the project's bits/note)."""
    t = np.asarray(tune, np.int64)
    p = dist(t)[1:]
    return float(-np.log2(p[np.arange(len(t) - 1), t[1:]]).sum())


def any_key_bits(bits: Callable[[np.ndarray], float], tune: np.ndarray) -> float:
    """Bits of the tune's melody when nobody says its key: -log2 of the mean, over every
    shift that keeps it inside the encoding's range, of p(the tune so moved), where
    ``bits(tune)`` is a model's -log2 p of a tune.  The same for any transposition of
    the input, so every corpus's model is scored on the very same test data, and the
    whole-tune key estimate leaks nothing."""
    span = DEFAULT_ENCODING.vocab_size
    moved = [m for s in range(-span, span + 1)
             if (m := DEFAULT_ENCODING.transpose_tokens(tune, s)) is not None]
    logp = np.array([-bits(m) for m in moved])
    return float(-(np.logaddexp2.reduce(logp) - np.log2(len(moved))))


def paired_interval(bits: np.ndarray, base: np.ndarray, notes: np.ndarray,
                    resamples: int = 2000) -> list[float]:
    """95% bootstrap interval (over tunes) of the difference in bits/note."""
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(notes), size=(resamples, len(notes)))
    diff = (bits - base)[idx].sum(1) / notes[idx].sum(1)
    return [round(float(q), 4) for q in np.quantile(diff, [0.025, 0.975])]


def network_bits(model, tunes: list[np.ndarray]) -> float:
    bits = notes = 0
    for t in tunes:
        b, _, n = model.score_tokens(t)
        bits, notes = bits + b, notes + n
    return bits / notes


def study(tunes: list[dict], orders: Iterable[int], network: str | None = "lstm",
          show_progress: bool = True) -> dict:
    orders = list(orders)
    encoded = transpose_all(tunes)
    common = [t for t in tunes if all(encoded[e][t["id"]][1] is not None for e in ESTIMATORS)]
    split = {t["id"]: t["split"] for t in tunes}
    model = None
    if network:
        from engine.models import ModelLibrary
        model = ModelLibrary().get(network)
    today = encoded["today"]
    rows, per_tune = {}, {}
    for name, (description, _) in ESTIMATORS.items():
        t0 = time.monotonic()
        enc = encoded[name]
        row: dict = {"estimator": description}
        for which, ids in (("all", [t["id"] for t in tunes]),
                           ("test", [t["id"] for t in tunes if t["split"] == "test"])):
            row[f"key_differs_{which}"] = round(np.mean(
                [enc[i][0] != today[i][0] for i in ids]), 4)
            row[f"tokens_differ_{which}"] = round(np.mean(
                [enc[i][1] is None or not np.array_equal(enc[i][1], today[i][1])
                 for i in ids]), 4)
        row["out_of_range"] = sum(enc[t["id"]][1] is None for t in tunes)
        by_split = {s: [enc[t["id"]][1] for t in common if split[t["id"]] == s]
                    for s in C.SPLIT_NAMES}
        kn, by_order = kneser_ney(by_split["train"], by_split["validation"], orders)
        test_ids = [t["id"] for t in common if split[t["id"]] == "test"]
        per_tune[name] = (np.array([tune_bits(kn.distributions, enc[i][1]) for i in test_ids]),
                          np.array([any_key_bits(partial(tune_bits, kn.distributions),
                                                 today[i][1]) for i in test_ids]))
        notes = np.array([DEFAULT_ENCODING.count_onsets(today[i][1][1:]) for i in test_ids])
        base = per_tune["today"]
        row["kn"] = {"order": kn.order, "validation": by_order[kn.order],
                     "test": round(per_tune[name][0].sum() / notes.sum(), 4),
                     "test_vs_today_95": paired_interval(per_tune[name][0], base[0], notes),
                     "test_any_key": round(per_tune[name][1].sum() / notes.sum(), 4),
                     "test_any_key_vs_today_95": paired_interval(per_tune[name][1], base[1],
                                                                 notes),
                     "validation_by_order": by_order}
        if model is not None:
            row[network] = round(network_bits(model, by_split["test"]), 4)
        row["seconds"] = round(time.monotonic() - t0, 1)
        rows[name] = row
        if show_progress:
            print(f"{name}: KN order {row['kn']['order']} test {row['kn']['test']:.3f}, "
                  f"any key {row['kn']['test_any_key']:.3f}"
                  + (f", {network} {row[network]:.3f}" if model is not None else ""),
                  file=sys.stderr)
    if model is not None:  # the shipped network's own figure with no key given
        test = [today[t["id"]][1] for t in common if split[t["id"]] == "test"]
        any_key = sum(any_key_bits(lambda m: model.score_tokens(m)[0], t) for t in test)
        rows["today"][f"{network}_any_key"] = round(
            any_key / sum(DEFAULT_ENCODING.count_onsets(t[1:]) for t in test), 4)
    header_vs_final = np.mean([header_key(t["header"]) is not None
                               and header_key(t["header"]).tonic == _final_tonic(_notes(t))
                               for t in tunes])
    return {"tunes": len(tunes), "common_tunes": len(common),
            "common_by_split": {s: sum(split[t["id"]] == s for t in common)
                                for s in C.SPLIT_NAMES},
            "header_tonic_is_final_note": round(float(header_vs_final), 4),
            "no_usable_header": sum(header_key(t["header"]) is None for t in tunes),
            "network": network, "kn_orders": orders, "estimators": rows}


def check_today_matches_cache(tunes: list[dict]) -> str:
    """Whether ``today``'s tokens are training/cache's, tune for tune."""
    cached = C.load_corpus(C.TRAIN_COLLECTION)
    if cached is None:
        return "no cached corpus to compare with"
    cache = dict(zip(cached.ids, cached.tunes))
    same = sum(t["id"] in cache and np.array_equal(
        DEFAULT_ENCODING.encode_tune(_notes(t), t["ppq"]).tokens, cache[t["id"]])
        for t in tunes)
    return f"{same} of {len(tunes)} tunes have training/cache's tokens ({len(cache)} cached)"


def table(result: dict) -> str:
    net = result["network"]

    def ci(lo_hi):
        return f"[{lo_hi[0]:+.3f}, {lo_hi[1]:+.3f}]"

    lines = ["| estimator | key differs from today (all / test) | tokens differ (all / test) "
             "| out of range | KN order | KN validation | KN test | vs today, 95% | "
             "KN test, any key | vs today, 95%" + (f" | {net} test" if net else "") + " |",
             "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if net else "")]
    for name, r in result["estimators"].items():
        k = r["kn"]
        lines.append(
            f"| {name} | {r['key_differs_all']:.1%} / {r['key_differs_test']:.1%} | "
            f"{r['tokens_differ_all']:.1%} / {r['tokens_differ_test']:.1%} | "
            f"{r['out_of_range']} | {k['order']} | {k['validation']:.3f} | {k['test']:.3f} | "
            f"{ci(k['test_vs_today_95'])} | {k['test_any_key']:.3f} | "
            f"{ci(k['test_any_key_vs_today_95'])}" + (f" | {r[net]:.3f}" if net else "")
            + (f" (any key {r[net + '_any_key']:.3f})" if f"{net}_any_key" in r else "")
            + " |")
    return "\n".join(lines)


def add_parser(sub) -> argparse.ArgumentParser:
    """The ``key-study`` sub-command of ``python -m training``."""
    ap = sub.add_parser("key-study", help="study: which key estimator the melody corpus "
                                          "should be transposed by (issue 14)",
                        description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, nargs="+", default=[8, 10, 12],
                    help="Kneser-Ney orders to fit (the best on validation is kept)")
    ap.add_argument("--tunes-cache", type=Path, default=None,
                    help="JSON file of the parsed tunes: read when it exists, else written")
    ap.add_argument("--network", default="lstm", help="shipped network to score with "
                    "('' for none)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--write-corpus", nargs="+", metavar="ESTIMATOR", default=None,
                    help="only write the corpus transposed by each of these estimators "
                         "into --corpus-dir/<estimator>/ (for training --cache-dir)")
    ap.add_argument("--corpus-dir", type=Path, default=Path("/tmp/key_study_corpora"))
    ap.add_argument("--score-runs", nargs="+", metavar="ESTIMATOR=CARD", default=None,
                    help="only score these networks, each trained on the corpus of its "
                         "estimator (the first is the control), and write them into --out "
                         "as 'network_trial', keeping the rest of the file")
    ap.set_defaults(run=lambda args, argv: run(args))
    return ap


def run(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    cached = args.tunes_cache is not None and args.tunes_cache.exists()
    if cached:
        tunes = json.loads(args.tunes_cache.read_text())
    else:
        tunes = parse_tunes(C.collection_files(C.TRAIN_COLLECTION))
        if args.tunes_cache is not None:
            write_bytes_atomic(args.tunes_cache, json.dumps(tunes).encode())
    parse_s = time.monotonic() - t0
    if args.write_corpus:
        for name, path in write_corpora(tunes, args.write_corpus, args.corpus_dir).items():
            print(f"{name}: {path}", file=sys.stderr)
        return 0
    if args.score_runs:
        runs = dict(item.split("=", 1) for item in args.score_runs)
        trial = score_runs(tunes, {k: Path(v) for k, v in runs.items()})
        trial["command"] = ("python -m training key-study --tunes-cache "
                            f"{args.tunes_cache} --score-runs {' '.join(args.score_runs)}")
        trial["wall_time_s"] = round(time.monotonic() - t0, 1)
        result = json.loads(args.out.read_text()) if args.out.exists() else {}
        old = result.get("network_trial", {})  # runs scored before stay, by label
        trial["runs"] = {**old.get("runs", {}), **trial["runs"]}
        trial["commands"] = old.get("commands", []) + [trial.pop("command")]
        result["network_trial"] = {**old, **trial}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(args.out, (json.dumps(result, indent=2) + "\n").encode())
        print(f"wrote {args.out}", file=sys.stderr)
        return 0
    check = check_today_matches_cache(tunes)
    print(check, file=sys.stderr)
    result = study(tunes, args.orders, args.network or None)
    result.update({"command": "python -m training key-study"
                   + (f" --orders {' '.join(map(str, args.orders))}"
                      if args.orders != [8, 10, 12] else "")
                   + (f" --tunes-cache {args.tunes_cache}" if args.tunes_cache else ""),
                   "tunes_from": f"{args.tunes_cache} (parsed by an earlier run)" if cached
                   else "music21's Essen ABC files, parsed now",
                   "today_matches_cache": check,
                   "parse_seconds": None if cached else round(parse_s, 1),
                   "wall_time_s": round(time.monotonic() - t0, 1)})
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(args.out, (json.dumps(result, indent=2) + "\n").encode())
    print(f"wrote {args.out}", file=sys.stderr)
    return 0

