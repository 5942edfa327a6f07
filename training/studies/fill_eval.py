"""Issue 13's figures on the Essen test split: ``python -m training fill evaluate``.

For every test tune of at least 8 bars (music21 parses the test tunes again, for their
bars; a bar is the song's, from tick 0, as ``main.py fill --from/--to`` counts them):

1. bits per note of the notes of bars 4-5 given both sides (each fill model, its fill
   prompt) and given only the bars before them (the same model family: the shipped
   plain model, and the fill model itself without a prompt);
2. at temperature 1 (no key lock, 4 variations, random seed = the tune's index), how
   often the step from the last note before the gap's end (the fill's last note, or
   what sounds before the gap when the fill is silent) into the first note after the
   gap is within 5 semitones, against the same in the real tunes.

Writes JSON (``--out``) and prints a table.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

GAP_BARS = (4, 5)
MIN_BARS = 8
LEAP = 5  # semitones
ROOT = Path(__file__).resolve().parents[2]


def test_songs(collection: str = "essenFolksong", split_name: str = "test"):
    """(id, Song) of every tune of the split (the test split) that encodes, parsed again
    by music21."""
    from music21.abcFormat import translate

    from engine.formats import music21_score_to_song
    from training.corpus import load_corpus
    from training.datasets.folk import collection_files, tune_handlers

    corpus = load_corpus(collection)
    if corpus is None:
        raise SystemExit("build the corpus first: python -m training corpus")
    files = {p.name: p for p in collection_files(collection)}
    warnings.filterwarnings("ignore")
    out = []
    for tune_id, split in zip(corpus.ids, corpus.splits):
        if split != split_name:
            continue
        name, _, idx = tune_id.rpartition("#")
        handlers = tune_handlers(str(files[name]))
        song = music21_score_to_song(translate.abcToStreamScore(handlers[int(idx)]),
                                     what=tune_id)
        out.append((tune_id, song))
    return out


def _junction(before: list, after: list) -> int | None:
    """Semitones from the last note of ``before`` to the first of ``after``."""
    if not before or not after:
        return None
    last = max(before, key=lambda n: (n.start_tick, n.pitch))
    first = min(after, key=lambda n: (n.start_tick, -n.pitch))
    return abs(first.pitch - last.pitch)


def add_parser(sub):
    """``python -m training fill evaluate``: ``sub`` is the ``fill`` command's
    sub-commands."""
    e = sub.add_parser("evaluate", help="issue 13's figures on the Essen test split",
                       description=__doc__.split("\n\n")[0])
    e.add_argument("--fill", nargs="+",
                   default=["lstm-fill", "wavenet-fill", "transformer-fill"])
    e.add_argument("--models-dir", default=str(ROOT / "models"))
    e.add_argument("--out", default=str(ROOT / "models" / "fill" / "evaluation.json"))
    e.add_argument("--test-midi", metavar="DIR",
                   help="also write the tunes it scores there as MIDI (for main.py score --fill 4:5)")
    e.set_defaults(run=lambda args, argv: evaluate(args))
    m = sub.add_parser("memory", help="choose a fill model's motif memory mixing on the "
                                      "validation split's gaps",
                       description=fit_memory.__doc__.split("\n\n")[0])
    m.add_argument("--model", required=True, help="a fill model in models/")
    m.add_argument("--out", help="also write every candidate's figure here (JSON)")
    m.set_defaults(run=lambda args, argv: fit_memory(args))
    ph = sub.add_parser("phrase", help="fit a fill model's phrase copy (the boost a "
                                       "step's twin bars away gives its token) on the validation "
                                       "split's gaps",
                        description=fit_phrase.__doc__.split("\n\n")[0])
    ph.add_argument("--model", required=True, help="a fill model in models/")
    ph.add_argument("--models-dir", default=str(ROOT / "models"),
                    help="the folder of the card it writes (default models/)")
    ph.set_defaults(run=lambda args, argv: fit_phrase(args))
    return e


def gap_cases(songs) -> list:
    """(index, id, song, melody track, gap start tick, gap end tick) of the tunes of at
    least :data:`MIN_BARS` bars, the gap being bars :data:`GAP_BARS`."""
    from engine.generation.fill import bar_range_ticks
    from engine.song import melody_track

    cases = []
    for k, (tune_id, song) in enumerate(songs):
        index = melody_track(song)
        if index is None:
            continue
        notes = song.tracks[index].notes
        end_bar = song.bar_beat_at(max(n.end_tick for n in notes) - 1)[0]
        if end_bar < MIN_BARS:
            continue
        start, end = bar_range_ticks(song, *GAP_BARS)
        cases.append((k, tune_id, song, index, start, end))
    return cases


def encoded_gaps(enc, split_name: str):
    """(tokens, gap start, gap end, song, the gap's first tick) of each of the split's
    :func:`gap_cases`, the tune in ``enc``'s tokens and the gap as indices into them."""
    from engine.generation.fill import gap_steps

    for k, tune_id, song, index, start, end in gap_cases(test_songs(split_name=split_name)):
        encoded = enc.encode_tune(song.tracks[index].notes, song.ppq)
        a, b = gap_steps(song, encoded.start_step, start, end, enc)
        yield encoded.tokens, a, b, song, start


FILL_MEMORY_POWERS = (1.0, 0.8, 0.6, 0.4)


def fit_memory(args) -> int:
    """``python -m training fill memory --model M``: the motif memory's mixing for a fill
    model, chosen on the validation split as the fill job uses it: bars 4-5 of every
    validation tune of at least 8 bars given both sides, the memory having heard all the
    music after the gap and then the music before it (:func:`score_gap`).

    The candidates are the mixing ``memory-sweep`` fitted on the plain validation tunes
    (the card's ``memory``, which knows only the music before) and the default mixing,
    each with its adaptive shares as they are or raised to a power below 1 (the memory
    counting for more: it has heard the music after the gap).  The fewest bits per note
    wins and is written into the card's ``memory``; every candidate's figure with it.
    Every candidate keeps the card's phrase copy (:func:`fit_phrase`), and so does the
    card: fitted over the old mixing, it is refitted by its own command."""
    from dataclasses import replace

    from engine.generation.fill import score_gap
    from engine.generation.memory import Mixing, mixing_for, override_mixing
    from engine.models import ModelLibrary
    from engine.models.card import memory_section, write_card

    library = ModelLibrary([ROOT / "models"])
    model = library.get(args.model)
    info = library.info(args.model)
    enc = model.encoding
    cases = list(encoded_gaps(enc, "validation"))
    fitted = mixing_for(info)
    default = replace(mixing_for("no such model"), phrase=fitted.phrase)  # the same copy
    candidates = []
    for label, base in (("card", fitted), ("default", default)):
        for power in FILL_MEMORY_POWERS if base.method == "adaptive" else (1.0,):
            table = tuple(round(float(v) ** power, 5) for v in base.table)
            candidates.append((f"{label}, shares ^ {power:g}", replace(base, table=table)))
    rows = []
    for label, mixing in candidates:
        override_mixing(args.model, mixing)
        bits = notes = 0
        for tokens, a, b, song, tick in cases:
            got, _, n = score_gap(model, tokens, a, b, both_sides=True, memory=True,
                                  song=song, gap_tick=tick)
            bits, notes = bits + got, notes + n
        override_mixing(args.model, None)
        rows.append({"candidate": label, "bits_per_note": round(bits / notes, 4)})
        print(f"{args.model}: {label}: {bits / notes:.4f} bits/note on {len(cases)} "
              f"validation gaps", file=sys.stderr, flush=True)
    best = min(range(len(rows)), key=lambda i: rows[i]["bits_per_note"])
    mixing = candidates[best][1]
    card = json.loads(info.card_path.read_text())
    old = card.get("memory") or {}
    card["memory"] = {
        "method": mixing.method, "weight": mixing.weight, "bias": mixing.bias,
        "max_order": mixing.max_order, "network_tokens": list(mixing.network_tokens),
        "table": list(mixing.table), "phase_period": mixing.phase_period,
        "generation_power": mixing.generation_power,
        "bits_per_note": rows[best]["bits_per_note"],
        "chosen_on": f"essenFolksong validation split, bars {GAP_BARS[0]}-{GAP_BARS[1]} "
                     f"of the {len(cases)} tunes of at least {MIN_BARS} bars given both "
                     f"sides (the fill job): {candidates[best][0]}",
        "command": f"python -m training fill memory --model {args.model}",
        "candidates": rows,
        "plain_tunes": {k: old[k] for k in ("bits_per_note", "chosen_on", "command")
                        if k in old}}
    # the phrase copy (fit_phrase) was fitted over the old mixing: kept, and refitted by
    # its own command
    card["memory"].update({k: old[k] for k in ("phrase", "phrase_fit") if k in old})
    assert Mixing(**memory_section(card["memory"], args.model)) == mixing  # reads back
    write_card(card, info.card_path)
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model, "tunes": len(cases),
                                              "candidates": rows}, indent=1) + "\n")
    print(f"{args.model}: chose {candidates[best][0]} ({rows[best]['bits_per_note']:.4f}); "
          f"wrote {info.card_path}", file=sys.stderr)
    return 0


PHRASE_ROUNDS = 100  # ternary search rounds fitting a boost (to well under 1e-9)


def boosted(p_net: np.ndarray, hit: np.ndarray, p_twin: np.ndarray,
            boost: np.ndarray) -> np.ndarray:
    """Each token's probability once the twin's token, which the network and the memory's
    contexts gave ``p_twin``, is raised by ``exp(boost)`` and the row renormalised:
    ``p_net`` is what they gave the token itself, ``hit`` whether the twin holds it."""
    factor = np.exp(boost)
    return p_net * np.where(hit, factor, 1.0) / (1.0 - p_twin + p_twin * factor)


PHRASE_MIN_TOKENS = 100  # fewer tokens in a bucket: it shares its boost with the next
PHRASE_BOUNDS = (-5.0, 15.0)  # the boosts searched


def fit_boosts(p_net: np.ndarray, hit: np.ndarray, p_twin: np.ndarray, bucket: np.ndarray,
               buckets: int, min_tokens: int = PHRASE_MIN_TOKENS) -> np.ndarray:
    """Per bucket, the boost of the twin's token that makes the tokens in it likeliest
    (their log-likelihood is concave in it: a ternary search within
    :data:`PHRASE_BOUNDS`).  Bucket 0 (too few pairs to judge) stands alone; the
    agreement buckets after it that hold fewer than ``min_tokens`` tokens are pooled
    with the next ones up (the last few with the ones below) and share one boost, so
    that a handful of tokens does not set one; 0 for a bucket no token falls in.
    Rounded to 4 places."""
    counts = np.bincount(bucket, minlength=buckets)
    groups, group = [[0]], []
    for j in range(1, buckets):
        group.append(j)
        if counts[group].sum() >= min_tokens:
            groups.append(group)
            group = []
    if group:
        if len(groups) > 1:
            groups[-1] = groups[-1] + group
        else:
            groups.append(group)
    boosts = np.zeros(buckets)
    for group in groups:
        here = np.isin(bucket, group)
        if not here.any():
            continue
        h, q = hit[here], p_twin[here]

        def loss(b: float) -> float:
            return float(-(b * h).sum() + np.log(1.0 - q + q * np.exp(b)).sum())

        low, high = PHRASE_BOUNDS
        for _ in range(PHRASE_ROUNDS):
            a, b = low + (high - low) / 3, high - (high - low) / 3
            if loss(a) < loss(b):
                high = b
            else:
                low = a
        boosts[[j for j in group if counts[j]]] = round((low + high) / 2, 4)
    return boosts


def fit_phrase(args) -> int:
    """``python -m training fill phrase --model M``: the motif memory's phrase copy for
    a fill model (:mod:`engine.generation.phrase`), fitted on the validation split as
    the fill job uses it: bars 4-5 of every validation tune of at least 8 bars given both
    sides.  For every token of those gaps, the probabilities the network and the memory's
    contexts give it and the best-agreeing twin's token (:func:`gap_nats`, the phrase copy
    off), whether the twin holds it, and in which agreement bucket; then each bucket's
    boost, the one that makes those tokens likeliest, written into the card's ``memory``
    as ``phrase``, with the bits per note before and after."""
    from dataclasses import asdict, replace

    from engine.generation import phrase
    from engine.generation.fill import bar_steps_at, gap_nats
    from engine.generation.memory import mixing_for, override_mixing
    from engine.models import ModelLibrary
    from engine.models.card import write_card

    library = ModelLibrary([Path(args.models_dir)])
    model = library.get(args.model)
    info = library.info(args.model)
    enc = model.encoding
    in_use = mixing_for(model)  # its card's (in --models-dir), or memory_mixing.json's
    override_mixing(args.model, replace(in_use, phrase=()))
    p_net, hit, p_twin, bucket, notes, gaps = [], [], [], [], 0, 0
    try:
        for tokens, a, b, song, start in encoded_gaps(enc, "validation"):
            bar = bar_steps_at(song, start, enc)
            nats, targets, log_p = gap_nats(model, tokens, a, b, both_sides=True,
                                            memory=True, song=song, gap_tick=start)
            if not len(targets) or bar is None:
                continue
            tokens = [int(t) for t in tokens]
            a, b = max(0, a), min(len(tokens), b)
            assert list(targets) == tokens[a:b]
            twins = phrase.PhraseCopy(1, tokens[:a], a, tokens[b:], b, len(targets), bar,
                                      [0.0] * phrase.BOOSTS)
            for target, row in zip(targets, log_p):
                token, where = twins.twins()
                hit.append(token[0] == target)
                p_twin.append(np.exp(row[token[0]]) if token[0] >= 0 else 0.0)
                bucket.append(where[0])
                twins.update([target])
            p_net.extend(np.exp(-nats))
            notes += enc.count_onsets(targets)
            gaps += 1
    finally:
        override_mixing(args.model, None)
    p_net, hit, p_twin = np.array(p_net), np.array(hit, dtype=bool), np.array(p_twin)
    bucket = np.array(bucket)
    boosts = fit_boosts(p_net, hit, p_twin, bucket, phrase.BOOSTS)

    def bits(table):
        return float(-np.log2(boosted(p_net, hit, p_twin, table[bucket])).sum() / notes)

    before, after = bits(np.zeros(phrase.BOOSTS)), bits(boosts)
    card = json.loads(info.card_path.read_text())
    if not card.get("memory"):  # it mixes as any model does: that mixing, written down
        card["memory"] = {k: list(v) if isinstance(v, tuple) else v
                          for k, v in asdict(in_use).items() if k != "phrase"}
        card["memory"]["chosen_on"] = ("memory_mixing.json's mixing for any model, which "
                                       "it used before it had a phrase copy")
    card["memory"]["phrase"] = boosts.tolist()
    card["memory"]["phrase_fit"] = {
        "bits_per_note_without": round(before, 4), "bits_per_note": round(after, 4),
        "chosen_on": f"essenFolksong validation split, bars {GAP_BARS[0]}-{GAP_BARS[1]} of "
                     f"the {gaps} tunes of at least {MIN_BARS} bars given both sides (the "
                     f"fill job), {len(hit)} tokens; each bucket's boost the likeliest",
        "command": f"python -m training fill phrase --model {args.model}"}
    write_card(card, info.card_path)
    print(f"{args.model}: phrase copy {before:.4f} -> {after:.4f} bits/note on {gaps} "
          f"validation gaps; boosts {boosts.tolist()}; wrote {info.card_path}",
          file=sys.stderr)
    return 0


def evaluate(args) -> int:
    from engine.generation.fill import fill, gap_steps, score_gap
    from engine.generation.generator import GenerationSettings
    from engine.models import ModelLibrary

    t0 = time.monotonic()
    shipped = ROOT / "models"
    folders = list(dict.fromkeys([Path(args.models_dir).resolve(), shipped]))
    library = ModelLibrary(folders)  # the fill models and the shipped plain ones
    songs = test_songs()
    print(f"parsed {len(songs)} test tunes in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    cases = gap_cases(songs)
    print(f"{len(cases)} tunes of at least {MIN_BARS} bars", file=sys.stderr)
    if getattr(args, "test_midi", None):  # for main.py score --fill on the same tunes
        from engine.formats import song_to_midi_file

        folder = Path(args.test_midi)
        folder.mkdir(parents=True, exist_ok=True)
        for k, tune_id, song, *_ in cases:
            song_to_midi_file(song, folder / (tune_id.replace("#", "-") + ".mid"))

    report: dict = {"command": "python -m training fill evaluate", "gap_bars": list(GAP_BARS),
                    "tunes": len(cases), "min_bars": MIN_BARS, "models": {}}
    # the real tunes' junctions
    real = []
    for k, tune_id, song, index, start, end in cases:
        notes = song.tracks[index].notes
        j = _junction([n for n in notes if n.start_tick < end],
                      [n for n in notes if n.start_tick >= end])
        if j is not None:
            real.append(j)
    report["real_within_5"] = float(np.mean(np.array(real) <= LEAP))
    report["real_junctions"] = len(real)

    for name in args.fill:
        model = library.get(name)
        plain_name = model.info.card.get("hyperparameters", {}).get("architecture")
        plain = library.get(plain_name) if plain_name in library.names else None
        enc = model.encoding
        sums = {key: [0.0, 0] for key in ("both", "before_fill_model", "before_plain",
                                           "both_memory", "before_plain_memory")}
        junctions: dict[bool, list[int]] = {True: [], False: []}
        t1 = time.monotonic()
        for k, tune_id, song, index, start, end in cases:
            encoded = enc.encode_tune(song.tracks[index].notes, song.ppq)
            a, b = gap_steps(song, encoded.start_step, start, end, enc)
            for key, m, both, memory in (
                    ("both", model, True, False), ("before_fill_model", model, False, False),
                    ("before_plain", plain, False, False), ("both_memory", model, True, True),
                    ("before_plain_memory", plain, False, True)):
                if m is None:
                    continue
                bits, _, n = score_gap(m, encoded.tokens, a, b, both_sides=both,
                                       memory=memory, song=song, gap_tick=start)
                sums[key][0] += bits
                sums[key][1] += n
            notes = song.tracks[index].notes
            before = [n for n in notes if n.start_tick < start]
            after = [n for n in notes if n.start_tick >= end]
            for memory in (True, False):
                settings = GenerationSettings(model=name, temperature=1.0, variations=4,
                                              rng_seed=k, key=None, memory=memory)
                result = fill(library, song, settings, start_tick=start, end_tick=end,
                              track_index=index)
                for v in result.variations:
                    j = _junction(before + list(v), after)
                    if j is not None:
                        junctions[memory].append(j)
        figures = {key: {"bits": round(s[0], 1), "notes": s[1],
                         "bits_per_note": round(s[0] / s[1], 4) if s[1] else None}
                   for key, s in sums.items()}
        both = figures["both"]["bits_per_note"]
        plain_bpn = figures["before_plain"]["bits_per_note"]
        figures["fewer_bits_than_plain_before"] = round(1 - both / plain_bpn, 4) \
            if plain_bpn else None
        with_memory = figures["both_memory"]["bits_per_note"]
        plain_memory = figures["before_plain_memory"]["bits_per_note"]
        figures["fewer_bits_with_memory"] = round(1 - with_memory / plain_memory, 4) \
            if plain_memory else None
        figures["plain_model"] = plain_name
        figures["generated_within_5"] = float(np.mean(np.array(junctions[True]) <= LEAP))
        figures["generated_within_5_no_memory"] = float(
            np.mean(np.array(junctions[False]) <= LEAP))
        figures["generated_junctions"] = len(junctions[True])
        figures["seconds"] = round(time.monotonic() - t1, 1)
        report["models"][name] = figures
        print(f"{name}: gap bits/note both sides {both}, before only {plain_bpn} "
              f"({plain_name}), {figures['before_fill_model']['bits_per_note']} (itself); "
              f"{100 * figures['fewer_bits_than_plain_before']:.1f}% fewer; with the motif "
              f"memory {with_memory} against {plain_memory}, "
              f"{100 * figures['fewer_bits_with_memory']:.1f}% fewer; junction within "
              f"{LEAP}: generated {100 * figures['generated_within_5']:.1f}% (memory off "
              f"{100 * figures['generated_within_5_no_memory']:.1f}%), real "
              f"{100 * report['real_within_5']:.1f}%", file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


def fill_section(models_dir: Path) -> str:
    """models/README.md's section on the fill models, from ``fill/evaluation.json`` (this
    module's output) and bench/results/fill.json; empty when neither is there."""
    path = Path(models_dir) / "fill" / "evaluation.json"
    if not path.exists():
        return ""
    report = json.loads(path.read_text())
    rows = []
    for name, m in report["models"].items():
        card = json.loads((Path(models_dir) / f"{name}.json").read_text())
        test = card.get("metrics", {}).get("test", {}).get("bits_per_note")
        plain = json.loads((Path(models_dir) / f"{m['plain_model']}.json").read_text())
        plain_test = plain.get("metrics", {}).get("test", {}).get("bits_per_note")
        t = card.get("training", {})
        mem = m.get("both_memory", {}).get("bits_per_note")
        mem_plain = m.get("before_plain_memory", {}).get("bits_per_note")
        rows.append(
            f"| {name} | {m['both']['bits_per_note']:.3f} | "
            f"{m['before_plain']['bits_per_note']:.3f} ({m['plain_model']}) | "
            f"{m['before_fill_model']['bits_per_note']:.3f} | "
            f"{100 * m['fewer_bits_than_plain_before']:.1f}% | "
            + (f"{mem:.3f} | {mem_plain:.3f} | {100 * m['fewer_bits_with_memory']:.1f}% | "
               if mem is not None else "- | - | - | ")
            + f"{100 * m['generated_within_5']:.1f}% ({m['generated_junctions']}) | "
            f"{test:.3f} ({m['plain_model']} {plain_test:.3f}) | "
            f"{t.get('wall_time_s', 0) / 60:.1f} min, {t.get('epochs')} quarter-epochs | "
            f"`{t.get('command', '')}` |")
    bench = Path(models_dir).parent / "bench" / "results" / "fill.json"
    speed = ""
    if bench.exists():
        b = json.loads(bench.read_text())

        def timings(models: dict) -> str:
            return "; ".join(
                f"{name} {r['fill_ms']:.1f} ms against {r['continue_ms']:.1f} ms "
                f"({r['ratio']:.3f}x; its plain twin {r.get('continue_plain_ms', 0):.1f} ms, "
                f"{r.get('ratio_to_plain', 0):.3f}x, "
                f"{'meets' if r.get('meets_goal') else 'misses'} the target)"
                for name, r in models.items())

        speed = (f"\n\nSpeed (`{b['command'].strip()}`, {b['cpu']}, load "
                 f"{b['load_average_before'][0]}): filling bars {b['fill_bars'][0]}-"
                 f"{b['fill_bars'][1]} of the default seed with {b['variations']} variations "
                 f"against continuing it by {b['continue_bars']} bars with "
                 f"{b['variations']} (the target: under a third, 0.333x); the network alone: "
                 + timings(b["models"])
                 + (". With the motif memory in both: " + timings(b["models_with_memory"])
                    if b.get("models_with_memory") else "")
                 + ". Each variation is the best of 6 candidates that part for the "
                   "last half bar.")
    poly = Path(models_dir).parent / "bench" / "results" / "polyfill.json"
    if poly.exists():
        r = json.loads(poly.read_text())
        j = r["junction"]
        speed += (
            f"\n\nPolyphonic fill (engine/generation/polyfill.py, `{r['command'].strip()}`): "
            f"{r['model']} fills bars {r['fill_bars'][0]}-{r['fill_bars'][1]} of "
            f"{j['bach']['fills']} Bach chorales of the part-music test split in every part "
            f"({r['variations']} variations, temperature {r['temperature']:g}, each the one "
            f"of {r['candidates']} after which the model finds the first notes after the gap "
            f"likeliest). "
            f"Every part leads into its next note within {r['leap_semitones']} semitones in "
            f"{100 * j['fill']['lead_in_share']:.1f}% of the fills (without the choice "
            f"{100 * j['unweighted']['lead_in_share']:.1f}%; Bach's own bars "
            f"{100 * j['bach']['lead_in_share']:.1f}%); a fill takes "
            f"{r['time']['ratio']:.2f}x the time of continuing the same music by "
            f"{r['continue_bars']} bars ({r['cpu']}).")
    n = report["tunes"]
    return f"""

## Filling a gap (issues 13 and 27)

`lstm-fill` and `wavenet-fill` are the shipped LSTM and WaveNet fine-tuned on
`melody-fim-16th` (docs/model-contract.md): each training tune, on every pass, either
as it is or rearranged around a random gap of 1-4 bars as `FILL_SUFFIX`, the 48 steps
after the gap, `FILL_MIDDLE(quarters)`, the 64 steps before it, the gap (one time in two
each). Their vocabulary is the plain one grown by the sentinels (embedding rows and
output units copied, the new ones small and random), so the fine-tuning starts from
what the plain model knows; the two fine-tunings ran at the same time on this
machine's two cores. Their cards say `"jobs": ["continue", "fill"]`. An epoch
below is a quarter of the training tunes. Two orders were tried before this one, each
for 21-26 minutes: prefix-suffix-middle left the LSTM 25% worse on random gaps of the
validation split than continuing without the suffix, and a sentinel between the prefix
and the middle still cost it a third of a bit on the gap's first steps.
{_transformer_fill(report, models_dir)}

`python -m training fill evaluate` on the Essen test split, the {n} tunes of at least
{report['min_bars']} bars: bits per note of the notes of bars 4-5 given both sides
(the fill prompt) against the same family given only the bars before them (the shipped
plain model; and the fill model without a prompt); then at temperature 1 (no key lock,
4 variations a tune; each variation's candidates share its first steps and part for
the last half bar, and it keeps the one of 6 after which the model finds the music
after the gap likeliest: engine/generation/fill.py), how often the step from the last
note before the gap's end into the first note after the gap is within 5 semitones (78%
for both models with one candidate a variation; 88-89% drawing one of the 6 in
proportion to that likelihood): in the real tunes
{100 * report['real_within_5']:.1f}% ({report['real_junctions']} gaps). Bars are the
song's, counted from tick 0 as `main.py fill --from/--to` counts them (a pickup bar
shifts them). Figures in `fill/evaluation.json`.

lstm-fill's and wavenet-fill's networks read only 48 steps after the gap, and gain little
from them. The
motif memory (engine/generation/memory.py, on by default in the app, `fill` and
`score`) hears all of the music after the gap, then the music before it, and is mixed
in as when continuing; the plain model it is compared with has the memory too, having
heard the music before the gap. `python -m training fill evaluate --test-midi DIR`
also writes the {n} tunes as MIDI, and `python main.py score --model lstm-fill --fill
4:5 DIR/*.mid` (and `--model lstm`, `--memory off`) prints the same figures.

| model | bars 4-5 both sides, network alone | before only (plain model) | before only, the fill model | fewer bits | both sides, with the memory | before only, with the memory (plain model) | fewer bits, with the memory | generated junction within 5 semitones, with the memory (fills) | plain continuation, test bits/note | fine-tuning | command |
|---|---|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n\n" + _verdicts(report, models_dir) \
        + _phrase_copy(report, models_dir) + speed


def _phrase_copy(report: dict, models_dir: Path) -> str:
    """The paragraph on the memory's phrase copy (issue 27), from the cards' ``phrase_fit``
    and the report; "" when no fill model has one."""
    fits = []
    for name, m in report["models"].items():
        card = json.loads((Path(models_dir) / f"{name}.json").read_text())
        fit = (card.get("memory") or {}).get("phrase_fit")
        if fit:
            fits.append(f"{name} {fit['bits_per_note_without']:.3f} → "
                        f"{fit['bits_per_note']:.3f} (test, the table: "
                        f"{100 * m['fewer_bits_with_memory']:.1f}% fewer)")
    if not fits:
        return ""
    return f"""

**The phrase copy** (issue 27; engine/generation/phrase.py). A folk tune says most of its
bars again two, four or eight bars later, and the music a fill has to match is often
the bars after the gap saying what the gap said: the memory's contexts, which find a
figure by the steps just before it, cannot read a step's twin two bars *after* it. At
each step of the gap the memory looks at the step's twins 2, 4 and 8 bars before and
after it (where the music is known: before the gap, already written in it, after it),
takes the one whose neighbourhood (32 steps either side, pairs where both hold HOLD
left out) agrees best, and multiplies its token's probability by a factor fitted per
agreement bucket (20 buckets of the share of pairs alike, one for fewer than 4 pairs)
on the validation split's bars 4-5 (`python -m training fill phrase --model M`; the
card's `memory.phrase`, with `phrase_fit`); the row is renormalised. A factor rather
than a share of the probability: where the network is sure of another token, a twin
that disagrees costs little. It changes nothing in a continuation (no music after the
seed to read). Bits per note of validation bars 4-5 with the memory, without the
phrase copy and with it: {"; ".join(fits)}."""


def _transformer_fill(report: dict, models_dir: Path) -> str:
    """The paragraph on transformer-fill (issue 27), from its card; "" without it."""
    path = Path(models_dir) / "transformer-fill.json"
    if "transformer-fill" not in report["models"] or not path.exists():
        return ""
    card = json.loads(path.read_text())
    s = card["encoding"].get("sentinels", {})
    t = card.get("training", {})
    memory = card.get("memory")
    return f"""
`transformer-fill` (issue 27) is the shipped Transformer (`transformer.json`, window 128,
3 layers) fine-tuned the same way, reading more of the music on both sides of the gap:
its card's `sentinels` say {s.get('suffix_steps')} steps after it and
{s.get('prefix_steps')} before (its first two stages read 96 after and 48 before: the
motif memory, which hears all the music after the gap, gains 6% on bars 4-5 of these
tunes from the first 48 steps after it, 12% from 96, 15% from 192; but the network gained
little past 64 of them, and 124 of the 408 test tunes have more than 48 steps before
bar 4, 8 more than 128). Its attention
reaches 127 steps back in each layer, so the middle reads the suffix straight or through
the prefix's positions (receptive field 382 steps; the prompt is at most
{2 + s.get('suffix_steps', 0) + s.get('prefix_steps', 0)} steps), and its step graph
carries the Transformer's key/value cache, as the plain one's does. It trained
{_stages(t)}. Its motif memory's mixing was chosen on the validation split's
bars 4-5 filled (`{memory.get('command', '') if memory else ''}`:
{memory.get('chosen_on', '') if memory else ''}; {memory.get('bits_per_note') if memory else '-'}
bits per note), from the mixing
`python -m training memory-sweep --models transformer-fill` fitted on its plain
validation tunes and the default one, each as it is or with the memory's shares raised
to 0.8, 0.6 or 0.4.
"""


def _stages(t: dict) -> str:
    """How a fill card's fine-tuning went, stage by stage (``--resume``: ``stages``)."""
    def one(stage: dict) -> str:
        return (f"{stage.get('wall_time_s', 0) / 60:.1f} minutes ({stage.get('examples', '')}; "
                f"learning rate {stage.get('learning_rate')}, {stage.get('optimizer', '')}; "
                f"early stopping and the weights kept judged on "
                f"{stage.get('validation', 'the validation tunes mixed as the training tunes are')}"
                f", {stage.get('val_loss_before')} before, {stage.get('best_val_loss')} best): "
                f"`{stage.get('command', '')}`")
    stages = t.get("stages") or [t]
    out = (f"{t.get('wall_time_s', 0) / 60:.1f} minutes, niced, on this machine's two cores"
           + (f", in {len(stages)} stages, each going on from the last: " if len(stages) > 1
              else ": ")
           + "; then ".join(one(stage) for stage in stages))
    if t.get("replaced"):
        out += f". The last stage replaced {t['replaced']}"
    return out


def _verdicts(report: dict, models_dir: Path) -> str:
    """Issue 13's targets, met or missed, in sentences."""
    out = []
    for name, m in report["models"].items():
        fewer = m["fewer_bits_than_plain_before"]
        with_memory = m.get("fewer_bits_with_memory")
        gen, real = m["generated_within_5"], report["real_within_5"]
        card = json.loads((Path(models_dir) / f"{name}.json").read_text())
        plain = json.loads((Path(models_dir) / f"{m['plain_model']}.json").read_text())
        d = (card["metrics"]["test"]["bits_per_note"]
             - plain["metrics"]["test"]["bits_per_note"])
        memory = "" if with_memory is None else (
            f"with the motif memory {100 * with_memory:.1f}% fewer "
            f"({'meets' if with_memory >= 0.10 else 'misses'} issue 13's 10% target, "
            f"{'meets' if with_memory >= 0.195 else 'misses'} issue 27's 19.5%); ")
        out.append(
            f"{name}: {memory}the network alone {100 * fewer:.1f}% fewer bits on bars 4-5 "
            f"given both sides ({'meets' if fewer >= 0.08 else 'misses'} issue 27's 8%); "
            f"junctions within 5 semitones {100 * gen:.1f}% against "
            f"{100 * real:.1f}% in the real tunes "
            f"({'meets' if abs(gen - real) <= 0.05 else 'misses'} within 5 points; memory "
            f"off {100 * m.get('generated_within_5_no_memory', gen):.1f}%); plain "
            f"continuation {d:+.3f} bits/note against {m['plain_model']} (within 0.03: "
            f"{'yes, one model could do both jobs' if d <= 0.03 else 'no'}).")
    return "\n".join(out)
