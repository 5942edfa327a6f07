"""Do the steering controls steer?  For each control and each of its five positions
(-2..2), a melody model's continuations of Essen test tunes, measured by the control's
own statistic, against the real continuations' spread.

For the first ``--seeds`` tunes of the test split (as bench/musicality.py picks them:
training's corpus cache, tunes with a metre), the first 2 bars are the seed and
``--bars`` bars are generated (one variation, random seed = the tune's number,
temperature 1, the CLI's other defaults: key lock auto, motif memory on).  The seed's
notes are given a metric accent (downbeat 100, other beats 85, off the beat 70: Essen
tunes have no velocities) so that the dynamics control has accents to scale.  Per
control, its statistic at every position:

* density: notes per bar;
* leaps: mean absolute interval (semitones) and the share of intervals over 4 semitones;
* repeat: the share of new bars that are step for step an earlier bar of the tune;
* register: mean pitch (model space, the tunes in C major / A minor);
* syncopation: the share of note starts off the beat (in the tune's metre);
* dynamics: the velocities' mean and standard deviation.

Each must move monotonically across the five positions (``monotonic``), and positions
±2 should move it from position 0 by at least 25% of the real continuations' own spread
(the standard deviation over the tunes of the same statistic on the real next bars;
``moved_±2`` in units of that spread).  With ``--bits`` the same mixers are applied to
the real continuations' tokens (the network's logits, then the motif memory and the
control, as generating would) and the bits per note at ±1 are compared with 0.

    python bench/controls.py [--seeds 30] [--bars 4] [--model lstm] [--bits]

Prints a table and writes bench/results/controls.json.

With ``--family polyphony`` (and a part model, default poly-lstm) the seeds are the
four-part Bach chorales of the part-music test split (as bench/chorales.py picks them):
their first 4 bars are the seed and every part is continued ``--bars`` bars; the same
statistics are read per part (each part's own notes per bar, its intervals, its mean
pitch, its off-beat starts; velocities over every new note) and averaged over the parts,
against the chorales' real next bars; repeat is left out (a part model has no motif
memory).  With ``--bits`` the real continuations' bits per note are read with the part
controls applied (voice-blind: the k-th note of a step follows the k-th of the step
before).  It writes bench/results/controls_polyphony.json.

    python bench/controls.py --family polyphony [--seeds 23] [--bars 4] [--model poly-lstm]
                             [--bits]

With ``--family drums`` (and a drum model, default the installed one) the seeds are 100
held-out grooves and drum tracks, their drums continued as Generate continues a drum
track; bench/drum_controls.py says how.  It writes bench/results/controls_drums.json
(with ``--timing``, controls_timing_drums.json).

    python bench/controls.py --family drums [--seeds 100] [--bits] [--timing]
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import ROOT  # noqa: E402
from bench.musicality import PPQ, SEED_BARS, test_tunes  # noqa: E402
from engine.generation.control_scoring import melody_bits  # noqa: E402
from engine.generation.control_scoring import part_bits as engine_part_bits  # noqa: E402
from engine.generation.generator import GenerationSettings, generate  # noqa: E402
from engine.generation.request import CONTROLS  # noqa: E402
from engine.models import ModelLibrary  # noqa: E402
from engine.song import melody_song  # noqa: E402

POSITIONS = (-2, -1, 0, 1, 2)
# the statistic(s) of each control; the first is the one checked
STATISTICS = {"density": ("notes_per_bar",), "leaps": ("mean_interval", "leap_share"),
              "repeat": ("repeated_bars",), "register": ("mean_pitch",),
              "syncopation": ("off_beat_share",), "dynamics": ("velocity_mean", "velocity_sd")}


def accented(notes, song):
    out = []
    for n in notes:
        _, beat, in_beat = song.bar_beat_at(n.start_tick)
        out.append(replace(n, velocity=70 if in_beat else 100 if beat == 1 else 85))
    return out


def measure(enc, song, seed: np.ndarray, new: np.ndarray, bars: int, bar_steps: int,
            velocities=()) -> dict:
    """The statistics of ``new`` tokens (model space) after ``seed``, in ``song``'s metre."""
    onsets = [j for j, t in enumerate(new) if enc.token_pitch(int(t)) is not None]
    pitches = [enc.token_pitch(int(new[j])) for j in onsets]
    seed_pitches = [enc.token_pitch(int(t)) for t in seed if enc.token_pitch(int(t)) is not None]
    line = seed_pitches[-1:] + pitches
    intervals = np.abs(np.diff(line)) if len(line) > 1 else np.zeros(0)
    whole = np.concatenate([seed, new])
    first_new = len(seed) // bar_steps
    count = len(whole) // bar_steps
    cut = [tuple(whole[b * bar_steps:(b + 1) * bar_steps]) for b in range(count)]
    repeated = sum(1 for b in range(first_new, count) if cut[b] in cut[:b])
    off = 0
    for j in onsets:
        _, _, in_beat = song.bar_beat_at((len(seed) + j) * PPQ // enc.steps_per_quarter)
        off += in_beat != 0
    v = np.asarray(list(velocities), dtype=float)
    return {"notes_per_bar": len(onsets) / bars,
            "mean_interval": float(intervals.mean()) if len(intervals) else np.nan,
            "leap_share": float((intervals > 4).mean()) if len(intervals) else np.nan,
            "repeated_bars": repeated / max(1, count - first_new),
            "mean_pitch": float(np.mean(pitches)) if pitches else np.nan,
            "off_beat_share": off / len(onsets) if onsets else np.nan,
            "velocity_mean": float(v.mean()) if len(v) else np.nan,
            "velocity_sd": float(v.std()) if len(v) else np.nan}


def summary(rows: list[dict]) -> dict:
    keys = rows[0].keys()
    return {k: float(np.nanmean([r[k] for r in rows])) for k in keys}


def bits_per_note(model, settings, seed: np.ndarray, new: np.ndarray, song) -> tuple[float, int]:
    """The bits of ``new`` after ``seed`` under the network mixed as generating mixes it
    (memory, then the controls of ``settings``), and its note count: the engine's
    scoring condition, which ``main.py score --density N ...`` uses too."""
    return melody_bits(model, settings, seed, new, song)


POLY_SEED_BARS = 4


def part_measure(song, seed_parts, new_parts, start: int, bars: int) -> dict:
    """The statistics of each part's new notes (``new_parts``, by part, after
    ``seed_parts``), averaged over the parts; velocities pooled."""
    rows = []
    for seed, new in zip(seed_parts, new_parts):
        new = sorted(new, key=lambda n: (n.start_tick, -n.pitch))
        pitches = [n.pitch for n in new]
        line = [max(seed, key=lambda n: (n.start_tick, n.pitch)).pitch][:bool(seed)] + pitches
        intervals = np.abs(np.diff(line)) if len(line) > 1 else np.zeros(0)
        off = sum(1 for n in new if song.bar_beat_at(n.start_tick)[2] != 0)
        rows.append({"notes_per_bar": len(new) / bars,
                     "mean_interval": float(intervals.mean()) if len(intervals) else np.nan,
                     "leap_share": float((intervals > 4).mean()) if len(intervals) else np.nan,
                     "mean_pitch": float(np.mean(pitches)) if pitches else np.nan,
                     "off_beat_share": off / len(new) if new else np.nan})
    out = summary(rows)
    v = np.asarray([n.velocity for part in new_parts for n in part], dtype=float)
    out["velocity_mean"] = float(v.mean()) if len(v) else np.nan
    out["velocity_sd"] = float(v.std()) if len(v) else np.nan
    return out


def part_bits(model, settings, seed, real, start: int) -> tuple[float, int]:
    """The bits of the real continuation's tokens (every part, ``real``) after ``seed``
    under the network mixed as generating mixes it (the part controls of ``settings``,
    read voice-blind), and its note count: the engine's scoring condition
    (engine/generation/control_scoring.py), as ``main.py score`` reads it."""
    return engine_part_bits(model, settings, seed, real, start)


def polyphony(args, argv) -> int:
    """The controls on a part model's continuations of Bach chorales."""
    from bench.chorales import bar_ticks, cut_song, test_chorales, window
    from engine.generation import jobs
    from engine.generation.request import GenerationRequest

    t0 = time.monotonic()
    chorales, source = test_chorales(args.seeds)
    library = ModelLibrary([ROOT / "models"])
    cases = []
    for _, song in chorales:
        bar = bar_ticks(song)
        start = POLY_SEED_BARS * bar
        if song.end_tick < start + args.bars * bar:
            continue
        tracks = [i for i, t in enumerate(song.tracks) if t.notes]
        seed = cut_song(song, start, tracks)
        real = [window(song.tracks[i].notes, start, start + args.bars * bar) for i in tracks]
        cases.append((seed, real, start))
    real_rows = [part_measure(seed, [t.notes for t in seed.tracks], real, start, args.bars)
                 for seed, real, start in cases]
    real = summary(real_rows)
    real_sd = {k: float(np.nanstd([r[k] for r in real_rows])) for k in real}
    controls = [c for c in args.controls if c != "repeat"]

    def run(control: str | None, position: int) -> dict:
        rows, t1 = [], time.monotonic()
        for i, (seed, _, start) in enumerate(cases):
            values = {control: position} if control and position else {}
            s = GenerationSettings(model=args.model, bars=args.bars, rng_seed=i,
                                   temperature=1.0, **values)
            result = jobs.run(library, seed, GenerationRequest(job="continue", settings=s,
                                                                start_tick=start))
            by_track = [[] for _ in seed.tracks]
            for n, t in zip(result.variations[0], result.track_of[0]):
                if t < len(by_track):
                    by_track[t].append(n)
            rows.append(part_measure(seed, [t.notes for t in seed.tracks], by_track,
                                     start, args.bars))
        return {**summary(rows), "seconds": round(time.monotonic() - t1, 2)}

    run(None, 0)  # warm up (the model's sessions load on the first run), then time it
    neutral = run(None, 0)
    print(f"position 0: {neutral['seconds']} s", file=sys.stderr)
    report_controls = {}
    for control in controls:
        at = {p: neutral if p == 0 else run(control, p) for p in POSITIONS}
        stat = STATISTICS[control][0]
        series = [at[p][stat] for p in POSITIONS]
        diffs = np.diff(series)
        sd = real_sd[stat]
        report_controls[control] = {
            "statistics": list(STATISTICS[control]),
            "positions": {str(p): at[p] for p in POSITIONS},
            "monotonic": bool(np.all(diffs >= 0) or np.all(diffs <= 0)),
            "real_mean": real[stat], "real_sd": sd,
            "moved_-2": (abs(at[-2][stat] - at[0][stat]) / sd) if sd > 0 else None,
            "moved_+2": (abs(at[2][stat] - at[0][stat]) / sd) if sd > 0 else None,
            "time_at_2_vs_0": at[2]["seconds"] / max(1e-9, neutral["seconds"]),
            "time_at_-2_vs_0": at[-2]["seconds"] / max(1e-9, neutral["seconds"])}
        if args.bits and control != "dynamics":
            entry = report_controls[control]
            entry["bits_per_note"] = {}
            model = library.get(args.model)
            for p in (-1, 0, 1):
                s = GenerationSettings(model=args.model, **({control: p} if p else {}))
                total = notes = 0
                for seed, real_parts, start in cases:
                    b, n = part_bits(model, s, seed, real_parts, start)
                    total, notes = total + b, notes + n
                entry["bits_per_note"][str(p)] = total / max(1, notes)
            base = entry["bits_per_note"]["0"]
            entry["bits_rise_at_1"] = max(entry["bits_per_note"][k] / base - 1
                                          for k in ("-1", "1"))
        print(f"{control}: {[round(x, 3) for x in series]}", file=sys.stderr)
    print(f"\n{len(cases)} Bach test chorales ({source}), {POLY_SEED_BARS} bars of seed, "
          f"{args.bars} bars of every part generated by {args.model}, temperature 1; "
          f"statistics per part, averaged over the parts")
    table(report_controls, real, real_sd, args.bits)
    report = {"family": "polyphony", "model": args.model, "chorales": len(cases),
              "seed_bars": POLY_SEED_BARS, "new_bars": args.bars, "temperature": 1.0,
              "real": real, "real_sd": real_sd, "controls": report_controls,
              "note": "repeat is not measured: a part model has no motif memory",
              "command": common.command_line("controls", argv),
              "date": time.strftime("%Y-%m-%d %H:%M"),
              "seconds": round(time.monotonic() - t0, 1)}
    out = args.out if args.out != str(common.RESULTS_DIR / "controls.json") else \
        str(common.RESULTS_DIR / "controls_polyphony.json")
    common.write_json(Path(out), report, indent=1)
    return 0


def table(report_controls: dict, real: dict, real_sd: dict, bits: bool) -> None:
    columns = [("control", "<12"), ("statistic", "<15")] + \
        [(f"{p:+d}" if p else "0", 7) for p in POSITIONS] + \
        [("real", 7), ("real sd", 7), ("mono", 5), ("-2/sd", 6), ("+2/sd", 6),
         ("t2/t0", 6)] + ([("bits±1", 7)] if bits else [])
    lines = []
    for control, e in report_controls.items():
        for k, stat in enumerate(e["statistics"]):
            pos = e["positions"]
            first = k == 0
            lines.append([control if first else "", stat]
                         + [f"{pos[str(p)][stat]:.3f}" for p in POSITIONS]
                         + [f"{real[stat]:.3f}", f"{real_sd[stat]:.3f}",
                            ("yes" if e["monotonic"] else "NO") if first else "",
                            f"{e['moved_-2']:.2f}" if first and e["moved_-2"] is not None
                            else "", f"{e['moved_+2']:.2f}" if first and e["moved_+2"]
                            is not None else "",
                            f"{max(e['time_at_2_vs_0'], e['time_at_-2_vs_0']):.2f}"
                            if first else ""]
                         + ([f"{100 * e['bits_rise_at_1']:+.1f}%"
                             if first and "bits_rise_at_1" in e else ""] if bits else []))
    common.print_table(columns, lines)


def time_controls(controls, cases: int, once, repeats: int = 1) -> dict:
    """Each control at -2 and +2 against 0 over ``cases`` cases, interleaved case by
    case, in process CPU time (``once(case, control or None, position)`` -> seconds;
    the fastest of ``repeats`` rounds of each, as a load spike only ever adds time),
    printed as it goes: the report's rows, control -> its CPU seconds and ratios."""
    report = {}
    for control in controls:
        spent = {0: [], -2: [], 2: []}
        for i in range(cases):
            rounds = {0: [], -2: [], 2: []}
            for _ in range(max(1, repeats)):
                for p in (0, -2, 2):
                    rounds[p].append(once(i, control if p else None, p))
            for p, times in rounds.items():
                spent[p].append(min(times))
        base = sum(spent[0])
        report[control] = {"cpu_s": {str(p): round(sum(v), 3) for p, v in spent.items()},
                           "at_-2_vs_0": sum(spent[-2]) / base,
                           "at_+2_vs_0": sum(spent[2]) / base}
        print(f"{control:12s} -2: {report[control]['at_-2_vs_0']:.3f}x  "
              f"+2: {report[control]['at_+2_vs_0']:.3f}x")
    return report


def timing(args, argv) -> int:
    """``--timing``: what each control at -2 and +2 adds to a generation's time, timed
    interleaved (0, -2, +2 for each case in turn) in this process's CPU seconds, which
    other work on a shared machine does not inflate.  The melody family continues the
    default seed's melody by ``--bars`` bars (``--seeds`` random seeds, 4 variations);
    the polyphony family continues every part of the first ``--seeds`` Bach test
    chorales after their first 4 bars."""
    from engine.generation import jobs
    from engine.generation.request import GenerationRequest
    from engine.formats import midi_file_to_song

    library = ModelLibrary([ROOT / "models"])
    if args.family == "polyphony":
        from bench.chorales import bar_ticks, cut_song, test_chorales
        chorales, _ = test_chorales(args.seeds)
        cases = []
        for _, song in chorales:
            start = POLY_SEED_BARS * bar_ticks(song)
            cases.append((cut_song(song, start), start))
    else:
        song = midi_file_to_song((ROOT / "assets" / "default_seed.mid").read_bytes())
        song.tracks = song.tracks[:1]
        cases = [(song, None)] * args.seeds
    controls = [c for c in args.controls if c != "repeat" or args.family == "melody"]

    def run(i: int, control: str | None, position: int) -> float:
        seed, start = cases[i]
        s = GenerationSettings(model=args.model, bars=args.bars, rng_seed=i, variations=4,
                               **({control: position} if control else {}))
        t = time.process_time()
        jobs.run(library, seed, GenerationRequest(job="continue", settings=s,
                                                  start_tick=start))
        return time.process_time() - t

    run(0, None, 0)  # the sessions load
    report = time_controls(controls, len(cases), run, args.repeats)
    common.write_json(args.out, {"family": args.family, "model": args.model,
                                 "cases": len(cases), "bars": args.bars, "variations": 4,
                                 "clock": f"process CPU time, interleaved, the fastest of {args.repeats} rounds",
                                 "controls": report,
                                 "command": common.command_line("controls", argv),
                                 "date": time.strftime("%Y-%m-%d %H:%M")})
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = common.parser(__doc__)
    ap.add_argument("--seeds", type=int, default=None,
                    help="test tunes (default 30; 100 drum seeds for --family drums)")
    ap.add_argument("--bars", type=int, default=4, help="bars generated (default 4)")
    ap.add_argument("--model", default=None,
                    help="a melody model (default lstm; poly-lstm for --family polyphony)")
    ap.add_argument("--family", choices=("melody", "polyphony", "drums"), default="melody",
                    help="melody tunes (default), every part of Bach chorales, or the "
                         "drums of held-out grooves")
    ap.add_argument("--controls", nargs="+", default=[c[0] for c in CONTROLS])
    ap.add_argument("--bits", action="store_true",
                    help="also the real continuations' bits per note at -1, 0, 1")
    ap.add_argument("--repeats", type=int, default=3,
                    help="with --timing: rounds of each case and position, the fastest "
                         "kept (default 3)")
    ap.add_argument("--timing", action="store_true",
                    help="only what each control at -2 and +2 adds to generation time "
                         "(CPU time, interleaved); writes controls_timing[_polyphony].json")
    common.add_out(ap, "controls")
    args = ap.parse_args(argv)
    if args.family == "drums":
        return drums(args, argv)
    args.seeds = 30 if args.seeds is None else args.seeds
    if args.timing:
        args.model = args.model or ("poly-lstm" if args.family == "polyphony" else "lstm")
        if args.out == str(common.RESULTS_DIR / "controls.json"):
            args.out = str(common.RESULTS_DIR / ("controls_timing_polyphony.json"
                                                 if args.family == "polyphony"
                                                 else "controls_timing.json"))
        return timing(args, argv)
    if args.family == "polyphony":
        args.model = args.model or "poly-lstm"
        return polyphony(args, argv)
    args.model = args.model or "lstm"
    t0 = time.monotonic()
    tunes = test_tunes("test", args.seeds)
    enc = tunes.encoding
    library = ModelLibrary([ROOT / "models"])
    model = library.get(args.model)
    songs, seeds, reals = [], [], []
    for i in range(len(tunes.tokens)):
        bar = tunes.bar_steps[i]
        t = tunes.tokens[i]
        seed, real = t[:SEED_BARS * bar], t[SEED_BARS * bar:(SEED_BARS + args.bars) * bar]
        song = melody_song([], ppq=PPQ, time_signature=tunes.metre[i])
        song = melody_song(accented(enc.decode(seed.tolist(), PPQ), song), ppq=PPQ,
                           time_signature=tunes.metre[i])
        songs.append(song)
        seeds.append(seed)
        reals.append(real)
    real_rows = [measure(enc, songs[i], seeds[i], reals[i], args.bars, tunes.bar_steps[i])
                 for i in range(len(seeds))]
    real = summary(real_rows)
    real_sd = {k: float(np.nanstd([r[k] for r in real_rows])) for k in real}

    def run(control: str | None, position: int) -> dict:
        rows, t1 = [], time.monotonic()
        for i, song in enumerate(songs):
            values = {control: position} if control and position else {}
            s = GenerationSettings(model=args.model, bars=args.bars, rng_seed=i,
                                   temperature=1.0, **values)
            result = generate(library, song, s, start_tick=len(seeds[i]) * PPQ // 4)
            new = np.asarray(result.tokens[0])
            rows.append(measure(enc, song, seeds[i], new, args.bars, tunes.bar_steps[i],
                                (n.velocity for n in result.variations[0])))
        return {**summary(rows), "seconds": round(time.monotonic() - t1, 2)}

    neutral = run(None, 0)
    print(f"position 0: {neutral['seconds']} s", file=sys.stderr)
    report_controls = {}
    for control in args.controls:
        at = {p: neutral if p == 0 else run(control, p) for p in POSITIONS}
        stat = STATISTICS[control][0]
        series = [at[p][stat] for p in POSITIONS]
        diffs = np.diff(series)
        monotonic = bool(np.all(diffs >= 0) or np.all(diffs <= 0))
        sd = real_sd[stat]
        entry = {"statistics": list(STATISTICS[control]),
                 "positions": {str(p): at[p] for p in POSITIONS},
                 "monotonic": monotonic, "real_mean": real[stat], "real_sd": sd,
                 "moved_-2": (abs(at[-2][stat] - at[0][stat]) / sd) if sd > 0 else None,
                 "moved_+2": (abs(at[2][stat] - at[0][stat]) / sd) if sd > 0 else None,
                 "time_at_2_vs_0": at[2]["seconds"] / max(1e-9, neutral["seconds"]),
                 "time_at_-2_vs_0": at[-2]["seconds"] / max(1e-9, neutral["seconds"])}
        if args.bits:
            entry["bits_per_note"] = {}
            for p in (-1, 0, 1):
                s = GenerationSettings(model=args.model, **({control: p} if p else {}))
                total = notes = 0
                for i, song in enumerate(songs):
                    b, n = bits_per_note(model, s, seeds[i], reals[i], song)
                    total, notes = total + b, notes + n
                entry["bits_per_note"][str(p)] = total / max(1, notes)
            base = entry["bits_per_note"]["0"]
            entry["bits_rise_at_1"] = max(entry["bits_per_note"][k] / base - 1
                                          for k in ("-1", "1"))
        report_controls[control] = entry
        print(f"{control}: {[round(x, 3) for x in series]}", file=sys.stderr)

    print(f"\n{len(seeds)} Essen test tunes, {SEED_BARS} bars of seed, {args.bars} bars "
          f"generated by {args.model}, temperature 1, memory on, key lock auto")
    table(report_controls, real, real_sd, args.bits)
    report = {"model": args.model, "tunes": len(seeds), "seed_bars": SEED_BARS,
              "new_bars": args.bars, "temperature": 1.0, "memory": True, "key": "auto",
              "real": real, "real_sd": real_sd, "controls": report_controls,
              "command": common.command_line("controls", argv),
              "date": time.strftime("%Y-%m-%d %H:%M"),
              "seconds": round(time.monotonic() - t0, 1)}
    common.write_json(Path(args.out), report, indent=1)
    return 0


def drums(args, argv) -> int:
    """``--family drums``: bench/drum_controls.py, writing controls[_timing]_drums.json."""
    from bench import drum_controls

    args.seeds = 100 if args.seeds is None else args.seeds
    if args.out == str(common.RESULTS_DIR / "controls.json"):
        args.out = str(common.RESULTS_DIR / ("controls_timing_drums.json" if args.timing
                                             else "controls_drums.json"))
    return (drum_controls.timing if args.timing else drum_controls.steer)(args, argv)


if __name__ == "__main__":
    sys.exit(main())
