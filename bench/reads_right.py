"""Does the written music read right?  The saved MIDI of the real CLI, read back through
the song model to bars, beats and parts, as a musician reads it in a notation program,
against the real music where there is one.

Every output is made by the CLI itself (``main.main(["generate" | "harmonise", ...])``,
in this process so the models load once), written to MIDI, and read back with
``engine.formats.midi_file_to_song``; the new notes are the output's notes that are not
in the seed (per part, by pitch, start and length).  The seeds, written to MIDI first
(tracks, channels and programs as the app's readers give them; a cut seed's end of
track at its last bar line, as a notation program exports a passage):

* ``default``: assets/default_seed.mid continued by 4 bars (every model), and
  harmonised (the polyphonic models); ``default lstm rng 7`` is issue 21's command
  (``generate --model lstm --bars 4 --variations 2 --rng-seed 7``);
* ``bwv66.6``: music21's BWV 66.6 continued from its first 4 bars (a pickup bar, where
  the reader keeps one, is not counted), against Bach's next 4;
* ``bwv269 harmonise``: the soprano of BWV 269 harmonised, against Bach's parts;
* ``chorales`` / ``chorales harmonise``: the four-part chorales of the part-music test
  split (``python -m training partmusic --paths test``), continued from their first 4
  bars and their sopranos harmonised, against Bach;
* ``bands`` : mma's band examples with several pitched parts (tests/data/external),
  the first 8 bars continued by 4, against the file's own next 4; ``smile whole``:
  smile.mid as a new user opens it, continued by 4 bars;
* ``essen`` / ``essen human``: Essen test tunes (the training split's rule, read with the
  app's ABC reader) with a metre and at least 6 bars: the first 2 bars continued by 4
  (the melody models), against the real next 4; ``human``: the same seeds as a player
  plays them, onsets moved by up to +-25 ms at the tune's tempo and each note held for
  60-100% of its written length (a fixed RNG per tune), the end of the recording where
  its last note ends.

Each row pools 4 variations per seed (CLI options: temperature 1, the auto key lock,
the motif memory as the CLI's default, ``--rng-seed`` the seed's index).  The measures
(``bench/readings.py``): new notes on each metric position (on the beat, on the eighth,
on an off-sixteenth, off the sixteenth grid) and the first new note's; new notes tied
across a bar line; per part: new notes sounding with another note of the part (in
parts whose seed holds one note at a time), whole-bar rests in the new bars (in parts
whose seed has none), crossings (share of beats), new notes beyond the part's seed
range; a harmonisation's final bass (tonic, fifth, other); channels of the pitched
parts and parts sharing one; in band files, each part's new notes and onsets per bar
against its seed's.

    nice -n 10 python bench/reads_right.py [--quick] [--models M ...] [--out FILE] [--keep DIR]

Prints tables and writes bench/results/reads_right.json.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import platform
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import readings as R  # noqa: E402
from bench import common  # noqa: E402
from engine.encodings import estimate_song_key  # noqa: E402
from engine.formats import load_song, midi_file_to_song, song_to_midi_bytes  # noqa: E402
from engine.song import Note, Song  # noqa: E402

CACHE = ROOT / ".cache" / "reads_right"
MELODY_MODELS = ("lstm", "wavenet", "duet")
POLY_MODELS = ("poly-wavenet", "poly-lstm")
VARIATIONS = 4
NEW_BARS = 4
ESSEN_SEED_BARS = 2
CHORALE_SEED_BARS = 4
BAND_SEED_BARS = 8
JITTER_S = 0.025
HELD = (0.6, 1.0)
DEFAULT_SEED = ROOT / "assets" / "default_seed.mid"
EXTERNAL = ROOT / "tests" / "data" / "external"
SMILE = EXTERNAL / "mma--usr_share_doc_mma_examples_harmony_smile.mid"
BANDS = ("harmony_smile", "simple_bill-bailey", "simple_marine-hymn", "aria_bossa",
         "lyrics_twinkle", "plectrum_lullaby2")
TOLERANCE = 0.20  # "match the real within 20%"
FLOOR = 0.01  # ... or within one point, where the real share is near 0


# ---------------------------------------------------------------------------------------
# one output read
# ---------------------------------------------------------------------------------------


@dataclass
class Reading:
    """The counts of one output (or one real continuation), summed into rows."""

    c: Counter = field(default_factory=Counter)
    parts: list[dict] = field(default_factory=list)
    channels: dict = field(default_factory=dict)
    final_bass: str | None = None


def read_output(seed: Song, out: Song, *, harmonise: bool, seed_end: int | None,
                bars: int | None, tonic: int | None = None,
                melody: str | None = None, every_part: bool = True) -> Reading:
    """Read ``out`` (the saved output, read back) against ``seed`` (the seed as saved).

    A continuation's new bars are the ``bars`` bars from the bar line at or after
    ``seed_end`` (the cut, or where the seed's notes end); a harmonisation's are the
    bars of the melody (part ``melody``).  ``every_part``: the model writes every part
    (a polyphonic model, or the real music), so a part that gets no new notes has
    fallen silent; a melody model writes one, and only parts with new notes count for
    whole-bar rests."""
    r = Reading()
    seed_parts = {p.name: p for p in R.parts_of(seed)}
    parts = [p for p in R.parts_of(out) if not p.is_drum]
    olds = [seed_parts[p.name].notes if p.name in seed_parts else [] for p in parts]
    news = [R.new_notes(o, p.notes) for o, p in zip(olds, parts)]
    every_new = sorted((n for ns in news for n in ns), key=Note.sort_key)
    r.channels = R.channel_use(R.parts_of(out))
    # where the new bars are
    if harmonise:
        mel = next(p for p in parts if p.name == melody)
        first = R.bar_line_at_or_before(out, min(n.start_tick for n in mel.notes))
        last = max(n.end_tick for n in mel.notes)
        new_bars = R.bars_between(out, first, last)
        span = (min(n.start_tick for n in mel.notes), last)
        seed_bars: list[tuple[int, int]] = []
    else:
        end = seed_end if seed_end is not None else seed.end_tick
        start_bar = R.bar_line_at_or_after(out, end)
        lines = out.bar_starts(start_bar + (bars + 1) * out.ticks_per_bar_at(start_bar) * 2)
        lines = [t for t in lines if t >= start_bar][:bars + 1]
        new_bars = list(zip(lines, lines[1:]))
        span = (start_bar, new_bars[-1][1] if new_bars else start_bar)
        every_seed = [n for p in seed_parts.values() for n in p.notes if not p.is_drum]
        first = R.bar_line_at_or_before(out, min((n.start_tick for n in every_seed),
                                                 default=0))
        seed_bars = [(a, b) for a, b in R.bars_between(seed, first, start_bar)
                     if b <= start_bar]
    together = out.ppq // 8  # notes within a 32nd of each other start one onset (a strum)
    c = r.c
    c["outputs"] += 1
    c["new_notes"] += len(every_new)
    for pos, k in R.positions(out, every_new).items():
        c[f"pos_{pos}"] += k
    if every_new:
        c["with_new_notes"] += 1
        c[f"first_{R.metric_position(out, every_new[0].start_tick)}"] += 1
        c["first_before_bar"] += (not harmonise and every_new[0].start_tick < span[0])
    c["tied"] += sum(R.tied_across_bar(out, n) for n in every_new)
    # per part
    for p, old, new in zip(parts, olds, news):
        if not p.notes:
            continue
        mono_seed = R.is_monophonic(old) if old else True
        over = R.overlapping(new, p.notes)
        had_rest = bool(old) and R.silent_bars(seed, old, seed_bars) > 0
        counted = (harmonise and not old) or (not harmonise and bool(old)
                                               and (every_part or bool(new)))
        rests = R.silent_bars(out, p.notes, new_bars) if counted and not had_rest else 0
        lo_s, hi_s = (min(n.pitch for n in old), max(n.pitch for n in old)) if old else (None, None)
        beyond = sum(not lo_s <= n.pitch <= hi_s for n in new) if old else 0
        beyond3 = sum(not lo_s - 3 <= n.pitch <= hi_s + 3 for n in new) if old else 0
        info = {"part": p.name, "channels": sorted(p.channels), "seed_notes": len(old),
                "new_notes": len(new), "monophonic_seed": mono_seed, "overlaps": over,
                "seed_has_whole_bar_rest": had_rest,
                "whole_bar_rests": rests if counted and not had_rest else None,
                "new_bars": len(new_bars),
                "new_range": [min(n.pitch for n in new), max(n.pitch for n in new)]
                if new else None,
                "seed_range": [lo_s, hi_s] if old else None, "beyond_seed_range": beyond,
                "beyond_seed_range_by_more_than_3": beyond3,
                "onsets_per_bar_seed": R.onsets_per_bar(old, seed_bars, together),
                # a continuation's new notes span the bars asked for, wherever it starts
                "onsets_per_bar_new": R.onsets_per_bar(new, new_bars, together) if harmonise
                else (R.onsets_per_bar(new, [(0, 1 << 62)], together) / bars
                      if bars else None)}
        r.parts.append(info)
        c["overlaps"] += over
        c[f"part:{p.name}:new"] += len(new)
        c[f"part:{p.name}:overlaps"] += over
        if counted and not had_rest:
            c[f"part:{p.name}:rest_bars"] += rests
            c[f"part:{p.name}:bars"] += len(new_bars)
        if mono_seed:
            c["overlaps_mono"] += over
            c["new_notes_mono"] += len(new)
        if counted and not had_rest:
            c["rest_bars"] += rests
            c["bars_checked"] += len(new_bars)
        if old:
            c["beyond"] += beyond
            c["beyond3"] += beyond3
            c["new_in_seeded_parts"] += len(new)
    # crossings over the new bars (continuation) or the melody (harmonisation)
    heard = [old or p.notes for p, old in zip(parts, olds)]
    order = R.voice_order([p.name for p in parts], heard)
    voiced = [parts[i].notes for i in order if parts[i].notes]
    beats = R.beats_between(out, span[0], span[1])
    crossed, counted_beats = R.crossings(voiced, beats)
    c["crossed_beats"] += crossed
    c["beats_two_parts"] += counted_beats
    if harmonise and tonic is not None:
        mel = next(p for p in parts if p.name == melody)
        bass = R.final_bass(mel.notes, [p.notes for p in parts if p is not mel])
        r.final_bass = R.bass_degree(bass, tonic)
        c[f"final_{r.final_bass}"] += 1
        last = max(mel.notes, key=lambda n: (n.start_tick, n.pitch))
        c[f"final_on_melody_{R.bass_degree(bass, last.pitch % 12)}"] += 1
        c[f"final_chord_{R.final_chord(last.pitch, bass)}"] += 1
    c["parts_sharing_a_channel"] += r.channels["parts_sharing_a_channel"]
    c["outputs_sharing_a_channel"] += r.channels["parts_sharing_a_channel"] > 0
    c["pitched_parts"] += r.channels["parts"]
    return r


def row(readings: list[Reading]) -> dict:
    c = sum((r.c for r in readings), Counter())

    def share(a, b):
        return round(c[a] / c[b], 4) if c[b] else None

    out = {"outputs": c["outputs"], "new_notes": c["new_notes"]}
    for p in R.POSITIONS:
        out[f"on_{p}"] = share(f"pos_{p}", "new_notes")
    for p in R.POSITIONS:
        out[f"first_on_{p}"] = share(f"first_{p}", "with_new_notes")
    out["first_before_the_new_bars"] = share("first_before_bar", "with_new_notes")
    out["tied_across_bar"] = share("tied", "new_notes")
    out["overlaps"] = c["overlaps"]
    out["overlaps_in_monophonic_parts"] = c["overlaps_mono"]
    out["overlap_share_monophonic"] = share("overlaps_mono", "new_notes_mono")
    out["whole_bar_rests"] = c["rest_bars"]
    out["whole_bar_rest_share"] = share("rest_bars", "bars_checked")
    out["crossing_beats"] = share("crossed_beats", "beats_two_parts")
    out["beyond_seed_range"] = share("beyond", "new_in_seeded_parts")
    out["beyond_seed_range_by_more_than_3"] = share("beyond3", "new_in_seeded_parts")
    finals = {k: c[f"final_{k}"] for k in ("tonic", "fifth", "other", "silent")}
    if sum(finals.values()):
        out["final_bass"] = finals
        out["final_bass_on_the_melody_final"] = {
            k: c[f"final_on_melody_{k}"] for k in ("tonic", "fifth", "other", "silent")}
        out["final_chord"] = {k: c[f"final_chord_{k}"] for k in R.FINAL_CHORDS}
    names = sorted({k.split(":")[1] for k in c if k.startswith("part:")})
    if len(names) <= 8:
        out["per_part"] = {n: {"new_notes": c[f"part:{n}:new"],
                               "overlaps": c[f"part:{n}:overlaps"],
                               "whole_bar_rests": c[f"part:{n}:rest_bars"],
                               "bars_checked": c[f"part:{n}:bars"]} for n in names}
    out["pitched_parts_per_output"] = round(c["pitched_parts"] / c["outputs"], 2) \
        if c["outputs"] else None
    out["outputs_with_parts_sharing_a_channel"] = share("outputs_sharing_a_channel", "outputs")
    return out


# ---------------------------------------------------------------------------------------
# seeds
# ---------------------------------------------------------------------------------------


def roundtrip(song: Song) -> Song:
    return midi_file_to_song(song_to_midi_bytes(song), name="song")


def write_seed(song: Song, path: Path, end_tick: int | None = None) -> None:
    """The song as MIDI, its conductor track's end of track at ``end_tick`` (a cut
    passage ends at its bar line, as a notation program exports it) when that is later
    than the last note."""
    import mido

    data = song_to_midi_bytes(song)
    mid = mido.MidiFile(file=io.BytesIO(data))
    track = mid.tracks[0]
    later = (end_tick or 0) - sum(m.time for m in track)
    if later > 0:
        track[-1].time += later
        buf = io.BytesIO()
        mid.save(file=buf)
        data = buf.getvalue()
    path.write_bytes(data)


def first_bars_end(song: Song, bars: int) -> int:
    """The bar line after the first ``bars`` whole bars (a shorter first bar, a pickup,
    is not counted)."""
    lines = R.bar_lines(song, song.end_tick)
    pickup = len(lines) > 2 and lines[1] - lines[0] < lines[2] - lines[1]
    i = bars + pickup
    return lines[i] if i < len(lines) else lines[-1]


def humanised(song: Song, rng: np.random.Generator) -> Song:
    """The song as a player plays it: each onset moved by up to +-25 ms at the song's
    tempo, each note held for 60-100% of its written length."""
    out = song.copy()
    for t in out.tracks:
        played = []
        for n in t.notes:
            us = out.tempo_map.us_per_quarter_at(n.start_tick)
            ticks = JITTER_S * 1e6 / us * out.ppq
            start = max(0, int(round(n.start_tick + rng.uniform(-ticks, ticks))))
            dur = max(1, int(round(n.duration_ticks * rng.uniform(*HELD))))
            played.append(Note(n.pitch, start, dur, n.velocity, n.channel))
        t.notes = sorted(played, key=Note.sort_key)
    return out


def _scores_fingerprint() -> str:
    import music21

    h = hashlib.sha256((ROOT / "engine" / "formats" / "scores.py").read_bytes())
    h.update(str(music21.__version__).encode())
    return h.hexdigest()[:12]


def essen_tunes(limit: int) -> list[tuple[str, Song]]:
    """The first ``limit`` Essen test tunes (ids and split as training/corpus.py has
    them: '<ABC file>#<index by reference number>', crc32 % 20 == 0) with a metre and
    at least 6 bars, read with the app's reader (engine.formats.music21_score_to_song);
    kept as MIDI in .cache/reads_right until engine/formats/scores.py changes."""
    from training.corpus import TRAIN_COLLECTION
    from training.datasets.folk import collection_files
    from training.datasets.splits import split_of

    folder = CACHE / f"essen-{_scores_fingerprint()}"
    index = folder / "index.json"
    have = json.loads(index.read_text()) if index.exists() else {"done": False, "ids": []}
    if len(have["ids"]) < limit and not have["done"]:
        have = {"done": False, "ids": []}
        folder.mkdir(parents=True, exist_ok=True)
        from music21 import abcFormat
        from music21.abcFormat import translate

        from engine.formats import music21_score_to_song

        import warnings
        warnings.filterwarnings("ignore")
        for path in collection_files(TRAIN_COLLECTION):
            text = path.read_text(encoding="latin-1")
            n = max(1, len(re.findall(r"^X:", text, flags=re.M)))
            wanted = [i for i in range(n) if split_of(f"{path.name}#{i}") == "test"]
            if not wanted:
                continue
            af = abcFormat.ABCFile()
            af.open(str(path))
            handler = af.read()
            af.close()
            if handler.definesReferenceNumbers():
                tunes = [h for _, h in sorted(handler.splitByReferenceNumber().items(),
                                              key=lambda kv: (kv[0] is None, kv[0] or 0))]
            else:
                tunes = [handler]
            for i in wanted:
                if i >= len(tunes):
                    continue
                tune_id = f"{path.name}#{i}"
                try:
                    song = music21_score_to_song(translate.abcToStreamScore(tunes[i]),
                                                 what=tune_id)
                except Exception:  # a tune the reader refuses is not a seed
                    continue
                lines = R.bar_lines(song, song.end_tick)
                if len(lines) < ESSEN_SEED_BARS + NEW_BARS + 1 or not any(
                        t.notes for t in song.tracks):
                    continue
                if any((16 * ts.numerator) % ts.denominator for ts in song.time_signatures):
                    continue  # a metre whose bar is no whole number of sixteenths
                name = f"{len(have['ids']):03d}.mid"
                (folder / name).write_bytes(song_to_midi_bytes(song))
                have["ids"].append([tune_id, name])
                if len(have["ids"]) >= limit:
                    break
            if len(have["ids"]) >= limit:
                break
        else:
            have["done"] = True
        index.write_text(json.dumps(have))
    return [(tid, midi_file_to_song(folder / name, name=tid))
            for tid, name in have["ids"][:limit]]


def test_chorales(limit: int | None) -> list[tuple[str, Path, Song]]:
    """The part-music test split's Bach chorales with four parts (id, path, song as the
    app reads it)."""
    from training.datasets.partmusic import collection_files, corpus_root
    from training.datasets.splits import split_of

    root = corpus_root()
    out = []
    for pid in sorted(p for p in collection_files(root).get("bach", [])
                      if split_of(p) == "test"):
        song = load_song(root / pid)
        if len([t for t in song.tracks if t.notes]) == 4:
            out.append((pid, root / pid, song))
    return out[:limit] if limit else out


def band_files(limit: int | None) -> list[Path]:
    files = [next(EXTERNAL.glob(f"*examples_{b}.mid")) for b in BANDS
             if list(EXTERNAL.glob(f"*examples_{b}.mid"))]
    return files[:limit] if limit else files


# ---------------------------------------------------------------------------------------
# the CLI
# ---------------------------------------------------------------------------------------


class Cli:
    """The real CLI, run in this process (models load once)."""

    def __init__(self, work: Path) -> None:
        import main as continuo_main

        self.main = continuo_main.main
        self.work = work
        self.n = 0
        self.failures: list[str] = []
        self.messages: Counter = Counter()

    def run(self, argv: list[str]) -> list[Path]:
        self.n += 1
        out = self.work / f"out{self.n:05d}.mid"
        buf, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
            rc = self.main([*argv, "-o", str(out)])
        for line in err.getvalue().splitlines():
            if line.startswith("note: "):
                self.messages[re.sub(r"\d+", "#", line[6:])[:100]] += 1
        if rc != 0:
            self.failures.append(f"{' '.join(argv)}: {err.getvalue().strip()[-300:]}")
            return []
        return [Path(m) for m in re.findall(r"^wrote (\S+) ", buf.getvalue(), flags=re.M)]


def tonic_of(song: Song) -> int:
    return estimate_song_key([n for t in song.tracks if not t.is_drum
                              for n in t.notes]).tonic


class Run:
    """One run of the bench: the seeds it writes, the CLI it calls and the readings it
    pools into rows (``details`` keeps one entry per output for the kept sets)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.cli = Cli(work)
        self.rows: dict[str, list] = {}
        self.details: dict[str, list] = {}
        self.sets: dict[str, dict] = {}
        self.timings: dict[str, float] = {}

    def seed_file(self, name: str, song: Song, end: int | None = None) -> tuple[Path, Song]:
        path = self.work / f"seed-{re.sub(r'[^A-Za-z0-9.]+', '_', name)}.mid"
        write_seed(song, path, end)
        return path, midi_file_to_song(path)

    def add(self, label: str, reading: Reading, keep: dict | None = None):
        self.rows.setdefault(label, []).append(reading)
        if keep is not None:
            self.details.setdefault(label, []).append(
                {**keep, "parts": reading.parts, "channels": reading.channels,
                 "final_bass": reading.final_bass,
                 "counts": {k: v for k, v in reading.c.items() if v}})

    def continue_with(self, label, model, seed_path, seed, end, rng, extra=(), keep=False):
        outs = self.cli.run(["generate", "--model", model, "--seed", str(seed_path), "--bars",
                             str(NEW_BARS), "--variations", str(VARIATIONS), "--rng-seed",
                             str(rng), *extra])
        for v, path in enumerate(outs):
            r = read_output(seed, midi_file_to_song(path), harmonise=False, seed_end=end,
                            bars=NEW_BARS, every_part=model.startswith("poly"))
            self.add(f"{label} | {model}", r,
                     {"seed": seed_path.name, "variation": v + 1, "file": path.name} if keep
                     else None)

    def harmonise_with(self, label, model, seed_path, seed, melody, tonic, rng, keep=False):
        outs = self.cli.run(["harmonise", str(seed_path), "--model", model, "--variations",
                             str(VARIATIONS), "--rng-seed", str(rng)])
        for v, path in enumerate(outs):
            r = read_output(seed, midi_file_to_song(path), harmonise=True, seed_end=None,
                            bars=None, tonic=tonic, melody=melody)
            self.add(f"{label} | {model}", r,
                     {"seed": seed_path.name, "variation": v + 1, "file": path.name} if keep
                     else None)

    def real_continuation(self, label, song, cut_at, name, keep=False):
        lines = [t for t in song.bar_starts(song.end_tick + 1) if t >= cut_at][:NEW_BARS + 1]
        seed = R.cut(song, cut_at)
        real = R.cut(song, lines[-1], start=cut_at)  # its metre and tempo to the end
        for s_track, r_track in zip(seed.tracks, real.tracks):
            r_track.notes = sorted(s_track.notes + r_track.notes, key=Note.sort_key)
        whole, seed = roundtrip(real), roundtrip(seed)
        r = read_output(seed, whole, harmonise=False, seed_end=cut_at, bars=NEW_BARS)
        self.add(f"{label} | real", r, {"seed": name} if keep else None)

    # -- the sets ------------------------------------------------------------------------
    def default_seed(self, melody_models: list[str], poly_models: list[str]) -> None:
        t = time.monotonic()
        default = midi_file_to_song(DEFAULT_SEED)
        default_tonic = tonic_of(default)
        for m in melody_models + poly_models:
            self.continue_with("default", m, DEFAULT_SEED, default, None, 7, keep=True)
        if "lstm" in melody_models:  # issue 21's command
            outs = self.cli.run(["generate", "--model", "lstm", "--seed", str(DEFAULT_SEED),
                                 "--bars", "4", "--variations", "2", "--rng-seed", "7"])
            for v, path in enumerate(outs):
                r = read_output(default, midi_file_to_song(path), harmonise=False,
                                seed_end=None, bars=NEW_BARS, every_part=False)
                self.add("default, issue command | lstm", r,
                         {"command": "main.py generate --model lstm --seed "
                          "assets/default_seed.mid --bars 4 --variations 2 --rng-seed 7",
                          "variation": v + 1, "file": path.name,
                          "new_onsets_in_beats": sorted({n.start_tick / default.ppq for p in
                                                         R.parts_of(midi_file_to_song(path))
                                                         for n in p.notes
                                                         if n.start_tick >= default.end_tick})})
        from engine.song import melody_track

        mel_name = R.parts_of(default)[melody_track(default)].name
        for m in poly_models:
            self.harmonise_with("default harmonise", m, DEFAULT_SEED, default, mel_name,
                                default_tonic, 7, keep=True)
        self.timings["default"] = time.monotonic() - t

    def bach_pieces(self, poly_models: list[str]) -> None:
        """BWV 66.6 continued and BWV 269's soprano harmonised."""
        t = time.monotonic()
        from music21 import corpus as m21corpus

        bwv66 = load_song(m21corpus.getWork("bach/bwv66.6"))
        cut_at = first_bars_end(bwv66, CHORALE_SEED_BARS)
        path, seed = self.seed_file("bwv66.6", R.cut(bwv66, cut_at), cut_at)
        for m in poly_models:
            self.continue_with("bwv66.6", m, path, seed, cut_at, 0, keep=True)
        self.real_continuation("bwv66.6", bwv66, cut_at, "bwv66.6", keep=True)
        self.sets["bwv66.6"] = {"bar_lines_beats": [t / bwv66.ppq for t in
                                                    R.bar_lines(bwv66, cut_at)],
                                "time_signatures": [str(ts) + f"@{ts.tick}"
                                                    for ts in bwv66.time_signatures],
                                "channels": [t.channel for t in bwv66.tracks]}
        bwv269 = load_song(m21corpus.getWork("bach/bwv269"))
        sop = bwv269.copy()
        sop.tracks = [sop.tracks[0]]
        path, seed = self.seed_file("bwv269-soprano", sop)
        tonic = tonic_of(bwv269)
        sop_name = R.parts_of(seed)[0].name
        for m in poly_models:
            self.harmonise_with("bwv269 harmonise", m, path, seed, sop_name, tonic, 0,
                                keep=True)
        self.add("bwv269 harmonise | bach", read_output(seed, roundtrip(bwv269),
                                                        harmonise=True, seed_end=None,
                                                        bars=None, tonic=tonic,
                                                        melody=sop_name), {"seed": "bwv269"})
        self.timings["bwv"] = time.monotonic() - t

    def chorales(self, poly_models: list[str], limit: int | None) -> None:
        t = time.monotonic()
        chorales = test_chorales(limit)
        self.sets["chorales"] = [pid for pid, _, _ in chorales]
        for i, (pid, _, song) in enumerate(chorales):
            cut_at = first_bars_end(song, CHORALE_SEED_BARS)
            path, seed = self.seed_file(pid, R.cut(song, cut_at), cut_at)
            for m in poly_models:
                self.continue_with("chorales", m, path, seed, cut_at, i)
            self.real_continuation("chorales", song, cut_at, pid)
            sop = song.copy()
            sop.tracks = [sop.tracks[0]]
            path, seed = self.seed_file(pid + "-soprano", sop)
            tonic = tonic_of(song)
            name = R.parts_of(seed)[0].name
            for m in poly_models:
                self.harmonise_with("chorales harmonise", m, path, seed, name, tonic, i)
            self.add("chorales harmonise | bach",
                     read_output(seed, roundtrip(song), harmonise=True, seed_end=None,
                                 bars=None, tonic=tonic, melody=name))
        self.timings["chorales"] = time.monotonic() - t

    def bands(self, poly_models: list[str], limit: int | None) -> None:
        t = time.monotonic()
        bands = band_files(limit)
        self.sets["bands"] = [p.name for p in bands]
        for i, f in enumerate(bands):
            song = midi_file_to_song(f)
            cut_at = first_bars_end(song, BAND_SEED_BARS)
            path, seed = self.seed_file(f.stem.split("examples_")[-1], R.cut(song, cut_at),
                                        cut_at)
            for m in poly_models:
                self.continue_with("bands", m, path, seed, cut_at, i, keep=True)
            self.real_continuation("bands", song, cut_at, path.name, keep=True)
        smile = midi_file_to_song(SMILE)
        for m in poly_models:
            self.continue_with("smile whole", m, SMILE, smile, None, 0, keep=True)
        self.timings["bands"] = time.monotonic() - t

    def essen(self, melody_models: list[str], count: int) -> None:
        t = time.monotonic()
        tunes = essen_tunes(count)
        self.sets["essen"] = {"tunes": len(tunes), "first": tunes[0][0] if tunes else None,
                              "last": tunes[-1][0] if tunes else None,
                              "metres": dict(Counter(str(s.time_signatures[-1])
                                                     for _, s in tunes)),
                              "with_a_pickup_bar": sum(
                                  first_bars_end(s, 1) != s.bar_starts(s.end_tick)[1]
                                  for _, s in tunes)}
        self.timings["essen read"] = time.monotonic() - t
        t = time.monotonic()
        for i, (tid, song) in enumerate(tunes):
            cut_at = first_bars_end(song, ESSEN_SEED_BARS)
            clean = R.cut(song, cut_at)
            path, seed = self.seed_file(f"essen{i:03d}", clean, cut_at)
            played = humanised(clean, np.random.default_rng(i))
            hpath, hseed = self.seed_file(f"essen{i:03d}-human", played)
            for m in melody_models:
                self.continue_with("essen", m, path, seed, cut_at, i)
                self.continue_with("essen human", m, hpath, hseed, cut_at, i)
            self.real_continuation("essen", song, cut_at, tid)
        self.timings["essen"] = time.monotonic() - t

    def report(self, argv, seconds: float) -> dict:
        table = {label: row(rs) for label, rs in self.rows.items()}
        report = {
            "command": "python bench/reads_right.py " + " ".join(argv if argv is not None
                                                                 else sys.argv[1:]),
            "git": common.git_state("changes_not_committed", "engine", "main.py"),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": platform.platform(), "seconds": round(seconds, 1),
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
            "settings": {"variations": VARIATIONS, "new_bars": NEW_BARS,
                         "essen_seed_bars": ESSEN_SEED_BARS,
                         "chorale_seed_bars": CHORALE_SEED_BARS,
                         "band_seed_bars": BAND_SEED_BARS,
                         "human": {"onset_jitter_s": JITTER_S, "held": HELD},
                         "cli_defaults": "temperature 1, key auto, memory as the CLI's default",
                         "tolerance": f"within {TOLERANCE:.0%} of the real share, or "
                                      f"{FLOOR:.0%} where that is wider"},
            "sets": self.sets, "rows": table, "on_the_beat": on_the_beat_targets(table),
            "done_when": None,
            "cli_failures": self.cli.failures,
            "cli_messages": dict(self.cli.messages.most_common(30)),
            "details": self.details,
        }
        report["done_when"] = done_when(table, report["details"])
        return report


# ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = common.parser(__doc__)
    ap.add_argument("--quick", action="store_true",
                    help="a few seeds of each set (10 Essen, 3 chorales, 2 band files)")
    ap.add_argument("--essen", type=int, default=200, help="Essen test seeds (default 200)")
    ap.add_argument("--models", nargs="+", default=[*MELODY_MODELS, *POLY_MODELS])
    common.add_out(ap, "reads_right")
    ap.add_argument("--keep", metavar="DIR", help="keep every seed and output MIDI here")
    ap.add_argument("--show", metavar="JSON", help="print the tables of a saved run and stop")
    args = ap.parse_args(argv)
    if args.show:
        saved = json.loads(Path(args.show).read_text())
        print(f"{args.show}: {saved['command']}, commit {saved['git'].get('commit')}, "
              f"{saved['date']}")
        print_tables(saved["rows"], saved["on_the_beat"], saved)
        return 0
    t0 = time.monotonic()
    melody_models = [m for m in args.models if m in MELODY_MODELS or not m.startswith("poly")]
    poly_models = [m for m in args.models if m.startswith("poly")]
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        holder = contextlib.nullcontext(args.keep)
    else:
        holder = tempfile.TemporaryDirectory(prefix="reads_right_")
    with holder as work:
        run = Run(Path(work))
        run.default_seed(melody_models, poly_models)
        if poly_models:
            run.bach_pieces(poly_models)
            run.chorales(poly_models, 3 if args.quick else None)
            run.bands(poly_models, 2 if args.quick else None)
        if melody_models:
            run.essen(melody_models, 10 if args.quick else args.essen)
    report = run.report(argv, time.monotonic() - t0)
    print_tables(report["rows"], report["on_the_beat"], report)
    out = Path(args.out)
    common.write_json(out, report, indent=1, say=False)
    print(f"wrote {out} ({report['seconds']} s; {run.cli.n} CLI runs, "
          f"{len(run.cli.failures)} failed)")
    return 0


def on_the_beat_targets(table: dict) -> dict:
    """Per row with a real row in its set: the shares off the sixteenth grid and on
    off-sixteenths against the real continuation's, and whether they are within 20%."""
    out = {}
    for label, r in table.items():
        group, _, model = label.partition(" | ")
        base = group.replace(" human", "")
        real = table.get(f"{base} | real") or table.get(f"{base} | bach")
        if real is None or model in ("real", "bach"):
            continue
        checks = {}
        for key in ("on_off_grid", "on_sixteenth"):
            a, b = r.get(key), real.get(key)
            if a is None or b is None:
                continue
            checks[key] = {"model": a, "real": b,
                           "within": abs(a - b) <= max(TOLERANCE * b, FLOOR)}
        out[label] = checks
    return out


def done_when(table: dict, details: dict) -> dict:
    """Issue 21's "Done when" for lines, channels and bands, read off the rows: per
    polyphonic model, on the chorales continued and harmonised, overlaps in one-line
    parts 0, whole-bar rests at most 1% of bars, crossings at most Bach's share plus
    1 point, every harmonisation's final bass on the tonic or the fifth (of the key
    estimated on the whole chorale, and of the melody's last note); no two parts of a
    continued score on one channel; smile.mid continued with new notes in Solo, Bass and
    Chord in every variation, and Chord's onsets per bar within 30% of its seed's."""
    out: dict = {}
    for label, r in table.items():
        group, _, model = label.partition(" | ")
        if model in ("real", "bach"):
            continue
        checks = {}
        if group in ("chorales", "chorales harmonise", "bwv66.6", "bwv269 harmonise"):
            bach = table.get(f"{group} | real") or table.get(f"{group} | bach") or {}
            checks["overlaps 0"] = (r["overlaps_in_monophonic_parts"],
                                    r["overlaps_in_monophonic_parts"] == 0)
            rest = r["whole_bar_rest_share"]
            checks["whole-bar rests <= 1%"] = (rest, rest is not None and rest <= 0.01)
            cross, limit = r["crossing_beats"], bach.get("crossing_beats")
            if cross is not None and limit is not None:
                checks[f"crossings <= Bach {limit:.1%} + 1 point"] = (
                    cross, cross <= limit + 0.01)
            for key, name in (("final_bass", "key"),
                              ("final_bass_on_the_melody_final", "melody's last note")):
                if key in r:
                    f = r[key]
                    checks[f"final bass tonic or fifth ({name})"] = (
                        f"{f['tonic'] + f['fifth']}/{sum(f.values())}",
                        f["other"] + f["silent"] == 0)
        if group in ("chorales", "bwv66.6", "bands", "default"):
            share = r["outputs_with_parts_sharing_a_channel"]
            checks["no parts sharing a channel"] = (share, share == 0)
        if group == "smile whole":
            items = details.get(label, [])
            for part in ("Solo", "Bass", "Chord"):
                counts = [next((p["new_notes"] for p in d["parts"] if p["part"] == part), 0)
                          for d in items]
                checks[f"new notes in {part} (each variation)"] = (
                    counts, bool(counts) and min(counts) > 0)
            chord = [p for d in items for p in d["parts"] if p["part"] == "Chord"]
            if chord and chord[0]["onsets_per_bar_seed"]:
                seed = chord[0]["onsets_per_bar_seed"]
                new = [p["onsets_per_bar_new"] or 0.0 for p in chord]
                mean = sum(new) / len(new)
                checks["Chord onsets per bar within 30% of its seed's"] = (
                    f"{mean:.2f} vs {seed:.2f}", abs(mean - seed) <= 0.3 * seed)
        if checks:
            out[label] = {k: {"figure": v, "met": ok} for k, (v, ok) in checks.items()}
    return out


def _fig(v) -> str:
    return _pct(v) if isinstance(v, float) else str(v)


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def print_tables(table: dict, targets: dict, report: dict) -> None:
    rhythm = [("new_notes", "notes", "{}"), ("on_beat", "beat", "%"),
              ("on_eighth", "8th", "%"), ("on_sixteenth", "off16", "%"),
              ("on_off_grid", "offgrid", "%"), ("tied_across_bar", "tied", "%"),
              ("first_on_beat", "1st@beat", "%"),
              ("first_before_the_new_bars", "1st<bar", "%")]
    lines = [("overlaps_in_monophonic_parts", "overlap", "{}"),
             ("whole_bar_rest_share", "barrest", "%"), ("crossing_beats", "cross", "%"),
             ("beyond_seed_range", "beyond", "%"),
             ("beyond_seed_range_by_more_than_3", "beyond+3", "%"),
             ("pitched_parts_per_output", "parts", "{}"),
             ("outputs_with_parts_sharing_a_channel", "share ch", "%")]

    def show(cols, title):
        print(f"\n{title}")
        common.print_table([("", "38"), *((short, 10) for _, short, _ in cols)], (
            [label[:38], *("-" if r.get(key) is None else _pct(r[key]) if fmt == "%"
                           else f"{r[key]:>10}" for key, _, fmt in cols)]
            for label, r in table.items()), sep="")

    show(rhythm, "Rhythm: the share of new notes on each position of the beat, tied across "
                 "a bar line, and where the first new note falls")
    show(lines, "Lines: new notes sounding with another of their part (parts whose seed "
                "holds one note at a time), whole-bar rests (parts whose seed has none), "
                "beats with a crossing, notes beyond the part's seed range, parts per "
                "output, outputs with parts sharing a channel")
    finals = {k: r for k, r in table.items() if "final_bass" in r}
    if finals:
        print("\nFinal bass of the harmonisations: on the piece's tonic (key estimated on "
              "the whole original) / its fifth / other / silent; and the same against the "
              "melody's last note (bass = that note / a fifth above it / other / silent)")
        for k, r in finals.items():
            f, g = r["final_bass"], r.get("final_bass_on_the_melody_final", {})
            print(f"  {k:38} {f['tonic']:4} {f['fifth']:4} {f['other']:4} {f['silent']:4}"
                  f"    {g.get('tonic', 0):4} {g.get('fifth', 0):4} {g.get('other', 0):4} "
                  f"{g.get('silent', 0):4}")
        print("  The melody's last note over the final bass: root position (a triad on the "
              "bass holds it) / inversion (a sixth or fourth above the bass) / dissonant "
              "(a second, tritone or seventh) / silent")
        for k, r in finals.items():
            h = r.get("final_chord")
            if h:
                print(f"  {k:38} " + "".join(f"{h[x]:5}" for x in R.FINAL_CHORDS))
    voiced = {k: r["per_part"] for k, r in table.items()
              if r.get("per_part") and k.startswith(("chorales", "bwv"))}
    if voiced:
        print("\nPer part (chorales): new notes, notes sounding with another of the part, "
              "whole-bar rests / bars checked")
        for k, per in voiced.items():
            cells = [f"{n[:8]} {v['new_notes']}, {v['overlaps']}, "
                     f"{v['whole_bar_rests']}/{v['bars_checked']}" for n, v in per.items()]
            print(f"  {k:38} " + "; ".join(cells))
    bands = {k: v for k, v in report["details"].items()
             if k.startswith(("bands", "smile whole"))}
    if bands:
        print("\nBand files: each part's new notes (fewest-most over the variations) and "
              "onsets per bar, seed -> new (mean over the variations)")
        for label, items in bands.items():
            by_seed: dict[str, dict[str, list]] = {}
            for d in items:
                for p in d["parts"]:
                    by_seed.setdefault(d["seed"], {}).setdefault(p["part"], []).append(p)
            for seed, parts in by_seed.items():
                cells = []
                for name, ps in parts.items():
                    new = [p["new_notes"] for p in ps]
                    a = ps[0]["onsets_per_bar_seed"]
                    bs = [p["onsets_per_bar_new"] for p in ps
                          if p["onsets_per_bar_new"] is not None]
                    b = sum(bs) / len(bs) if bs else None
                    cells.append(f"{name[:10]} {min(new)}-{max(new)}, "
                                 f"{'-' if a is None else f'{a:.1f}'}->"
                                 f"{'-' if b is None else f'{b:.1f}'}")
                short = seed.replace("mma--usr_share_doc_mma_examples_", "").replace(
                    "seed-", "")
                print(f"  {label.split(' | ')[0][:11]:11} {label.split(' | ')[-1][:12]:12} "
                      f"{short[:20]:20} " + "; ".join(cells))
    print(f"\nOn the beat (off the sixteenth grid; on off-sixteenths) against the real, "
          f"{report['settings']['tolerance']}:")
    for label, checks in targets.items():
        cells = [f"{k} {_pct(v['model'])} vs {_pct(v['real'])} "
                 f"{'ok' if v['within'] else 'NOT within'}" for k, v in checks.items()]
        print(f"  {label:38} " + "; ".join(cells))
    goals = report.get("done_when") or done_when(table, report["details"])
    if goals:
        print("\nDone when (issue 21: lines, channels, bands):")
        for label, checks in goals.items():
            cells = [f"{k}: {_fig(v['figure'])} {'met' if v['met'] else 'NOT MET'}"
                     for k, v in checks.items()]
            print(f"  {label:34} " + "; ".join(cells))
    if report["cli_failures"]:
        print(f"\n{len(report['cli_failures'])} CLI runs failed, e.g. "
              f"{report['cli_failures'][0]}")


if __name__ == "__main__":
    sys.exit(main())
