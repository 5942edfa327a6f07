"""Follow chords on Bach's chorales: does it help prediction, and is it audible?

On the four-part Bach chorales of the part-music corpus's test split (as
bench/chorales.py chooses them), each chorale's chords are detected from Bach's own four
parts (engine.encodings.chords.detect_chords, no music21) and become its chord track.

(a) **Prediction.**  Each chorale's tokens scored by each model's network with and
    without the loose mixer's bias (engine.generation.mixers.chords.score_with_chords:
    the chord tones' note starts raised by LOOSE_BIAS, the note starts' total kept): bits
    per note and how many fewer with chords (target >= 5% fewer for the part models).
    A melody model scores the soprano alone (its track 1) with the chords of all four
    parts; beside it, the share of the sopranos' strong-beat notes (a beat's first step)
    that are chord tones.  ``--fit`` scores the validation split's chorales for every
    bias of LOOSE_BIASES first (the value shipped was chosen there).

(b) **Audible.**  The first 4 bars continued 4 bars (4 variations, temperature 1, RNG
    seed ``--rng-seed`` + the chorale's index) with follow chords off, loose and strict
    (the chords are Bach's, over bars 5-8): the share of the new notes starting on a
    beat that are tones of the chord there, pooled and for the worst part (target >= 90%
    with strict, for the melody model and every part), beside Bach's own bars 5-8; and
    the soprano of the first 8 bars harmonised (off, strict): the voices' share and
    the share of the bass's beat notes on the chord's bass note.

    python bench/follow_chords.py [--limit N] [--fit] [--skip-audible] [--out ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.chorales import (HARMONISE_BARS, bar_ticks, corpus_chorales, cut_song,  # noqa: E402
                            test_chorales, window)
from bench.common import (add_out, command_line, git_state, model_folders, parser,  # noqa: E402
                          print_table, write_json)

TARGET_FEWER_BITS = 0.05
TARGET_STRICT = 0.90
SEED_BARS = 4
MELODY_MODELS = ("lstm", "wavenet", "duet")
PART_MODELS = ("poly-lstm", "poly-wavenet")
MODES = ("off", "loose", "strict")


def with_detected_chords(song):
    from engine.encodings.chords import chord_track, detect_chords

    out = song.copy()
    out.chords = chord_track(detect_chords(song))
    return out


def soprano_only(song):
    out = song.copy()
    out.tracks = [out.tracks[0]]
    return out


def beat_tones(song, notes) -> tuple[int, int]:
    """(chord tones, notes) among ``notes`` starting on a beat where a chord sounds."""
    from engine.encodings.chords import chord_at

    tones = total = 0
    for n in notes:
        if song.bar_beat_at(n.start_tick)[2] != 0:
            continue
        chord = chord_at(song.chords, n.start_tick)
        if chord is not None:
            total += 1
            tones += n.pitch % 12 in chord.pitch_classes
    return tones, total


# ---- (a) prediction -------------------------------------------------------------------


def bits(library, names, chorales, biases) -> dict:
    """Per model and bias: total bits, notes and bits per note over the chorales."""
    from engine.generation.mixers.chords import score_with_chords

    out = {}
    for name in names:
        if name not in library.names:
            continue
        model = library.get(name)
        melody = name in MELODY_MODELS
        rows = {}
        for bias in biases:
            total, notes = 0.0, 0
            for _, song in chorales:
                b, _, n = score_with_chords(model, soprano_only(song) if melody else song,
                                            bias)
                total, notes = total + b, notes + n
            rows[str(bias)] = {"bits": total, "notes": notes, "bits_per_note": total / notes}
        out[name] = rows
    return out


def soprano_share(chorales) -> dict:
    tones = total = 0
    for _, song in chorales:
        a, b = beat_tones(song, song.tracks[0].notes)
        tones, total = tones + a, total + b
    return {"tones": tones, "notes": total, "share": tones / total}


# ---- (b) audible ----------------------------------------------------------------------


def shares_by_track(song, notes, track_of) -> dict:
    per: dict[int, list[int]] = {}
    for n, t in zip(notes, track_of):
        a, b = beat_tones(song, [n])
        got = per.setdefault(int(t), [0, 0])
        got[0] += a
        got[1] += b
    return per


def summary(per: dict) -> dict:
    tones = sum(a for a, _ in per.values())
    total = sum(b for _, b in per.values())
    parts = {str(t): a / b for t, (a, b) in sorted(per.items()) if b}
    return {"tones": tones, "notes": total, "share": tones / total if total else None,
            "worst_part": min(parts.values()) if parts else None, "parts": parts}


def merge(into: dict, per: dict) -> None:
    for t, (a, b) in per.items():
        got = into.setdefault(t, [0, 0])
        got[0] += a
        got[1] += b


def continuation(library, name, chorales, rng_seed) -> dict:
    from engine.generation import jobs
    from engine.generation.request import GenerationRequest, GenerationSettings

    out = {}
    for mode in MODES:
        pooled: dict[int, list[int]] = {}
        for i, (_, song) in enumerate(chorales):
            start = SEED_BARS * bar_ticks(song)
            seed = cut_song(song, start)
            seed.chords = list(song.chords)
            settings = GenerationSettings(model=name, bars=SEED_BARS, variations=4,
                                          rng_seed=rng_seed + i, follow_chords=mode)
            result = jobs.run(library, seed, GenerationRequest("continue", settings))
            for v, notes in enumerate(result.variations):
                track_of = result.track_of[v] if result.track_of else [0] * len(notes)
                merge(pooled, shares_by_track(song, notes, track_of))
        out[mode] = summary(pooled)
    return out


def bach_continuation(chorales) -> dict:
    pooled: dict[int, list[int]] = {}
    for _, song in chorales:
        start = SEED_BARS * bar_ticks(song)
        for t, track in enumerate(song.tracks):
            merge(pooled, {t: list(beat_tones(song, window(track.notes, start, 2 * start)))})
    return summary(pooled)


def harmonisation(library, name, chorales, rng_seed) -> dict:
    from engine.encodings.chords import chord_at
    from engine.generation import jobs
    from engine.generation.request import GenerationRequest, GenerationSettings

    out = {}
    for mode in ("off", "strict"):
        pooled: dict[int, list[int]] = {}
        bass_on = bass_total = 0
        for i, (_, song) in enumerate(chorales):
            end = HARMONISE_BARS * bar_ticks(song)
            melody = cut_song(song, end, [0])
            melody.chords = [c for c in song.chords if c.tick < end]
            settings = GenerationSettings(model=name, variations=2, rng_seed=rng_seed + i,
                                          follow_chords=mode)
            result = jobs.run(library, melody, GenerationRequest("harmonise", settings, 0))
            for notes, track_of in zip(result.variations, result.track_of):
                new = [(n, t) for n, t in zip(notes, track_of) if t != 0]
                merge(pooled, shares_by_track(melody, [n for n, _ in new],
                                              [t for _, t in new]))
                bass = max(t for _, t in new)
                for n, t in new:
                    if t == bass and melody.bar_beat_at(n.start_tick)[2] == 0:
                        chord = chord_at(melody.chords, n.start_tick)
                        if chord is not None:
                            bass_total += 1
                            bass_on += n.pitch % 12 == chord.bass_pc
        out[mode] = {**summary(pooled), "bass_on_bass_note": bass_on / max(1, bass_total)}
    return out


def main(argv=None) -> int:
    from engine.generation.mixers.chords import LOOSE_BIAS, LOOSE_BIASES
    from engine.models import ModelLibrary

    ap = parser(__doc__, models_dir=True)
    ap.add_argument("--limit", type=int, help="only the first N chorales")
    ap.add_argument("--fit", action="store_true",
                    help="first score the validation chorales for every bias of LOOSE_BIASES")
    ap.add_argument("--skip-audible", action="store_true", help="prediction only")
    ap.add_argument("--rng-seed", type=int, default=100)
    add_out(ap, "follow_chords")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    library = ModelLibrary(model_folders(args))
    names = [n for n in MELODY_MODELS + PART_MODELS if n in library.names]
    result: dict = {"command": command_line("follow_chords", argv), "loose_bias": LOOSE_BIAS}
    if args.fit:
        val = [(pid, with_detected_chords(s))
               for pid, s in corpus_chorales("validation", args.limit)]
        fit = bits(library, names, val, (0.0,) + tuple(LOOSE_BIASES))
        result["fit"] = {"chorales": len(val), "models": fit}
        print(f"fit on {len(val)} validation chorales: bits per note by bias")
        print_table([("model", "<14")] + [(f"{b:g}", 8) for b in (0.0,) + LOOSE_BIASES],
                    [(n, *[f"{r[str(b)]['bits_per_note']:.3f}" for b in (0.0,) + LOOSE_BIASES])
                     for n, r in fit.items()])
    chorales, source = test_chorales(args.limit)
    chorales = [(pid, with_detected_chords(s)) for pid, s in chorales]
    result.update(chorales=len(chorales), source=source)
    scored = bits(library, names, chorales, (0.0, LOOSE_BIAS))
    rows = []
    for n, r in scored.items():
        without, with_ = r["0.0"]["bits_per_note"], r[str(LOOSE_BIAS)]["bits_per_note"]
        r["fewer"] = 1 - with_ / without
        rows.append((n, f"{without:.3f}", f"{with_:.3f}", f"{100 * r['fewer']:.1f}%"))
    result["prediction"] = scored
    result["soprano_chord_tones"] = soprano_share(chorales)
    print(f"(a) {len(chorales)} test chorales ({source}); chords detected from Bach's parts")
    print_table([("model", "<14"), ("bits/note", 10), ("with chords", 12), ("fewer", 7)], rows)
    print(f"sopranos' beat notes that are chord tones: "
          f"{100 * result['soprano_chord_tones']['share']:.1f}% "
          f"({result['soprano_chord_tones']['notes']} notes)")
    if not args.skip_audible:
        audible = {"bach": bach_continuation(chorales), "continue": {}, "harmonise": {}}
        for n in names:
            if n == "duet":
                continue
            audible["continue"][n] = continuation(library, n, chorales, args.rng_seed)
            if n in PART_MODELS:
                audible["harmonise"][n] = harmonisation(library, n, chorales, args.rng_seed)
        result["audible"] = audible
        print("(b) beat notes on chord tones, continuing 4 bars (pooled / worst part)")
        pct = lambda x: "-" if x is None else f"{100 * x:.1f}%"  # noqa: E731
        rows = [("bach bars 5-8", pct(audible["bach"]["share"]),
                 pct(audible["bach"]["worst_part"]), "", "", "", "")]
        for n, r in audible["continue"].items():
            rows.append((n, *[pct(r[m][k]) for m in MODES for k in ("share", "worst_part")]))
        print_table([("model", "<14"), ("off", 7), ("worst", 7), ("loose", 7), ("worst", 7),
                     ("strict", 7), ("worst", 7)], rows)
        print("harmonising the soprano (voices pooled / worst voice / bass on the bass note)")
        print_table([("model", "<14"), ("off", 7), ("worst", 7), ("bass", 7), ("strict", 7),
                     ("worst", 7), ("bass", 7)],
                    [(n, *[pct(r[m][k]) for m in ("off", "strict")
                           for k in ("share", "worst_part", "bass_on_bass_note")])
                     for n, r in audible["harmonise"].items()])
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"targets: {TARGET_FEWER_BITS:.0%} fewer bits, strict >= {TARGET_STRICT:.0%} "
          f"({result['seconds']:.0f} s)")
    write_json(args.out, {**result, **git_state("changes", "engine/generation/constraints",
                                                 "engine/generation/mixers")})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
