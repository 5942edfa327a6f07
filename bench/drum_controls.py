"""The steering controls on the drum family (``bench/controls.py --family drums``): do
they steer a drum model's continuations, what do they cost in bits and in time?

The seeds are the held-out grooves as bench/drums.py loads them (mma's groove library
rendered by ``python -m training grooves``, test split): the 8-bar main grooves (4 bars
of seed, 4 continued), then the 4-bar ones (intros, fills, endings: 2 and 2), then, up
to ``--seeds`` (default 100), the drum tracks of tests/data/external (4 and 4), each
kept where it has drums in the seed and in the bars after it.  The drums are continued
as Generate continues a song's drum track (engine/generation/jobs/drums.py's
continue_drums: the motif memory on, style auto, one variation, random seed = the
seed's number, temperature 1), hearing the real pitched parts of the new bars.  Per
control, its statistic on the new hits, at every position:

* density: hits per bar;
* repeat: the share of new bars whose pattern (pieces struck at each step) is an
  earlier bar's, the seed's included;
* register: the hits' mean height (engine/generation/mixers/drum_controls.py's HEIGHT:
  the kick -1 .. the hats and cymbals 1);
* syncopation: the share of hits off the beat (the song's metre);
* dynamics: the velocities' mean and standard deviation.

Leaps is not measured: a drum kit has no intervals, and the drum jobs refuse it.  The
real next bars are read the same way (through the drum encoding, so that their
velocities are its three levels, as the model's are); their spread over the seeds is
the yardstick of ``moved_±2``.  With ``--bits`` the real next bars' bits per hit are
read with the control at -1, 0 and 1 as a scoring condition (the network, the motif
memory, the control: engine/generation/control_scoring.py's drum_tokens_bits, which
``main.py score --model drums-lstm --density 1`` uses too).  With ``--timing``, what
each control at ±2 adds to continuing 4 bars x 4 variations, in CPU seconds,
interleaved.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from bench import common
from bench.common import ROOT
from bench.controls import time_controls

POSITIONS = (-2, -1, 0, 1, 2)
CONTROLS = ("density", "repeat", "register", "syncopation", "dynamics")
STATISTICS = {"density": ("hits_per_bar",), "repeat": ("repeated_bars",),
              "register": ("mean_height",), "syncopation": ("off_beat_share",),
              "dynamics": ("velocity_mean", "velocity_sd")}


def short_grooves() -> list[tuple[str, str, object]]:
    """(name, family, Song) of the rendered 4-bar grooves of the test split."""
    from engine.formats import load_song
    from training.datasets.grooves import CACHE_DIR, read_index

    return [(g.name, g.family, load_song(str(CACHE_DIR / g.midi_name))) for g in read_index()
            if g.split == "test" and g.bars == 4 and (CACHE_DIR / g.midi_name).exists()]


def drum_seeds(count: int) -> list[dict]:
    """Up to ``count`` seeds: the held-out main grooves, the short ones, then the
    external drum tracks, each with drums before and after its cut."""
    from bench.drums import external_songs, test_grooves
    from engine.encodings.drums import bar_steps, is_drum_track

    out = []
    for kind, songs, bars in (("groove", test_grooves(), 4), ("short groove", short_grooves(), 2),
                              ("external", external_songs(), 4)):
        for name, family, song in songs:
            bar = bar_steps(song.meter_at(0))
            tick = song.ppq * bar // 12
            start, end = bars * tick, 2 * bars * tick
            drums = [n for t in song.tracks if is_drum_track(t) for n in t.notes]
            if any(n.start_tick < start for n in drums) and \
                    any(start <= n.start_tick < end for n in drums):
                out.append({"name": name, "kind": kind, "song": song, "bars": bars,
                            "bar": bar, "start": start, "end": end})
    return out[:count]


def cut(case: dict):
    """The seed song (every note before the cut), the real pitched notes after it (the
    drums hear them), and the real drum notes after it."""
    from engine.encodings.drums import is_drum_track

    song, start, end = case["song"], case["start"], case["end"]
    seed = song.copy()
    for t in seed.tracks:
        t.notes = [n for n in t.notes if n.start_tick < start]
    pitched = [n for t in song.tracks if not is_drum_track(t) for n in t.notes
               if start <= n.start_tick < end]
    drums = [n for t in song.tracks if is_drum_track(t) for n in t.notes
             if start <= n.start_tick < end]
    return seed, pitched, drums


def measure(enc, case: dict, seed, new) -> dict:
    """The statistics of the new drum notes ``new`` after the seed song ``seed``."""
    from bench.drums import hit_matrix, repeats
    from engine.encodings.drums import KIT, is_drum_track, kit_piece
    from engine.generation.mixers.drum_controls import HEIGHT

    bar, ppq = case["bar"], seed.ppq
    seed_notes = [n for t in seed.tracks if is_drum_track(t) for n in t.notes]
    first = enc.tick_to_step(case["start"], ppq)
    old = hit_matrix(enc, seed_notes, ppq, 0, first)
    again, bars = repeats(old, hit_matrix(enc, new, ppq, first, first + case["bars"] * bar),
                          bar)
    heights = [HEIGHT[KIT[kit_piece(n.pitch)]] for n in new if kit_piece(n.pitch) is not None]
    off = [seed.bar_beat_at(n.start_tick)[2] != 0 for n in new]
    v = np.asarray([n.velocity for n in new], dtype=float)
    return {"hits_per_bar": len(new) / case["bars"],
            "repeated_bars": again / bars if bars else np.nan,
            "mean_height": float(np.mean(heights)) if heights else np.nan,
            "off_beat_share": float(np.mean(off)) if off else np.nan,
            "velocity_mean": float(v.mean()) if len(v) else np.nan,
            "velocity_sd": float(v.std()) if len(v) else np.nan}


def as_heard(enc, notes, ppq: int, start: int, end: int):
    """Real drum notes through the encoding (its kit, its three levels), as the model
    writes them."""
    first, last = enc.tick_to_step(start, ppq), enc.tick_to_step(end, ppq)
    tokens = enc.encode_steps(notes, ppq, first, last).tokens
    return enc.decode(tokens, ppq, start_step=first)


def continued(library, case: dict, settings):
    """The case's drums continued with ``settings``: one variation's new drum notes."""
    from engine.generation.jobs.drums import continue_drums

    seed, pitched, _ = case["cut"]
    new, _, _, _ = continue_drums(library, seed, settings, start_tick=case["start"],
                                  new_notes=[pitched] * settings.variations)
    return new


def settings_for(case_index: int, bars: int, control: str | None, position: int,
                 variations: int = 1):
    from engine.generation.request import GenerationSettings

    values = {control: position} if control and position else {}
    return GenerationSettings(model="", bars=bars, variations=variations, rng_seed=case_index,
                              key=None, **values)


def bits_at(model, cases: list[dict], control: str, position: int) -> float:
    """The real next bars' bits per hit with ``control`` at ``position``."""
    from engine.generation.control_scoring import drum_tokens_bits

    total = hits = 0
    for case in cases:
        song = case["song"].copy()
        for t in song.tracks:
            t.notes = [n for n in t.notes if n.start_tick < case["end"]]
        enc = model.encoding
        tokens = enc.song_to_tokens(song)
        split = enc.tick_to_step(case["start"], song.ppq) - enc.context.origin
        s = settings_for(0, case["bars"], control, position)
        b, n = drum_tokens_bits(model, s, tokens, split, song)
        total, hits = total + b, hits + n
    return total / max(1, hits)


def steer(args, argv) -> int:
    """The statistics at every position of every control, against the real bars'."""
    from bench.controls import summary, table
    from engine.generation.jobs.drums import drum_model
    from engine.models import ModelLibrary

    t0 = time.monotonic()
    library = ModelLibrary([ROOT / "models"])
    model = drum_model(library, args.model)
    enc = model.encoding
    cases = drum_seeds(args.seeds)
    for case in cases:
        case["cut"] = cut(case)
    real_rows = [measure(enc, c, c["cut"][0], as_heard(enc, c["cut"][2], c["song"].ppq,
                                                       c["start"], c["end"]))
                 for c in cases]
    real = summary(real_rows)
    real_sd = {k: float(np.nanstd([r[k] for r in real_rows])) for k in real}

    def run(control: str | None, position: int) -> dict:
        rows, t1 = [], time.process_time()
        for i, case in enumerate(cases):
            new = continued(library, case, settings_for(i, case["bars"], control, position))
            rows.append(measure(enc, case, case["cut"][0], new[0]))
        return {**summary(rows), "seconds": round(time.process_time() - t1, 2)}

    neutral = run(None, 0)
    report_controls = {c: entry(c, neutral, run, real, real_sd) for c in args.controls
                       if c in CONTROLS}
    if args.bits:
        for control, e in report_controls.items():
            if control == "dynamics":
                continue
            e["bits_per_note"] = {str(p): bits_at(model, cases, control, p) for p in (-1, 0, 1)}
            base = e["bits_per_note"]["0"]
            e["bits_rise_at_1"] = max(e["bits_per_note"][k] / base - 1 for k in ("-1", "1"))
    kinds = {k: sum(c["kind"] == k for c in cases) for k in ("groove", "short groove",
                                                            "external")}
    print(f"\n{len(cases)} drum seeds ({kinds['groove']} held-out main grooves, "
          f"{kinds['short groove']} held-out short ones, {kinds['external']} external drum "
          f"tracks), continued by {model.name} (memory on, style auto, temperature 1)")
    table(report_controls, real, real_sd, args.bits)
    report = {"family": "drums", "model": model.name, "seeds": len(cases), "kinds": kinds,
              "temperature": 1.0, "memory": True, "style": "auto",
              "real": real, "real_sd": real_sd, "controls": report_controls,
              "note": "leaps is not measured: a drum kit has no intervals, and the drum "
                      "jobs refuse it; seconds are CPU seconds",
              "command": common.command_line("controls", argv),
              "date": time.strftime("%Y-%m-%d %H:%M"),
              "seconds": round(time.monotonic() - t0, 1)}
    common.write_json(Path(args.out), report, indent=1)
    return 0


def entry(control: str, neutral: dict, run, real: dict, real_sd: dict) -> dict:
    """One control's figures: its statistics at every position, monotonic or not, and
    how far ±2 moved the first from 0 in units of the real bars' spread."""
    at = {p: neutral if p == 0 else run(control, p) for p in POSITIONS}
    stat = STATISTICS[control][0]
    series = [at[p][stat] for p in POSITIONS]
    diffs = np.diff(series)
    sd = real_sd[stat]
    print(f"{control}: {[round(x, 3) for x in series]}", file=sys.stderr)
    return {"statistics": list(STATISTICS[control]),
            "positions": {str(p): at[p] for p in POSITIONS},
            "monotonic": bool(np.all(diffs >= 0) or np.all(diffs <= 0)),
            "real_mean": real[stat], "real_sd": sd,
            "moved_-2": abs(at[-2][stat] - at[0][stat]) / sd if sd > 0 else None,
            "moved_+2": abs(at[2][stat] - at[0][stat]) / sd if sd > 0 else None,
            "time_at_2_vs_0": at[2]["seconds"] / max(1e-9, neutral["seconds"]),
            "time_at_-2_vs_0": at[-2]["seconds"] / max(1e-9, neutral["seconds"])}


def timing(args, argv) -> int:
    """What each control at -2 and +2 adds to continuing the first ``--seeds`` seeds'
    drums 4 bars x 4 variations, in this process's CPU seconds, interleaved."""
    from engine.models import ModelLibrary

    library = ModelLibrary([ROOT / "models"])
    cases = drum_seeds(args.seeds)
    for case in cases:
        case["cut"] = cut(case)

    def once(i: int, control: str | None, position: int) -> float:
        s = settings_for(i, 4, control, position, variations=4)
        t = time.process_time()
        continued(library, cases[i], s)
        return time.process_time() - t

    once(0, None, 0)  # the sessions load
    report = time_controls([c for c in args.controls if c in CONTROLS], len(cases), once,
                           args.repeats)
    common.write_json(args.out, {"family": "drums", "cases": len(cases), "bars": 4,
                                 "variations": 4, "clock": f"process CPU time, interleaved, the fastest of {args.repeats} rounds",
                                 "controls": report,
                                 "command": common.command_line("controls", argv),
                                 "date": time.strftime("%Y-%m-%d %H:%M")})
    return 0
