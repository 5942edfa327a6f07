"""Part music from music21's own corpus: multi-part works -> notes, one track per part.

The works are the score files under music21's corpus folder, grouped by collection
(the first folder under the corpus root): every file of ``bach/`` (the chorales are the
four-part ones), ``palestrina/``, ``monteverdi/``, ``trecento/`` and the other
collections of part music.  The single-line folk-song books and music21's own test
fixtures are left out by name (:data:`EXCLUDED_COLLECTIONS`, with the reason), and a
file that has fewer than two parts with notes after parsing is rejected ("one part").

A file's id is its path under the corpus root with forward slashes
(``bach/bwv66.6.mxl``) and its split is :func:`training.datasets.splits.split_of` of the id
(crc32 % 20: 0 test, 1 validation, else train).

Each file is parsed with music21 in worker processes through
:func:`engine.formats.scores.score_file_to_song` (ties joined, repeats not expanded,
one track per part named after the part), with a time cap per file.  The notes, not
tokens, are cached as ``training/cache/partmusic-notes-v1.npz`` (flat int32 arrays,
no pickle) plus a JSON sidecar that describes the pieces and the rejected files, so
any encoding can be built on top of them without parsing again.

``python -m training partmusic [--limit N] [--collections a,b]`` builds the cache and
prints the counts per collection and split (markdown) and the grouped reasons.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable

import numpy as np

from engine.formats import write_bytes_atomic
from engine.song import DEFAULT_PPQ, Note, Song, TimeSignature, Track, pickup_signatures
from training.datasets.splits import SPLIT_NAMES, split_of

CACHE_DIR = Path(__file__).resolve().parents[1] / "cache"
CACHE_VERSION = 1
CACHE_STEM = f"partmusic-notes-v{CACHE_VERSION}"
NOTE_FIELDS = ("piece", "track", "pitch", "start_tick", "duration_ticks", "velocity")

# score suffixes read (those engine.formats.scores reads); the other files in the corpus
# folders are analyses (.rntxt), Finale/MuseData files music21 cannot read (.mus, .musx),
# pictures, and are listed in the JSON as skipped, by suffix
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc")

EXCLUDED_COLLECTIONS = {
    "essenFolksong": "single-line folk songs",
    "oneills1850": "single-line folk tunes",
    "ryansMammoth": "single-line folk tunes",
    "airdsAirs": "single-line folk tunes",
    "nottingham-dataset": "single-line folk tunes (melody and chord symbols)",
    "miscFolk": "single-line folk tunes",
    "demos": "music21's test fixtures (layout, tuplet, chord-symbol tests), not repertoire",
    "theoryExercises": "music21's theory-exercise fixtures, not repertoire",
}

PARSE_SECONDS = 60.0  # the time cap per file for music21's parse (and, again, conversion)
# the hard cap seen from the parent: a parse stuck in C code ignores the worker's own
# budget, so after this long the pool is torn down and the file rejected
HARD_SECONDS = 2 * PARSE_SECONDS + 30.0
PROGRESS_EVERY = 25
MAX_EXAMPLES = 8


# ---------------------------------------------------------------------------------------
# the files
# ---------------------------------------------------------------------------------------

def corpus_root() -> Path:
    """music21's corpus folder."""
    from music21 import common

    return Path(common.getCorpusFilePath())


def _walk(root: Path) -> tuple[dict[str, list[str]], dict[str, Counter]]:
    files: dict[str, list[str]] = defaultdict(list)
    skipped: dict[str, Counter] = defaultdict(Counter)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        rel_dir = Path(dirpath).relative_to(root)
        if not rel_dir.parts:
            continue  # the corpus root holds music21's Python modules, no music
        collection = rel_dir.parts[0]
        if collection in EXCLUDED_COLLECTIONS:
            continue
        for name in filenames:
            suffix = Path(name).suffix.lower()
            if suffix in SCORE_SUFFIXES:
                files[collection].append((rel_dir / name).as_posix())
            else:
                skipped[collection][suffix or "(none)"] += 1
    return files, skipped


def collection_files(root: Path | None = None) -> dict[str, list[str]]:
    """Collection -> the sorted ids of its score files (excluded collections left out)."""
    files, _ = _walk(root or corpus_root())
    return {c: sorted(ids) for c, ids in sorted(files.items())}


def collection_of(piece_id: str) -> str:
    return piece_id.split("/", 1)[0]


# ---------------------------------------------------------------------------------------
# parsing, in worker processes
# ---------------------------------------------------------------------------------------

def _worker_init(parse_seconds: float) -> None:
    try:
        os.nice(10)
    except OSError:
        pass
    # engine.formats.scores reads its time budget from here (parse, then conversion)
    os.environ["CONTINUO_SCORE_SECONDS"] = str(parse_seconds)


def _reason_of(message: str) -> str:
    m = message.lower()
    if "took longer" in m:
        return "parse too slow"
    if "has no notes" in m:
        return "no notes"
    if "cannot be converted" in m:
        return "conversion error"
    if "cannot be read" in m or "damaged" in m:
        return "parse error"
    if "larger than" in m or "more than" in m or "too large" in m or "longer than" in m:
        return "too large"
    return "parse error"


def _abc_voice_names(path: Path, count: int) -> list[str]:
    """The voice of each tune of an ABC file whose tunes are the voices of one piece:
    its second ``T:`` line ("Superius", "Tenor"), else "Voice k"."""
    names: list[list[str]] = []
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("X:"):
            names.append([])
        elif line.startswith("T:") and names:
            names[-1].append(line[2:].strip())
    out = []
    for k in range(count):
        titles = names[k] if k < len(names) else []
        out.append(titles[1] if len(titles) > 1 and titles[1] else f"Voice {k + 1}")
    return out


def parse_file(root: str, piece_id: str) -> dict:
    """One corpus file -> a dict: ``ok`` with the note arrays and piece facts, or
    ``reason`` and ``detail``.  Runs in a worker; never raises for a bad file."""
    from engine.errors import ContinuoError
    from engine.formats.scores import list_score_tunes, score_file_to_song

    t0 = time.monotonic()
    path = Path(root) / piece_id
    try:
        tunes = list_score_tunes(path)
        if len(tunes) > 1 and len({t.title for t in tunes}) > 1:
            return {"id": piece_id, "ok": False, "reason": "several tunes",
                    "detail": f"{len(tunes)} tunes with different titles",
                    "seconds": time.monotonic() - t0}
        song = score_file_to_song(path, 0, DEFAULT_PPQ)
        if len(tunes) > 1:
            # one tune per voice, all under the piece's title (the Josquin ABC files):
            # the voices are the parts of one piece
            names = _abc_voice_names(path, len(tunes))
            voices = [song] + [score_file_to_song(path, k, DEFAULT_PPQ)
                               for k in range(1, len(tunes))]
            tracks = []
            for k, v in enumerate(voices):
                for t in v.tracks:
                    t.name = names[k] if len(v.tracks) == 1 else f"{names[k]} {t.name}"
                    tracks.append(t)
            song = Song(ppq=song.ppq, tracks=tracks, tempo_map=song.tempo_map,
                        time_signatures=song.time_signatures,
                        key_signatures=song.key_signatures)
    except ContinuoError as e:
        return {"id": piece_id, "ok": False, "reason": _reason_of(str(e)),
                "detail": str(e)[:300], "seconds": time.monotonic() - t0}
    except Exception as e:  # anything music21 or the converter throws
        return {"id": piece_id, "ok": False, "reason": "parse error",
                "detail": f"{type(e).__name__}: {str(e)[:250]}",
                "seconds": time.monotonic() - t0}
    tracks = [t for t in song.tracks if t.notes]
    result = {"id": piece_id, "seconds": time.monotonic() - t0, "tunes": len(tunes),
              "parts": len(song.tracks), "empty_parts": len(song.tracks) - len(tracks)}
    if not tracks:
        return {**result, "ok": False, "reason": "no notes", "detail": "no notes"}
    if len(tracks) < 2:
        return {**result, "ok": False, "reason": "one part",
                "detail": f"{len(song.tracks)} part(s), {len(tracks)} with notes"}
    ts = song.meter_at(0)  # the metre, not a pickup's short bar
    rows = [(ti, n.pitch, n.start_tick, n.duration_ticks, n.velocity)
            for ti, t in enumerate(tracks) for n in t.sorted_notes()]
    notes = np.asarray(rows, dtype=np.int32).reshape(-1, 5)
    return {**result, "ok": True, "ppq": song.ppq,
            "time_signature": [ts.numerator, ts.denominator],
            "pickup_ticks": song.pickup_ticks,
            "track_names": [t.name for t in tracks], "notes": notes}


def _parse_all(root: Path, ids: list[str], processes: int, parse_seconds: float,
               hard_seconds: float) -> list[dict]:
    """Parse ``ids`` in a pool; at most ``processes`` files are in flight, so each one's
    start is known and a stuck one can be given up (the pool is then replaced)."""
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    total = len(ids)
    todo = list(reversed(ids))
    results: list[dict] = []
    t0 = time.monotonic()
    last_report = 0

    def new_pool():
        return ctx.Pool(processes, initializer=_worker_init, initargs=(parse_seconds,),
                        maxtasksperchild=50)  # music21 keeps caches; workers stay lean

    pool = new_pool()
    in_flight: dict[str, tuple] = {}
    try:
        while todo or in_flight:
            while todo and len(in_flight) < processes:
                pid = todo.pop()
                in_flight[pid] = (pool.apply_async(parse_file, (str(root), pid)),
                                  time.monotonic())
            time.sleep(0.05)
            stuck = []
            for pid, (res, started) in list(in_flight.items()):
                if res.ready():
                    del in_flight[pid]
                    try:
                        results.append(res.get())
                    except Exception as e:  # the worker itself failed
                        results.append({"id": pid, "ok": False, "reason": "parse error",
                                        "detail": f"{type(e).__name__}: {str(e)[:250]}"})
                elif time.monotonic() - started > hard_seconds:
                    stuck.append(pid)
            if stuck:
                for pid in stuck:
                    del in_flight[pid]
                    results.append({"id": pid, "ok": False, "reason": "parse too slow",
                                    "detail": f"no answer after {hard_seconds:g} s"})
                pool.terminate()
                pool.join()
                todo.extend(reversed(list(in_flight)))  # the others start again
                in_flight.clear()
                pool = new_pool()
            done = len(results)
            if done - last_report >= PROGRESS_EVERY or (done == total and done != last_report):
                last_report = done
                elapsed = time.monotonic() - t0
                eta = elapsed / done * (total - done) if done else 0.0
                sys.stderr.write(f"partmusic: {done}/{total} files, {elapsed / 60:.1f} min, "
                                 f"ETA {eta / 60:.1f} min\n")
                sys.stderr.flush()
    finally:
        pool.terminate()
        pool.join()
    return results


# ---------------------------------------------------------------------------------------
# the cache
# ---------------------------------------------------------------------------------------

def cache_paths(cache_dir: Path | str | None = None) -> tuple[Path, Path]:
    d = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    return d / f"{CACHE_STEM}.npz", d / f"{CACHE_STEM}.json"


def _content_key(notes: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(notes[:, :4]).tobytes()).hexdigest()


def build_notes_cache(processes: int = 2, limit: int | None = None,
                      collections: Iterable[str] | None = None,
                      cache_dir: Path | str | None = None,
                      parse_seconds: float = PARSE_SECONDS,
                      hard_seconds: float = HARD_SECONDS,
                      ids: Iterable[str] | None = None,
                      root: Path | str | None = None) -> Path:
    """Parse the corpus files (all, or those of ``collections``, or the given ``ids``;
    the first ``limit`` of them in id order) and write the notes cache; returns the
    ``.npz`` path.  ``root`` is the corpus folder (music21's own unless given); ids are
    relative to it."""
    root = Path(root) if root is not None else corpus_root()
    by_collection, skipped = _walk(root)
    if ids is not None:
        chosen = sorted(set(ids))
    else:
        wanted = None if collections is None else set(collections)
        if wanted is not None:
            unknown = wanted - set(by_collection)
            if unknown:
                raise ValueError(f"no such collection(s): {', '.join(sorted(unknown))}; "
                                 f"known: {', '.join(sorted(by_collection))}")
        chosen = sorted(i for c, files in by_collection.items()
                        if wanted is None or c in wanted for i in files)
    if limit is not None:
        chosen = chosen[:limit]
    t0 = time.monotonic()
    sys.stderr.write(f"partmusic: parsing {len(chosen)} files with {processes} "
                     f"process(es)\n")
    results = _parse_all(root, chosen, processes, parse_seconds, hard_seconds)
    results.sort(key=lambda r: r["id"])

    pieces: list[dict] = []
    arrays: list[np.ndarray] = []
    rejected: dict[str, dict] = {}
    seen: dict[str, str] = {}
    parse_seconds_total = 0.0

    def reject(r: dict, reason: str, detail: str) -> None:
        entry = rejected.setdefault(reason, {"count": 0, "by_collection": {},
                                             "examples": []})
        entry["count"] += 1
        c = collection_of(r["id"])
        entry["by_collection"][c] = entry["by_collection"].get(c, 0) + 1
        if len(entry["examples"]) < MAX_EXAMPLES:
            entry["examples"].append({"id": r["id"], "detail": detail})

    for r in results:
        parse_seconds_total += r.get("seconds", 0.0)
        if not r["ok"]:
            reject(r, r["reason"], r.get("detail", ""))
            continue
        key = _content_key(r["notes"])
        if key in seen:  # the same notes under another name (an older copy)
            reject(r, "duplicate", f"the same notes as {seen[key]}")
            continue
        seen[key] = r["id"]
        index = len(pieces)
        pieces.append({"id": r["id"], "collection": collection_of(r["id"]),
                       "split": split_of(r["id"]), "ppq": r["ppq"],
                       "time_signature": r["time_signature"],
                       "pickup_ticks": r.get("pickup_ticks", 0),
                       "tracks": len(r["track_names"]), "track_names": r["track_names"],
                       "notes": int(len(r["notes"])), "empty_parts_dropped": r["empty_parts"],
                       "tunes_in_file": r["tunes"], "seconds": round(r["seconds"], 2)})
        a = r["notes"]
        arrays.append(np.column_stack([np.full(len(a), index, np.int32), a]))
    table = np.concatenate(arrays) if arrays else np.zeros((0, 6), np.int32)
    table = table.astype(np.int32, copy=False)

    npz_path, json_path = cache_paths(cache_dir)
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    import io

    buf = io.BytesIO()
    np.savez(buf, **{name: np.ascontiguousarray(table[:, k]) for k, name in
                     enumerate(NOTE_FIELDS)})
    index = {
        "version": CACHE_VERSION,
        "corpus_root": str(root),
        "music21_version": _music21_version(),
        "built_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.monotonic() - t0, 1),
        "worker_parse_seconds": round(parse_seconds_total, 1),
        "selection": {"limit": limit, "collections": None if collections is None
                      else sorted(collections), "ids": None if ids is None else chosen},
        "files_considered": len(chosen),
        "files_per_collection": {c: len(v) for c, v in sorted(by_collection.items())},
        "excluded_collections": EXCLUDED_COLLECTIONS,
        "skipped_non_score_files": {c: dict(v) for c, v in sorted(skipped.items())},
        "note_fields": list(NOTE_FIELDS),
        "pieces": pieces,
        "rejected": dict(sorted(rejected.items(), key=lambda kv: -kv[1]["count"])),
    }
    # the index last: a reader that sees the new index also sees the new notes
    write_bytes_atomic(npz_path, buf.getvalue())
    write_bytes_atomic(json_path, json.dumps(index, indent=1).encode("utf-8"))
    return npz_path


def _music21_version() -> str:
    try:
        import music21

        return str(music21.__version__)
    except Exception:  # pragma: no cover
        return "?"


def load_index(cache_dir: Path | str | None = None) -> dict:
    _, json_path = cache_paths(cache_dir)
    if not json_path.exists():
        raise FileNotFoundError(f"{json_path} is missing: build it with "
                                f"`python -m training partmusic`")
    return json.loads(json_path.read_text("utf-8"))


def load_part_songs(split: str | None = None,
                    cache_dir: Path | str | None = None) -> list[tuple[str, str, Song]]:
    """(id, collection, Song) of every cached piece (of ``split`` only, if given), read
    from the cache without music21: one track per part, named after it."""
    if split is not None and split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_NAMES)}, not {split!r}")
    index = load_index(cache_dir)
    npz_path, _ = cache_paths(cache_dir)
    with np.load(npz_path, allow_pickle=False) as z:
        cols = {name: z[name] for name in NOTE_FIELDS}
    piece = cols["piece"]
    # rows are grouped by piece (written in order), so each piece is one slice
    bounds = np.searchsorted(piece, np.arange(len(index["pieces"]) + 1))
    out = []
    for k, info in enumerate(index["pieces"]):
        if split is not None and info["split"] != split:
            continue
        lo, hi = bounds[k], bounds[k + 1]
        track_col = cols["track"][lo:hi].tolist()
        rows = zip(track_col, cols["pitch"][lo:hi].tolist(),
                   cols["start_tick"][lo:hi].tolist(), cols["duration_ticks"][lo:hi].tolist(),
                   cols["velocity"][lo:hi].tolist())
        tracks = [Track(name=name) for name in info["track_names"]]
        for t, p, s, d, v in rows:
            tracks[t].notes.append(Note(p, s, d, v, 0))
        num, den = info["time_signature"]
        # a cache written before pickups were kept has none: its bars start at tick 0
        song = Song(ppq=info["ppq"], tracks=tracks,
                    time_signatures=pickup_signatures(info.get("pickup_ticks", 0),
                                                      TimeSignature(0, num, den), info["ppq"]))
        out.append((info["id"], info["collection"], song))
    return out


def rejected_summary(cache_dir: Path | str | None = None) -> dict:
    """Reason -> {"count", "by_collection", "examples"} of the rejected files."""
    return load_index(cache_dir)["rejected"]


def split_counts(cache_dir: Path | str | None = None) -> dict[str, dict[str, int]]:
    """Collection -> {"train", "validation", "test", "pieces", "notes", "rejected"}."""
    index = load_index(cache_dir)
    counts: dict[str, dict[str, int]] = {}

    def row(c: str) -> dict[str, int]:
        return counts.setdefault(c, {"train": 0, "validation": 0, "test": 0,
                                     "pieces": 0, "notes": 0, "rejected": 0})

    for p in index["pieces"]:
        r = row(p["collection"])
        r[p["split"]] += 1
        r["pieces"] += 1
        r["notes"] += p["notes"]
    for entry in index["rejected"].values():
        for c, n in entry["by_collection"].items():
            row(c)["rejected"] += n
    return dict(sorted(counts.items()))


def counts_markdown(cache_dir: Path | str | None = None) -> str:
    """The counts per collection and split as a markdown table (for models/README.md)."""
    counts = split_counts(cache_dir)
    lines = ["| collection | train | validation | test | pieces | notes | rejected |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    total = Counter()
    for c, r in counts.items():
        lines.append(f"| {c} | {r['train']:,} | {r['validation']:,} | {r['test']:,} | "
                     f"{r['pieces']:,} | {r['notes']:,} | {r['rejected']:,} |")
        total.update(r)
    lines.append(f"| **all** | {total['train']:,} | {total['validation']:,} | "
                 f"{total['test']:,} | {total['pieces']:,} | {total['notes']:,} | "
                 f"{total['rejected']:,} |")
    return "\n".join(lines)


def rejected_markdown(cache_dir: Path | str | None = None) -> str:
    lines = []
    for reason, entry in rejected_summary(cache_dir).items():
        per = ", ".join(f"{c} {n}" for c, n in sorted(entry["by_collection"].items()))
        lines.append(f"- {reason}: {entry['count']} ({per})")
        for ex in entry["examples"][:3]:
            lines.append(f"  - {ex['id']}: {ex['detail']}")
    return "\n".join(lines) or "- none"
