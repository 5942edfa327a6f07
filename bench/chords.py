"""Chord detection against human harmonic analyses: music21's corpus ships roman-numeral
analyses (``.rntxt``) of Bach chorales (``bach/choraleAnalyses``, aligned with the
chorales by their BWV number) and of Monteverdi's madrigals (``monteverdi/*.rntxt``
beside each madrigal's ``.mxl``).  Each score is read as Continuo reads it
(engine.formats.scores), its chords detected by engine.encodings.chords (no music21),
and every analysed beat compared: root and quality (major, minor, diminished, augmented,
dominant seventh, other seventh) and the root alone.  Targets: 80% and 88%.  An
analysis whose bars are not the score's (19 of the madrigals number another edition's
bars: 92 in the score, 68 in the analysis) cannot be aligned by measure and is left out,
named in the output and the JSON.

music21 reads the analyses here; it is never used by the detector.

With Debian's ``mma`` installed, ``--mma N`` also renders N random chord charts (16
bars, a chord a bar) in random 4/4 grooves of mma's standard library and counts the
bars whose detected chord (the one of most of the bar's beats) has the chart's root and
triad quality (major, minor, diminished, augmented): target 92%.  mma's humanising is
seeded per chart (``RndSeed``), so a rerun renders the same files.

``--suggest`` also scores the chords suggested for a melody
(engine/generation/progressions.py): for the soprano alone of each four-part chorale of
the part-music test split (Bach's in music21's corpus, split by
training/datasets/splits.py), the share of the beats where the chords detected in
Bach's four parts name a chord whose root the suggestion shares, per bar, half bar and
beat (target 60%), beside a first-order baseline: on each beat, the chord most often
heard in the key (the model's counts) that holds the soprano's note.

    python bench/chords.py [--limit N] [--mma N] [--seed S] [--suggest] [--out bench/results/chords.json]
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import add_out, command_line, git_state, parser, print_table, write_json  # noqa: E402

TARGET_ROOT_QUALITY = 0.80
TARGET_ROOT = 0.88
MAX_BAR_DIFFERENCE = 2  # score and analysis bars further apart than this: not aligned
COLLECTIONS = ("bach chorales", "monteverdi madrigals")


def _corpus_dir() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def analysis_pairs(collection: str) -> list[tuple[str, Path, str]]:
    """(name, analysis file, score in music21's corpus) of every analysed piece."""
    corpus = _corpus_dir()
    out = []
    if collection == "bach chorales":
        for rn in sorted((corpus / "bach" / "choraleAnalyses").glob("*.rntxt")):
            m = re.search(r"^BWV:\s*(\S+)", rn.read_text(), re.M)
            if m:
                out.append((rn.stem, rn, f"bach/bwv{corpus_number(m.group(1))}"))
    else:
        for rn in sorted((corpus / "monteverdi").glob("*.rntxt")):
            score = rn.with_suffix(".mxl")
            if score.exists():
                out.append((rn.stem, rn, str(score)))
    return out


def corpus_number(bwv: str) -> str:
    """The corpus's name for an analysis's BWV number: "248(2).12" is bwv248.12-2,
    "41.6s" is bwv41.6."""
    m = re.fullmatch(r"(\d+)\((\d+)\)\.(\d+)", bwv)
    if m:
        return f"{m.group(1)}.{m.group(3)}-{m.group(2)}"
    return bwv.rstrip("s")


def family_of_numeral(rn) -> str:
    """The analysts' chord as the detector's families name it."""
    if rn.isDominantSeventh():
        return "dominant seventh"
    if rn.seventh is not None:
        return "other seventh"
    if rn.quality in ("major", "minor", "diminished", "augmented"):
        return rn.quality
    return "other"


def transposition(song, numerals) -> int:
    """Semitones from the analysis's key to the score's: two chorales are analysed in
    another key than the corpus holds them.  Found from the pitch content alone (the
    analysis's chord tones against the score's notes, each weighted by duration, at
    the best of 12 shifts), never from the detector."""
    import numpy as np

    heard = np.zeros(12)
    for note in song.notes():
        heard[note.pitch % 12] += note.duration_ticks
    analysed = np.zeros(12)
    for rn in numerals:
        for p in rn.pitches:
            analysed[p.pitchClass] += 1.0
    return int(np.argmax([np.dot(np.roll(analysed, s), heard) for s in range(12)]))


def analysed_chords(path: Path, song=None) -> list[tuple[int, float, int, str]]:
    """(measure, beat, root pitch class, family) of every numeral of an analysis, moved
    to the key the corpus holds the piece in (:func:`transposition`)."""
    import music21

    analysis = music21.converter.parse(path, format="romanText", forceSource=True,
                                       storePickle=False)
    numerals = list(analysis.recurse().getElementsByClass(music21.roman.RomanNumeral))
    shift = 0 if song is None else transposition(song, numerals)
    out = []
    for rn in numerals:
        if rn.measureNumber is None:
            continue
        out.append((rn.measureNumber, float(rn.beat), (rn.root().pitchClass + shift) % 12,
                    family_of_numeral(rn)))
    out.sort(key=lambda c: (c[0], c[1]))
    return out


def load_score(where: str):
    import music21

    from engine.formats import music21_score_to_song

    score = music21.corpus.parse(where) if not where.startswith("/") else \
        music21.converter.parse(where, forceSource=True, storePickle=False)
    return music21_score_to_song(score, what=where)


def compare(song, truth: list[tuple[int, float, int, str]]) -> tuple[int, int, int]:
    """(analysed beats, root and quality agree, root agrees)."""
    import bisect

    from engine.encodings.chords import detect_beat_chords

    keys = [(m, b) for m, b, _, _ in truth]
    last_measure = truth[-1][0] if truth else -1
    beats = agree = roots = 0
    for tick, symbol in detect_beat_chords(song):
        bar, beat, _ = song.bar_beat_at(tick)
        if bar > last_measure:
            break
        i = bisect.bisect_right(keys, (bar, beat + 1e-6)) - 1
        if i < 0:
            continue
        _, _, root, family = truth[i]
        beats += 1
        if symbol is None:
            continue
        if symbol.root_pc == root:
            roots += 1
            agree += symbol.family == family
    return beats, agree, roots


def run(collections=COLLECTIONS, limit: int | None = None, say=print) -> dict:
    results = {}
    for collection in collections:
        pieces = analysis_pairs(collection)[:limit]
        rows: list[dict] = []
        left_out: list[dict] = []
        for name, rn, where in pieces:
            try:
                song = load_score(where)
                truth = analysed_chords(rn, song)
            except Exception as e:  # a corpus file music21 cannot align: named, left out
                say(f"  {name}: left out ({type(e).__name__}: {str(e)[:80]})")
                continue
            bars = song.bar_beat_at(max(song.end_tick - 1, 0))[0]
            if not truth or abs(bars - truth[-1][0]) > MAX_BAR_DIFFERENCE:
                # the analysis numbers another edition's bars (19 madrigals): measure
                # numbers cannot align it, so it is left out, and named
                say(f"  {name}: left out (the score has {bars} bars, the analysis "
                    f"{truth[-1][0] if truth else 0})")
                left_out.append({"piece": name, "score_bars": bars,
                                 "analysis_bars": truth[-1][0] if truth else 0})
                continue
            beats, agree, roots = compare(song, truth)
            rows.append({"piece": name, "beats": beats, "root_quality": agree, "root": roots})
        beats = sum(r["beats"] for r in rows)
        results[collection] = {
            "pieces": len(rows), "beats": beats,
            "root_quality": sum(r["root_quality"] for r in rows) / max(beats, 1),
            "root": sum(r["root"] for r in rows) / max(beats, 1),
            "per_piece": rows, "left_out": left_out,
        }
    return results


TARGET_SUGGESTED_ROOT = 0.60


def test_chorales(limit: int | None = None, split: str = "test") -> list[tuple[str, object]]:
    """(id, song) of the four-part Bach chorales of the part-music test split (or
    ``split``)."""
    from training.datasets.partmusic import collection_files, corpus_root
    from training.datasets.splits import split_of

    out = []
    for piece in collection_files()["bach"]:
        if split_of(piece) != split:
            continue
        song = load_score(str(corpus_root() / piece))
        if len(song.tracks) == 4:
            out.append((piece, song))
    return out[:limit]


def run_suggest(limit: int | None = None, say=print, split: str = "test") -> dict:
    """The suggested chords against Bach's, per unit (training/progressions.py counts),
    on the four-part chorales of ``split``."""
    from engine.generation.progressions import UNITS, load_model
    from training.progressions import agreement

    model = load_model()
    chorales = test_chorales(limit, split)
    out = {"split": split, "root_classifier": model.roots is not None,
           "pieces": [p for p, _ in chorales], "units": {}}
    for per in UNITS:
        rows = [agreement(song, model, per) for _, song in chorales]
        beats = sum(r["beats"] for r in rows)
        out["units"][per] = {
            "beats": beats, "root": sum(r["root"] for r in rows) / max(beats, 1),
            "baseline_root": sum(r["baseline_root"] for r in rows) / max(beats, 1),
            "per_piece": [{"piece": p, **r} for (p, _), r in zip(chorales, rows)]}
        say(f"  suggest per {per}: {100 * out['units'][per]['root']:.1f}% of {beats} beats")
    return out


HARMONISED_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 5.0)  # the votes' weight beside the model's


def harmonised_votes(song, library, model: str, k: int, temperature: float,
                     starts) -> np.ndarray:
    """(units, 12): the share of ``k`` harmonisations of ``song``'s melody (a polyphonic
    model's, rng seed 0) whose detected chord at each unit start has each root."""
    from engine.encodings import HARMONISE
    from engine.encodings.chords import detect_beat_chords
    from engine.generation import jobs
    from engine.generation.parts_song import song_with_parts
    from engine.generation.request import GenerationRequest, GenerationSettings

    settings = GenerationSettings(model=model, temperature=temperature, variations=k,
                                  rng_seed=0)
    result = jobs.run(library, song, GenerationRequest(HARMONISE, settings, 0))
    row = {int(t): i for i, t in enumerate(starts)}
    votes = np.zeros((len(starts), 12))
    for v in range(len(result.variations)):
        for tick, symbol in detect_beat_chords(song_with_parts(song, result, v)):
            if symbol is not None and tick in row:
                votes[row[tick], symbol.root_pc] += 1 / k
    return votes


def run_suggest_harmonised(split: str, model: str, k: int, temperature: float,
                           limit: int | None = None, say=print) -> dict:
    """A chord a beat from the progression model's root probabilities plus ``weight``
    times the roots of ``k`` harmonisations' detected chords (weight 0: the model alone;
    "alone": the harmonisations' vote alone), against Bach's chords on ``split``."""
    from engine.encodings.chords import detect_beat_chords
    from engine.generation import progressions as P
    from engine.models.library import ModelLibrary
    from training.progressions import melody_only

    library, progressions = ModelLibrary(), P.load_model()
    right = dict.fromkeys([*map(str, HARMONISED_WEIGHTS), "alone"], 0)
    beats, cpu = 0, 0.0
    chorales = test_chorales(limit, split)
    for _, song in chorales:
        melody = melody_only(song)
        units = P.melody_units(melody, "beat")
        key, post = P.chord_posteriors(progressions, "beat", units)
        roots = np.roll(post.reshape(len(post), 12, -1).sum(axis=2), key.tonic, axis=1)
        starts = np.array([a for a, _ in units.spans])
        t0 = time.process_time()
        votes = harmonised_votes(melody, library, model, k, temperature, starts)
        cpu += time.process_time() - t0
        for tick, symbol in detect_beat_chords(song):
            i = int(np.searchsorted(starts, tick, side="right")) - 1
            if symbol is None:
                continue
            beats += 1
            if i < 0:
                continue
            right["alone"] += votes[i].max() > 0 and votes[i].argmax() == symbol.root_pc
            for w in HARMONISED_WEIGHTS:
                score = np.log(roots[i] + 1e-4) + w * votes[i]
                right[str(w)] += int(score.argmax()) == symbol.root_pc
    out = {"split": split, "model": model, "variations": k, "temperature": temperature,
           "chorales": len(chorales), "beats": beats,
           "harmonise_cpu_s_per_chorale": cpu / max(len(chorales), 1),
           "root_by_weight": {w: n / max(beats, 1) for w, n in right.items()}}
    say(f"  {split}, {model} x{k} at temperature {temperature}: "
        + ", ".join(f"{w} {100 * r:.1f}%" for w, r in out["root_by_weight"].items())
        + f" ({out['harmonise_cpu_s_per_chorale']:.2f} s CPU a chorale)")
    return out


MMA_LIBRARY = Path("/usr/share/mma/lib/stdlib")
TARGET_MMA_BARS = 0.92
# chart chords: (mma's suffix, the triad it holds), weighted as lead sheets use them
CHART_QUALITIES = (("", "major", 6), ("m", "minor", 5), ("7", "major", 4),
                   ("m7", "minor", 3), ("maj7", "major", 2), ("dim", "diminished", 1),
                   ("m7b5", "diminished", 1), ("aug", "augmented", 1))
CHART_ROOTS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
TRIADS = {"": "major", "7": "major", "maj7": "major", "m": "minor", "m7": "minor",
          "dim": "diminished", "m7b5": "diminished", "dim7": "diminished",
          "aug": "augmented"}


def mma_grooves() -> list[str]:
    """The main groove of every 4/4 style file of mma's standard library (a file of
    four beats a bar that writes another time signature, 6/8 in ballad68, is left out:
    its MIDI file's bar lines are not its bars)."""
    out = []
    for style in sorted(MMA_LIBRARY.glob("*.mma")):
        text = style.read_text(errors="replace")
        if not re.search(r"^Time 4\b", text, re.M) or any(
                sig.split() != ["4", "4"] for sig in re.findall(r"^Timesig\s+(.+)$", text, re.M)):
            continue
        for name in re.findall(r"^DefGroove\s+(\S+)", text, re.M):
            if not re.search(r"intro|end|fill|break", name, re.I):
                out.append(name)
                break
    return out


def mma_charts(count: int, seed: int, bars: int = 16) -> list[tuple[str, list[tuple[int, str]]]]:
    """(groove, [(root pitch class, mma suffix) a bar]) for ``count`` random charts."""
    import random

    rng = random.Random(seed)
    grooves = mma_grooves()
    weights = [w for _, _, w in CHART_QUALITIES]
    charts = []
    for _ in range(count):
        chart = [(rng.randrange(12), rng.choices(CHART_QUALITIES, weights)[0][0])
                 for _ in range(bars)]
        charts.append((rng.choice(grooves), chart))
    return charts


def run_mma(count: int, seed: int, say=print) -> dict:
    """Render each chart with mma, read the MIDI as Continuo does, and count right bars."""
    import os
    import shutil
    import subprocess
    import tempfile
    from collections import Counter

    from engine.encodings.chords import detect_beat_chords
    from engine.formats import midi_file_to_song

    if shutil.which("mma") is None:
        say("mma is not installed (apt install mma): the rendered-accompaniment rows are "
            "left out")
        return {}
    rows = []
    triad_of = {suffix: triad for suffix, triad, _ in CHART_QUALITIES}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (groove, chart) in enumerate(mma_charts(count, seed)):
            source = Path(tmp) / f"chart{i}.mma"
            out = Path(tmp) / f"chart{i}.mid"
            # mma humanises with Python's random numbers: seeded per chart, a rerun
            # renders the same notes, so two detections compare on the same files
            lines = [f"RndSeed {seed * 1000 + i}", "Tempo 120", f"Groove {groove}"]
            lines += [f"{b + 1} {CHART_ROOTS[root]}{suffix}" for b, (root, suffix)
                      in enumerate(chart)]
            source.write_text("\n".join(lines) + "\n")
            done = subprocess.run(["mma", str(source), "-f", str(out)], capture_output=True,
                                  text=True, timeout=60,
                                  env={**os.environ, "PYTHONHASHSEED": "0"})
            if done.returncode != 0 or not out.exists():
                say(f"  {groove}: mma failed ({done.stdout.strip().splitlines()[-1:]})")
                continue
            song = midi_file_to_song(out)
            per_bar: dict[int, Counter] = {}
            for tick, symbol in detect_beat_chords(song):
                bar, _, _ = song.bar_beat_at(tick)
                if symbol is not None:
                    per_bar.setdefault(bar, Counter())[(symbol.root_pc,
                                                        TRIADS.get(symbol.quality))] += 1
            right = 0
            for b, (root, suffix) in enumerate(chart):
                votes = per_bar.get(b + song.first_bar_number)
                if votes and votes.most_common(1)[0][0] == (root, triad_of[suffix]):
                    right += 1
            rows.append({"groove": groove, "bars": len(chart), "right": right,
                         "chart": [f"{CHART_ROOTS[r]}{q}" for r, q in chart]})
    bars = sum(r["bars"] for r in rows)
    return {"seed": seed, "charts": len(rows), "bars": bars,
            "right": sum(r["right"] for r in rows) / max(bars, 1), "per_chart": rows}


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--limit", type=int, help="only the first N pieces of each collection")
    ap.add_argument("--mma", type=int, default=0, metavar="N",
                    help="also render N random chord charts with mma and score the bars")
    ap.add_argument("--seed", type=int, default=2025, help="the random charts' seed")
    ap.add_argument("--skip-analyses", action="store_true", help="only the mma charts")
    ap.add_argument("--suggest", action="store_true",
                    help="also score the chords suggested for the test chorales' sopranos")
    ap.add_argument("--suggest-split", choices=("test", "validation"), default="test",
                    help="the chorales --suggest scores (validation: where choices are made)")
    ap.add_argument("--suggest-harmonised", metavar="MODEL:K:TEMPERATURE",
                    help="also score a chord a beat from the progression model plus the "
                         "chords of K harmonisations by MODEL (e.g. poly-wavenet:8:0.7), "
                         "on the validation and test chorales")
    add_out(ap, "chords")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    results = {} if args.skip_analyses else run(limit=args.limit)
    rendered = run_mma(args.mma, args.seed) if args.mma else {}
    suggested = run_suggest(args.limit, split=args.suggest_split) if args.suggest else {}
    harmonised = {}
    if args.suggest_harmonised:
        name, k, temperature = args.suggest_harmonised.split(":")
        harmonised = {split: run_suggest_harmonised(split, name, int(k), float(temperature),
                                                    args.limit)
                      for split in ("validation", "test")}
    rows = [(c, str(r["pieces"]), str(len(r["left_out"])), str(r["beats"]), f"{100 * r['root_quality']:.1f}%",
             f"{100 * r['root']:.1f}%") for c, r in results.items()]
    print_table([("collection", "<22"), ("pieces", 7), ("left out", 9), ("beats", 7),
                 ("root+quality", 13), ("root", 7)], rows)
    if rendered:
        print(f"mma: {rendered['charts']} charts, {rendered['bars']} bars, "
              f"{100 * rendered['right']:.1f}% right (root and triad; seed {args.seed}; "
              f"target {TARGET_MMA_BARS:.0%})")
    if suggested:
        print_table([("suggested per", "<14"), ("chorales", 9), ("beats", 7),
                     ("root", 7), ("baseline root", 14)],
                    [(per, str(len(suggested["pieces"])), str(u["beats"]),
                      f"{100 * u['root']:.1f}%", f"{100 * u['baseline_root']:.1f}%")
                     for per, u in suggested["units"].items()])
    print(f"targets: root+quality {TARGET_ROOT_QUALITY:.0%}, root {TARGET_ROOT:.0%} "
          f"({time.perf_counter() - t0:.0f} s)")
    write_json(args.out, {"command": command_line("chords", argv),
                          "targets": {"root_quality": TARGET_ROOT_QUALITY,
                                      "root": TARGET_ROOT},
                          "collections": results, "mma": rendered,
                          "suggest": {"target_root": TARGET_SUGGESTED_ROOT, **suggested},
                          "suggest_harmonised": harmonised,
                          **git_state("changes", "engine/encodings/chords.py",
                                      "engine/generation/progressions.py")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
