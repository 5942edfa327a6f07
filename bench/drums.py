"""Drums: the drum model's continuations and Add Drums against real grooves.

Every held-out groove (mma's library rendered by ``python -m training grooves``, test
split, the 8-bar main grooves) and every drum track of tests/data/external with 8 bars
or more is continued for 4 bars after its first 4 (temperature 1, 4 variations), the
drums hearing the real bass and chords of those bars (engine/generation/jobs/drums.py's
continue_drums), and compared with the real next 4 bars:

* the Jensen-Shannon distance (base 2) of each kit piece's onset-position histogram (the
  step of the bar, 48 a 4/4 bar) against the real one, with the real set's own two
  halves (alternate grooves) as the noise floor; target: within 1.5x the floor;
* the share of new bars that repeat an earlier bar's pattern exactly (seed bars
  included): every kit piece's hits on the grid, their loudness left out; target:
  within 20% of the real share; also by how many of the seed's own bars 2-4 repeat an
  earlier one (real next bars repeat far more after a seed that repeats);
* the backbeat share per style: 4/4 bars with the snare on beats 2 and 4; target:
  within 20% of the real share;
* kick / bass agreement: of the steps where a kick or a bass note starts, the share
  where both do (Jaccard), real and generated.

Style fidelity (training/drum_styles.py's measure, with the drum style prior of
models/drums/styles.json as Add Drums uses it; ``--style-weight 0``: the network alone):
Add Drums on the first 8 bars of Essen test tunes (bench/reads_right's essen_tunes), one
style at a time, each tune barred in the style's own metre (4/4, or 3/4 for a waltz):
each style's drums, as one histogram of (piece, step of the bar), should be nearer (JS)
to that style's real grooves (every rendered 8-bar groove of the family) than to any
other style's, for at least 80% of the styles.  Also reported against the test grooves
alone (the styles with 3 or more), which neither the network nor the prior learnt from.

Every track continues: each mma example of tests/data/external with a drum track and
pitched parts is continued 4 bars by the default part model (jobs.run, as Generate
does); every track should get new notes, and each drum track's new bars' histogram
should lie at most half as far (JS) from that track's own last 4 bars of seed as from a
random other groove's (a song keeps its groove where every drum track does; a drum
track with no hit the drum model hears, which stays as it is, is left out).

Speed: Add Drums to a 32-bar song (the default seed's parts repeated), one variation and
four, median of 5 runs, on one core.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (ROOT, add_out, command_line, git_state, load_averages,  # noqa: E402
                          parser, pinned_unless, print_table, single_threaded,
                          wall_and_cpu_ms, write_json)

single_threaded()

import numpy as np  # noqa: E402

PIECES = ("kick", "snare", "closed_hat", "open_hat", "pedal_hat", "ride", "crash", "side_stick",
          "low_tom", "mid_tom", "high_tom", "clap", "hand_drum")
MIN_HITS = 30  # a piece is compared only where the real set strikes it this often
MEMORY = False  # the motif memory in continuations (--memory on)


# ---------------------------------------------------------------------------------------
# songs -> hits per step, histograms, distances: training/drum_styles.py's, which fits
# the style prior with them
# ---------------------------------------------------------------------------------------
from training.drum_styles import (  # noqa: E402,F401
    hit_matrix, histogram, js_distance, signature)


def groove_distances(new: np.ndarray, bar: int, seed: np.ndarray, other: np.ndarray,
                     other_bar: int) -> tuple[float, float]:
    """(JS of the new bars' signature to the seed's, JS to another groove's): the new
    bars keep the seed's groove where the first is at most half the second."""
    from engine.encodings.drums import KIT

    sig = signature([(new, bar)], len(KIT))
    return (js_distance(sig, signature([(seed, bar)], len(KIT))),
            js_distance(sig, signature([(other, other_bar)], len(KIT))))


def bars_of(m: np.ndarray, bar: int) -> list[bytes]:
    return [m[i:i + bar].tobytes() for i in range(0, len(m) - bar + 1, bar)]


def repeats(seed: np.ndarray, new: np.ndarray, bar: int) -> tuple[int, int]:
    """(new bars repeating an earlier bar exactly, new bars)."""
    seen = set(bars_of(seed, bar))
    count = 0
    news = bars_of(new, bar)
    for b in news:
        count += b in seen
        seen.add(b)
    return count, len(news)


def backbeat(new: np.ndarray, bar: int, snare: int) -> tuple[int, int]:
    """(4/4 bars with the snare on 2 and 4, 4/4 bars)."""
    if bar != 48:
        return 0, 0
    bars = [new[i:i + bar] for i in range(0, len(new) - bar + 1, bar)]
    return sum(bool(b[12, snare] and b[36, snare]) for b in bars), len(bars)


def agreement(new: np.ndarray, bass: np.ndarray, kick: int) -> tuple[int, int]:
    """(steps with a kick and a bass onset, steps with either)."""
    k = new[:, kick]
    b = bass[:len(k)] > 0
    return int((k & b).sum()), int((k | b).sum())


# ---------------------------------------------------------------------------------------
# the continuations
# ---------------------------------------------------------------------------------------
def test_grooves(split: str = "test") -> list[tuple[str, str, "object"]]:
    """(name, family, Song) of the rendered 8-bar main grooves of ``split``."""
    from engine.formats import load_song
    from training.datasets.grooves import CACHE_DIR, read_index

    out = []
    for g in read_index():
        if g.split == split and g.bars == 8 and (CACHE_DIR / g.midi_name).exists():
            out.append((g.name, g.family, load_song(str(CACHE_DIR / g.midi_name))))
    return out


def external_songs() -> list[tuple[str, str, "object"]]:
    from engine.formats import load_song
    from engine.generation.jobs.drums import drum_tracks

    out = []
    for path in sorted((ROOT / "tests" / "data" / "external").glob("*.mid")):
        try:
            song = load_song(str(path))
        except Exception:  # noqa: BLE001  a file the app refuses is not in the set
            continue
        if drum_tracks(song) and song.end_tick >= 8 * song.ticks_per_bar_at(0):
            out.append((path.stem, "external", song))
    return out


def has_drums(song) -> bool:
    """Drums in each half of the first 8 bars (a groove without drums is left out)."""
    from engine.encodings.drums import is_drum_track

    half = 4 * song.ticks_per_bar_at(0)
    starts = [n.start_tick for t in song.tracks if is_drum_track(t) for n in t.notes]
    return any(s < half for s in starts) and any(half <= s < 2 * half for s in starts)


def continue_one(library, song, variations: int, seed: int):
    """The drums of bars 5-8 of ``song`` continued from bars 1-4, hearing the real
    pitched bars 5-8: (seed hits, real next hits, generated hits per variation, bass
    onsets of the new bars, bar steps)."""
    from engine.encodings.drums import bar_steps, is_drum_track, onsets_per_step
    from engine.generation.jobs.drums import continue_drums, drum_model
    from engine.generation.request import GenerationSettings

    enc = drum_model(library).encoding
    ppq = song.ppq
    bar = bar_steps(song.meter_at(0))
    start_tick = enc.step_to_tick(4 * bar, ppq)
    end_tick = enc.step_to_tick(8 * bar, ppq)
    drums = [n for t in song.tracks if is_drum_track(t) for n in t.notes]
    pitched_new = [n for t in song.tracks if not is_drum_track(t) for n in t.notes
                   if start_tick <= n.start_tick < end_tick]
    seed_song = song.copy()
    for t in seed_song.tracks:
        t.notes = [n for n in t.notes if n.start_tick < start_tick]
    settings = GenerationSettings(model="", bars=4, variations=variations, rng_seed=seed,
                                  memory=MEMORY, key=None)
    new, _, _, _ = continue_drums(library, seed_song, settings, start_tick=start_tick,
                                  new_notes=[pitched_new] * variations)
    seed_hits = hit_matrix(enc, drums, ppq, 0, 4 * bar)
    real = hit_matrix(enc, drums, ppq, 4 * bar, 8 * bar)
    gen = [hit_matrix(enc, notes, ppq, 4 * bar, 8 * bar) for notes in new]
    bass = onsets_per_step(song.tracks, ppq, 4 * bar, start_step=4 * bar)[:, 0]
    return seed_hits, real, gen, bass, bar


def continuation_figures(library, songs, variations: int) -> dict:
    """Every figure of the continuation bench over ``songs`` ((name, family, Song))."""
    from engine.encodings.drums import KIT

    runs = [(name, family, *continue_one(library, song, variations, i))
            for i, (name, family, song) in enumerate(songs) if has_drums(song)]
    kit = {p: KIT.index(p) for p in PIECES}
    real_all = [(r[3], r[6]) for r in runs]
    gen_all = [(g, r[6]) for r in runs for g in r[4]]
    halves = ([(r[3], r[6]) for r in runs[0::2]], [(r[3], r[6]) for r in runs[1::2]])
    pieces = {}
    for name, p in kit.items():
        real_h = histogram(real_all, p)
        if real_h.sum() < MIN_HITS:
            continue
        floor = js_distance(histogram(halves[0], p), histogram(halves[1], p))
        dist = js_distance(histogram(gen_all, p), real_h)
        pieces[name] = {"js": round(dist, 4), "floor": round(floor, 4),
                        "ratio": round(dist / floor, 2) if floor else None,
                        "real_hits": int(real_h.sum())}
    each = per_groove(runs)
    return {"grooves": len(runs), "pieces": pieces,
            **shares(runs, kit["snare"], kit["kick"]), "keeps_groove": keeps_groove(runs),
            "repeats_by_seed": repeats_by_seed(each), "per_groove": each}


def repeats_by_seed(each: dict) -> dict:
    """The repeats of :func:`per_groove` by how many of the seed's bars 2-4 repeat an
    earlier one (0-3): grooves, and the share of new bars repeating, real and generated."""
    out: dict = {}
    for r in each.values():
        row = out.setdefault(str(r["seed"]), [0, 0, 0, 0, 0])
        row[0] += 1
        row[1] += r["real"]
        row[2] += r["of"][0]
        row[3] += r["generated"]
        row[4] += r["of"][1]
    return {k: {"grooves": n, "real": round(a / b, 3) if b else None,
                "generated": round(c / d, 3) if d else None}
            for k, (n, a, b, c, d) in sorted(out.items())}


def per_groove(runs) -> dict:
    """Per groove, its real next bars and its continuations: the bars repeating an
    earlier one (of 4, and of 4 x variations) and the seed's own (of 3: its bars 2-4
    repeating an earlier seed bar)."""
    out = {}
    for r in runs:
        seed, bar = r[2], r[6]
        first = seed[:bar]
        gen = [repeats(seed, g, bar) for g in r[4]]
        out[r[0]] = {"real": repeats(seed, r[3], bar)[0],
                     "generated": sum(a for a, _ in gen),
                     "of": [4, sum(b for _, b in gen)],
                     "seed": repeats(first, seed[bar:], bar)[0]}
    return out


def keeps_groove(runs, seed: int = 0) -> dict:
    """The share of generated (and of real) next bars that keep the seed's groove: their
    JS distance to the seed bars' signature at most half that to another run's seed
    (drawn at random)."""
    rng = np.random.default_rng(seed)
    gen = real = 0
    for i, r in enumerate(runs):
        j = (i + 1 + int(rng.integers(max(1, len(runs) - 1)))) % len(runs)
        for g in r[4]:
            a, b = groove_distances(g, r[6], r[2], runs[j][2], runs[j][6])
            gen += a <= b / 2
        a, b = groove_distances(r[3], r[6], r[2], runs[j][2], runs[j][6])
        real += a <= b / 2
    n = sum(len(r[4]) for r in runs)
    return {"generated": round(gen / n, 3) if n else None,
            "real": round(real / len(runs), 3) if runs else None}


def shares(runs, snare: int, kick: int) -> dict:
    """Repeats, backbeat per style and kick/bass agreement, real and generated."""
    def total(pairs):
        a = sum(x for x, _ in pairs)
        b = sum(y for _, y in pairs)
        return round(a / b, 4) if b else None

    rep_real = total([repeats(r[2], r[3], r[6]) for r in runs])
    rep_gen = total([repeats(r[2], g, r[6]) for r in runs for g in r[4]])
    styles = sorted({r[1] for r in runs})
    back = {s: {"real": total([backbeat(r[3], r[6], snare) for r in runs if r[1] == s]),
                "generated": total([backbeat(g, r[6], snare) for r in runs if r[1] == s
                                    for g in r[4]])} for s in styles}
    agree = {"real": total([agreement(r[3], r[5], kick) for r in runs]),
             "generated": total([agreement(g, r[5], kick) for r in runs for g in r[4]])}
    return {"repeats": {"real": rep_real, "generated": rep_gen}, "backbeat": back,
            "kick_bass": agree}


# ---------------------------------------------------------------------------------------
# style fidelity, every track, speed
# ---------------------------------------------------------------------------------------
def style_fidelity(library, tunes: int, seed: int) -> dict:
    """Add Drums per style over Essen test tunes (training/drum_styles.py's measure):
    each style's drums against every rendered 8-bar groove of each family (as first
    measured), and against the test grooves alone, which neither the network nor the
    style prior learnt from."""
    from bench.reads_right import essen_tunes
    from engine.generation.jobs.drums import drum_model
    from training import drum_styles

    enc = drum_model(library).encoding
    refs = drum_styles.style_references(enc, ("train", "validation", "test"))
    songs = [song for _, song in essen_tunes(tunes)]
    sigs = drum_styles.drummed(library, songs, {s: bar for s, (_, bar) in refs.items()}, seed)
    out = drum_styles.nearest_styles(sigs, refs)
    out["tunes"] = len(songs)
    out["test_references"] = drum_styles.nearest_styles(
        sigs, drum_styles.style_references(enc, ("test",)))
    return out


def every_track(library, seed: int) -> dict:
    """Each mma example with drums and pitched parts, continued 4 bars as Generate does."""
    from engine.encodings import CONTINUE
    from engine.encodings.drums import bar_steps, is_drum_track
    from engine.formats import load_song
    from engine.generation import jobs
    from engine.generation.jobs.drums import drum_model, drum_tracks
    from engine.generation.parts_song import default_model, song_with_parts
    from engine.generation.request import GenerationRequest, GenerationSettings

    enc = drum_model(library).encoding
    rng = np.random.default_rng(seed)
    songs = [(p.stem, load_song(str(p))) for p in
             sorted((ROOT / "tests" / "data" / "external").glob("mma--*.mid"))]
    songs = [(n, s) for n, s in songs if drum_tracks(s)
             and any(t.notes and not is_drum_track(t) for t in s.tracks)]
    rows = {}
    for name, song in songs:
        model = default_model(library, song)
        settings = GenerationSettings(model=model, bars=4, rng_seed=seed, memory=MEMORY)
        result = jobs.run(library, song, GenerationRequest(CONTINUE, settings,
                                                           parts=model.startswith("poly")))
        out = song_with_parts(song, result, 0)
        grew = [len(a.notes) > len(b.notes) for a, b in zip(out.tracks, song.tracks)
                if b.notes]
        # the pitched tracks still playing where the seed ends (2+ notes started in its
        # last 4 bars): each should go on (one that rested there may rest on)
        last_bars = result.start_tick - 4 * song.ticks_per_bar_at(result.start_tick)
        playing = [i for i, t in enumerate(song.tracks) if not is_drum_track(t) and sum(
            last_bars <= n.start_tick < result.start_tick for n in t.notes) >= 2]
        stopped = [song.tracks[i].name or str(i + 1) for i in playing
                   if len(out.tracks[i].notes) <= len(song.tracks[i].notes)]
        bar = bar_steps(song.meter_at(0))
        start = enc.ceil_step(result.start_tick, song.ppq)
        other_name, other = songs[int(rng.integers(len(songs)))]
        while other_name == name and len(songs) > 1:
            other_name, other = songs[int(rng.integers(len(songs)))]
        od = drum_tracks(other)[0]
        ob = bar_steps(other.meter_at(0))
        o = hit_matrix(enc, other.tracks[od].notes, other.ppq, 0, 8 * ob)
        # every drum track: its new bars against its own seed's last 4 bars
        tracks = {}
        for d in drum_tracks(song):
            if not hit_matrix(enc, song.tracks[d].notes, song.ppq, 0, start).any():
                continue  # no hit the drum model hears (a bell on channel 10): it stays
            new = hit_matrix(enc, out.tracks[d].notes, song.ppq, start, start + 4 * bar)
            last = hit_matrix(enc, song.tracks[d].notes, song.ppq, max(0, start - 4 * bar),
                              start)
            js_seed, js_other = groove_distances(new, bar, last, o, ob)
            tracks[d] = {"grew": len(out.tracks[d].notes) > len(song.tracks[d].notes),
                         "js_seed": round(js_seed, 4), "js_other": round(js_other, 4),
                         "seed_hits": int(last.sum()), "new_hits": int(new.sum())}
        first = tracks[min(tracks)]
        rows[name] = {"model": model, "every_track_grew": all(grew),
                      "playing_tracks": len(playing), "playing_tracks_stopped": stopped,
                      "drums_grew": all(t["grew"] for t in tracks.values()),
                      "js_seed": first["js_seed"], "js_other": first["js_other"],
                      "keeps": all(t["js_seed"] <= t["js_other"] / 2 for t in tracks.values()),
                      "other": other_name, "drum_tracks": tracks}
    keeps = sum(r["keeps"] for r in rows.values())
    return {"songs": rows, "all_grew": all(r["every_track_grew"] for r in rows.values()),
            "songs_with_a_playing_track_stopped": sum(bool(r["playing_tracks_stopped"])
                                                      for r in rows.values()),
            "drums_grew": sum(r["drums_grew"] for r in rows.values()),
            "share_keeping_groove": round(keeps / len(rows), 3) if rows else None}


def speed(library, repeats: int = 5) -> dict:
    """Add Drums to a 32-bar song: median ms, 1 and 4 variations."""
    from engine.formats import load_song
    from engine.generation import jobs
    from engine.generation.request import DRUMS, GenerationRequest, GenerationSettings
    from engine.resources import default_seed
    from engine.song import Note

    seed = load_song(str(default_seed()))
    span = seed.ticks_per_bar_at(0) * 4
    song = seed.copy()
    for t in song.tracks:
        t.notes = [Note(n.pitch, n.start_tick + k * span, n.duration_ticks, n.velocity,
                        n.channel) for k in range(8) for n in t.notes if n.start_tick < span]
    bars = song.end_tick // seed.ticks_per_bar_at(0)
    out = {"bars": int(bars)}
    from engine.generation.jobs.drums import drum_model

    name = drum_model(library).name
    for k in (1, 4):
        request = GenerationRequest(DRUMS, GenerationSettings(model=name, variations=k,
                                                              memory=False, key=None))
        jobs.run(library, song, request)  # the session made, untimed
        wall, cpu = wall_and_cpu_ms(lambda: jobs.run(library, song, request), repeats)
        out[f"ms_{k}_variations"] = round(float(np.median(wall)), 1)
        out[f"cpu_ms_{k}_variations"] = round(float(np.median(cpu)), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, models_dir=True)
    add_out(ap, "drums")
    ap.add_argument("--variations", type=int, default=4)
    ap.add_argument("--tunes", type=int, default=40, help="Essen tunes for style fidelity")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--skip", action="append", default=[],
                    choices=("grooves", "external", "styles", "tracks", "speed"))
    ap.add_argument("--memory", choices=("on", "off"), default="off",
                    help="the motif memory (engine/generation/drum_memory.py) in the "
                         "continuations (default off, as the figures were first taken)")
    ap.add_argument("--groove-memory", type=float, default=None,
                    help="nats for the token a bar before, with the memory or without "
                         "(default: the job's own for each)")
    ap.add_argument("--split", choices=("test", "validation"), default="test",
                    help="the rendered grooves continued (validation: to fit on)")
    ap.add_argument("--groove-share", type=float, default=None,
                    help="the probability each new step gives the seed's groove "
                         "(default: drum_memory.GROOVE_SHARE, or GROOVE_SHARE_ALONE "
                         "with the memory off)")
    ap.add_argument("--groove-backoff", type=float, default=None,
                    help="the weight of the seed's shorter patterns in its longer ones "
                         "(default: drum_memory.GROOVE_BACKOFF)")
    ap.add_argument("--style-weight", type=float, default=None,
                    help="the drum style prior's weight in Add Drums (default: its "
                         "file's, models/drums/styles.json; 0: the network alone)")
    args = ap.parse_args(argv)
    global MEMORY
    MEMORY = args.memory == "on"
    if args.groove_memory is not None:
        import engine.generation.jobs.drums as drum_jobs

        drum_jobs.GROOVE_MEMORY = drum_jobs.GROOVE_MEMORY_WITH_MEMORY = args.groove_memory
    import engine.generation.drum_memory as drum_memory

    if args.groove_share is not None:
        drum_memory.GROOVE_SHARE = drum_memory.GROOVE_SHARE_ALONE = args.groove_share
    if args.groove_backoff is not None:
        drum_memory.GROOVE_BACKOFF = args.groove_backoff
    pinned = pinned_unless(args.no_pin)
    from bench.common import model_folders
    from engine.generation.jobs.drums import drum_model
    from engine.models import ModelLibrary

    library = ModelLibrary(model_folders(args))
    model = drum_model(library)
    if args.style_weight is not None:
        with_style_weight(model.encoding, args.style_weight)
    results: dict = {"model": model.name, "command": command_line("drums", argv),
                     "git": git_state("changed", "engine", "models"), "load": load_averages(),
                     "pinned": pinned}
    if "grooves" not in args.skip:
        results["grooves"] = continuation_figures(library, test_grooves(args.split),
                                                 args.variations)
        report("held-out grooves", results["grooves"])
    if "external" not in args.skip:
        results["external"] = continuation_figures(library, external_songs(), args.variations)
        report("tests/data/external drum tracks", results["external"])
    if "styles" not in args.skip:
        results["styles"] = fig = style_fidelity(library, args.tunes, args.seed)
        for title, f in (("every rendered groove", fig), ("the test grooves alone",
                                                          fig["test_references"])):
            print(f"\nstyle fidelity, {fig['tunes']} Essen tunes, against {title}:")
            table(["style", "nearest", "JS own", "JS best other"],
                  [[s, r["nearest"], r["own"], r["best_other"]]
                   for s, r in f["styles"].items()])
            print(f"nearest its own style: {f['nearest_own']} of {len(f['styles'])} = "
                  f"{f['share_nearest_own']} (target 0.8); mean margin {f['mean_margin']}")
    if "tracks" not in args.skip:
        results["tracks"] = every_track(library, args.seed)
        table(["song", "drum track", "model", "every track", "drums", "JS seed", "JS other",
               "keeps"],
              [[n.replace("mma--usr_share_", "")[-40:], d + 1, r["model"],
                r["every_track_grew"], t["grew"], t["js_seed"], t["js_other"],
                t["js_seed"] <= t["js_other"] / 2]
               for n, r in results["tracks"]["songs"].items()
               for d, t in r["drum_tracks"].items()])
        print(f"songs whose every drum track went on: {results['tracks']['drums_grew']} of "
              f"{len(results['tracks']['songs'])}")
        print(f"songs where a pitched track playing in the seed's last 4 bars got no new "
              f"note: {results['tracks']['songs_with_a_playing_track_stopped']}")
        print(f"keeping the groove (JS seed <= JS other / 2): "
              f"{results['tracks']['share_keeping_groove']}")
    if "speed" not in args.skip:
        results["speed"] = speed(library)
        sp = results["speed"]
        print(f"Add Drums, {sp['bars']} bars: {sp['ms_1_variations']} ms wall, "
              f"{sp['cpu_ms_1_variations']} ms CPU (1 variation); {sp['ms_4_variations']} "
              f"ms wall, {sp['cpu_ms_4_variations']} ms CPU (4)")
    write_json(args.out, results)
    return 0


def with_style_weight(enc, weight: float) -> None:
    """Add Drums with the shipped style prior at ``weight``."""
    from engine.generation.drum_style import load_prior, use_prior

    prior = load_prior(enc)
    if prior is not None:
        use_prior(prior.with_weight(weight))


def table(names: list[str], rows: list[list]) -> None:
    """:func:`print_table` with every cell as text, each column as wide as it needs."""
    text = [[str(v) for v in row] for row in rows]
    widths = [max([len(n)] + [len(r[i]) for r in text]) for i, n in enumerate(names)]
    print_table([(n, f"<{w}" if i == 0 else w) for i, (n, w) in enumerate(zip(names, widths))],
                text, sep="  ")


def report(title: str, fig: dict) -> None:
    print(f"\n{title}: {fig['grooves']} continued")
    table(["piece", "JS", "floor", "ratio", "real hits"],
          [[p, r["js"], r["floor"], r["ratio"], r["real_hits"]] for p, r in fig["pieces"].items()])
    print(f"repeats: real {fig['repeats']['real']}, generated {fig['repeats']['generated']}")
    by = fig["repeats_by_seed"]
    print("  by the seed's own (of its bars 2-4, repeating an earlier one): " + "; ".join(
        f"{k}: real {r['real']}, generated {r['generated']} ({r['grooves']})"
        for k, r in by.items()))
    table(["style", "backbeat real", "backbeat generated"],
          [[s, r["real"], r["generated"]] for s, r in fig["backbeat"].items()])
    print(f"kick/bass agreement: real {fig['kick_bass']['real']}, generated "
          f"{fig['kick_bass']['generated']}")
    print(f"keeping the seed's groove (JS seed <= JS other / 2): real "
          f"{fig['keeps_groove']['real']}, generated {fig['keeps_groove']['generated']}")


if __name__ == "__main__":
    sys.exit(main())
