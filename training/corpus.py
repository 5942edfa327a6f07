"""Training corpora: music21's folk collections, its part music (or a folder of MIDI
files) -> tokens.  The sources are read by :mod:`training.datasets`.

Every tune goes score (or MIDI file) -> a :class:`engine.song.Song` -> the encoding's
``encode_tune`` (the default ``melody-16th`` unless another registered encoding is
named), the very encoding the app generates with, so training and generation see the
same tokens.  A tune's id is
``<ABC file name>#<index of the tune in the file, from 0>`` (music21's order: by
reference number), and its split is fixed by ``zlib.crc32(id) % 20`` (0 test,
1 validation, else train: :func:`training.datasets.splits.split_of`).

Tunes the encoding cannot represent faithfully are rejected with a reason, and the
reasons are counted, so "how many of N encode, and why not the rest" has an answer.
The result is cached under ``training/cache`` as an ``.npz`` (allow_pickle=False) of
the concatenated tokens plus a JSON index, keyed by collection, encoding and rules.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from engine.encodings import (DEFAULT_ENCODING, ENCODINGS, Encoding, encoding_from_card,
                              known_encodings)
from engine.errors import ContinuoError
from engine.song import melody_track
from engine.formats import MIDI_SUFFIXES, write_bytes_atomic
from training.datasets.folk import collection_files, read_abc_songs
from training.datasets.splits import SPLIT_NAMES, id_sort_key, split_of

CACHE_DIR = Path(__file__).resolve().parent / "cache"
TRAIN_COLLECTION = "essenFolksong"
OTHER_COLLECTION = "oneills1850"  # Irish fiddle tunes: another tradition, never trained on

# rules for accepting a tune; bump RULES_VERSION when they change (it keys the cache)
RULES_VERSION = 1
MIN_NOTES = 8  # shorter fragments teach nothing about phrases
MAX_OFF_GRID_FRACTION = 0.0  # any note off the sixteenth grid (triplets, 32nds) would be
#                              moved or swallowed by the encoding: the tune is rejected

PART_MUSIC = "partmusic"  # music21's multi-part works (training/datasets/partmusic.py)
MAX_OFF_GRID_PART_MUSIC = 0.02  # part music: a few triplets are snapped, more reject
MAX_DROPPED_FRACTION = 0.01


def encoding_named(name: str | None) -> Encoding:
    """The registered encoding ``name`` (its latest version) with its default settings;
    None: the default ``melody-16th``."""
    if name is None:
        return DEFAULT_ENCODING
    versions = sorted(v for n, v in ENCODINGS if n == name)
    if not versions:
        raise ContinuoError(f"unknown encoding '{name}'; this Continuo speaks "
                            f"{', '.join(known_encodings())}")
    enc = ENCODINGS[(name, versions[-1])]()
    return DEFAULT_ENCODING if enc.card() == DEFAULT_ENCODING.card() else enc
REASONS = {
    "parse": "music21 cannot parse the tune",
    "no_notes": "the tune has no notes",
    "too_short": f"fewer than {MIN_NOTES} notes",
    "range": "notes outside the pitch range even after an octave shift",
    "off_grid": "notes off the sixteenth-note grid (triplets, 32nds, odd durations)",
    "chords": "several notes at once (chords or voices)",
    "voices": f"more than {MAX_DROPPED_FRACTION:.0%} of the notes beyond the encoding's "
              f"simultaneous notes",
    "melody_only": "one part only",
    "voices_as_tunes": "an ABC file whose voices are separate tunes (read one by one by "
                       "the app)",
}


@dataclass
class Corpus:
    """Encoded tunes with ids and splits, and the counted reasons for the rejects."""

    name: str
    ids: list[str]
    splits: list[str]
    tunes: list[np.ndarray]
    total: int
    rejected: dict[str, int] = field(default_factory=dict)
    rejected_examples: dict[str, list[str]] = field(default_factory=dict)
    build_seconds: float = 0.0
    encoding: Encoding = DEFAULT_ENCODING  # what the tunes' tokens mean

    def split(self, which: str) -> list[np.ndarray]:
        return [t for t, s in zip(self.tunes, self.splits) if s == which]

    def counts(self) -> dict[str, int]:
        c = Counter(self.splits)
        return {s: c.get(s, 0) for s in ("train", "validation", "test")}

    def token_counts(self) -> dict[str, int]:
        out = {"train": 0, "validation": 0, "test": 0}
        for t, s in zip(self.tunes, self.splits):
            out[s] += len(t)
        return out

    def summary(self) -> str:
        lines = [f"{self.name}: {len(self.tunes)} of {self.total} tunes encode "
                 f"(train {self.counts()['train']}, validation {self.counts()['validation']}, "
                 f"test {self.counts()['test']}; tokens {self.token_counts()})"]
        for reason, n in sorted(self.rejected.items(), key=lambda kv: -kv[1]):
            ex = ", ".join(self.rejected_examples.get(reason, [])[:3])
            lines.append(f"  rejected {n:5d}: {REASONS.get(reason, reason)} (e.g. {ex})")
        return "\n".join(lines)

    def data_card(self) -> dict:
        """The card's ``data`` entry."""
        return {"corpus": f"music21 {self.name}" if not self.name.startswith("midi:")
                else self.name,
                "split": "zlib.crc32(id.encode()) % 20: 0 test, 1 validation, else train; "
                         + ("id = the file's path in music21's corpus folder, with forward "
                            "slashes (bach/bwv66.6.mxl)" if self.name == PART_MUSIC else
                            "id = '<ABC file name>#<index of the tune in the file, from 0>'"),
                "tunes": self.counts(), "tokens": self.token_counts(),
                "rejected": dict(self.rejected), "tunes_total": self.total}


# ---------------------------------------------------------------------------------------
# one tune
# ---------------------------------------------------------------------------------------


def encode_song_notes(notes, ppq: int, encoding: Encoding,
                      strict: bool) -> tuple[list[int] | None, str | None]:
    """Notes of one tune -> (tokens, None) or (None, reason).

    ``strict`` (score corpora) rejects tunes the grid cannot hold exactly; MIDI files
    played by hand are never on the grid, so for them the encoding's snapping is fine.
    """
    notes = list(notes)
    if not notes:
        return None, "no_notes"
    if len(notes) < MIN_NOTES:
        return None, "too_short"
    spq = encoding.steps_per_quarter
    if strict:
        off = sum(1 for n in notes
                  if (n.start_tick * spq) % ppq or (n.end_tick * spq) % ppq)
        if off > MAX_OFF_GRID_FRACTION * len(notes):
            return None, "off_grid"
    enc = encoding.encode_tune(notes, ppq)
    rep = enc.report
    if strict and rep.dropped_below_top_line:
        return None, "chords"
    if rep.notes_moved_by_octave:
        return None, "range"
    if encoding.count_onsets(np.asarray(enc.tokens, dtype=np.int64)) < MIN_NOTES:
        return None, "too_short"
    return enc.tokens, None


# ---------------------------------------------------------------------------------------
# ABC collections, in worker processes
# ---------------------------------------------------------------------------------------

def _encode_abc_chunk(task: tuple) -> list[tuple[str, list[int] | None, str | None]]:
    """Worker: tunes [i0, i1) of one ABC file -> (id, tokens, reject reason); the task
    is (path, i0, i1 or None) and the encoding's card (default: melody-16th)."""
    import warnings

    warnings.filterwarnings("ignore")
    path, i0, i1 = task[:3]
    encoding = encoding_from_card(task[3]) if len(task) > 3 else DEFAULT_ENCODING
    out = []
    for tune_id, song, reason in read_abc_songs(path, i0, i1):
        if song is None:
            out.append((tune_id, None, reason))
            continue
        tokens, reason = encode_song_notes(list(song.notes()), song.ppq, encoding,
                                           strict=True)
        out.append((tune_id, tokens, reason))
    return out


def _abc_tasks(files: Sequence[Path], chunk: int = 25,
               encoding: Encoding = DEFAULT_ENCODING) -> tuple[list, int]:
    """Chunks of (file, first tune, end tune or None for 'to the end') and an estimate
    of the tune count from the X: lines, for the progress line."""
    tasks, total = [], 0
    for f in files:
        text = f.read_text(encoding="latin-1")
        n = max(1, len(re.findall(r"^X:", text, flags=re.M)))
        total += n
        starts = list(range(0, n, chunk))
        for k, s in enumerate(starts):
            tasks.append((str(f), s, None if k == len(starts) - 1 else s + chunk,
                          encoding.card()))
    return tasks, total


def _progress(label: str, done: int, total: int, t0: float) -> None:
    width = 30
    frac = min(1.0, done / max(total, 1))
    bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
    el = time.monotonic() - t0
    eta = el / frac - el if frac > 0 else 0
    sys.stderr.write(f"\r{label} [{bar}] {done}/{total} tunes {el:5.0f}s eta {eta:4.0f}s ")
    sys.stderr.flush()


def _collect(name: str, results: Iterable, total: int, t0: float,
             show_progress: bool, encoding: Encoding = DEFAULT_ENCODING) -> Corpus:
    ids, splits, tunes = [], [], []
    rejected: Counter = Counter()
    examples: dict[str, list[str]] = {}
    done = 0
    for chunk in results:
        for tune_id, tokens, reason in chunk:
            done += 1
            if reason is None:
                ids.append(tune_id)
                splits.append(split_of(tune_id))
                tunes.append(np.asarray(tokens, dtype=_token_dtype(encoding)))
            else:
                rejected[reason] += 1
                examples.setdefault(reason, [])
                if len(examples[reason]) < 20:
                    examples[reason].append(tune_id)
        if show_progress:
            _progress(name, done, max(total, done), t0)
    if show_progress:
        sys.stderr.write("\n")
    order = sorted(range(len(ids)), key=lambda k: id_sort_key(ids[k]))
    return Corpus(name, [ids[k] for k in order], [splits[k] for k in order],
                  [tunes[k] for k in order], done, dict(rejected), examples,
                  time.monotonic() - t0, encoding)


def _token_dtype(encoding: Encoding):
    """int8 for every vocabulary that fits (melody-16th's 38), else int16."""
    return np.int8 if encoding.vocab_size <= 128 else np.int16


def build_abc_corpus(collection: str, processes: int = 2, show_progress: bool = True,
                     files: Sequence[Path] | None = None,
                     encoding: Encoding = DEFAULT_ENCODING) -> Corpus:
    files = list(files) if files is not None else collection_files(collection)
    tasks, total = _abc_tasks(files, encoding=encoding)
    t0 = time.monotonic()
    if processes <= 1:
        return _collect(collection, map(_encode_abc_chunk, tasks), total, t0, show_progress,
                        encoding)
    ctx = mp.get_context("spawn")  # no forked TensorFlow or music21 state
    with ctx.Pool(processes) as pool:
        return _collect(collection, pool.imap(_encode_abc_chunk, tasks), total, t0,
                        show_progress, encoding)


# ---------------------------------------------------------------------------------------
# a folder of MIDI files
# ---------------------------------------------------------------------------------------


def _encode_midi_file(task) -> list[tuple[str, list[int] | None, str | None]]:
    """Worker: one MIDI file (``task``: its path, or (path, the encoding's card)) ->
    [(name, tokens, reject reason)]."""
    from engine.formats import midi_file_to_song

    path, card = (task, None) if isinstance(task, str) else task
    encoding = encoding_from_card(card) if card is not None else DEFAULT_ENCODING
    name = Path(path).name
    try:
        song = midi_file_to_song(path)
    except Exception:  # a broken file is skipped and counted, never fatal
        return [(name, None, "parse")]
    index = melody_track(song)
    if index is None:
        return [(name, None, "no_notes")]
    tokens, reason = encode_song_notes(song.tracks[index].notes, song.ppq, encoding,
                                       strict=False)
    return [(name, tokens, reason)]


def build_midi_corpus(folder: str | Path, processes: int = 2, show_progress: bool = True,
                      encoding: Encoding = DEFAULT_ENCODING) -> Corpus:
    """Every MIDI file under ``folder`` (the melody track of each) -> a corpus of
    ``encoding``'s tokens; the split rule is the same crc32 rule on file names."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ContinuoError(f"{folder}: there is no such folder of MIDI files")
    try:
        files = sorted(p for p in folder.rglob("*")
                       if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
    except OSError as e:
        raise ContinuoError(f"{folder}: the folder cannot be read ({e.strerror})") from None
    if not files:
        raise ContinuoError(f"{folder}: the folder holds no MIDI files "
                            f"({', '.join(MIDI_SUFFIXES)})")
    t0 = time.monotonic()
    label = f"midi:{folder.name}"
    tasks = [(str(f), encoding.card()) for f in files]
    if processes <= 1 or len(files) < 8:
        results = map(_encode_midi_file, tasks)
        return _collect(label, results, len(files), t0, show_progress, encoding)
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes) as pool:
        return _collect(label, pool.imap(_encode_midi_file, tasks, chunksize=4),
                        len(files), t0, show_progress, encoding)


# ---------------------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------------------


def cache_key(name: str, encoding: Encoding = DEFAULT_ENCODING) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    return (f"{safe}.{encoding.name}-v{encoding.version}-{encoding.min_pitch}-"
            f"{encoding.max_pitch}-{encoding.steps_per_quarter}.rules{RULES_VERSION}")


def save_corpus(corpus: Corpus, cache_dir: str | Path = CACHE_DIR) -> Path:
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(corpus.name, corpus.encoding)
    lengths = np.array([len(t) for t in corpus.tunes], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    dtype = _token_dtype(corpus.encoding)
    tokens = (np.concatenate(corpus.tunes) if corpus.tunes
              else np.zeros(0, dtype)).astype(dtype)
    split_codes = np.array([SPLIT_NAMES.index(s) for s in corpus.splits], dtype=np.int8)
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, tokens=tokens, offsets=offsets, splits=split_codes)
    write_bytes_atomic(cache_dir / f"{key}.npz", buf.getvalue())
    index = {"name": corpus.name, "encoding": corpus.encoding.card(),
             "rules_version": RULES_VERSION, "ids": corpus.ids, "total": corpus.total,
             "rejected": corpus.rejected, "rejected_examples": corpus.rejected_examples,
             "build_seconds": round(corpus.build_seconds, 1)}
    write_bytes_atomic(cache_dir / f"{key}.json", json.dumps(index, indent=1).encode())
    return cache_dir / f"{key}.npz"


def load_corpus(name: str, cache_dir: str | Path = CACHE_DIR,
                encoding: Encoding = DEFAULT_ENCODING) -> Corpus | None:
    """The cached corpus, or None when there is none for this encoding and rules."""
    cache_dir = Path(cache_dir)
    key = cache_key(name, encoding)
    npz, js = cache_dir / f"{key}.npz", cache_dir / f"{key}.json"
    if not (npz.exists() and js.exists()):
        return None
    index = json.loads(js.read_text())
    with np.load(npz, allow_pickle=False) as data:
        tokens, offsets, codes = data["tokens"], data["offsets"], data["splits"]
    tunes = [tokens[offsets[k]:offsets[k + 1]].copy() for k in range(len(offsets) - 1)]
    return Corpus(index["name"], list(index["ids"]), [SPLIT_NAMES[c] for c in codes], tunes,
                  int(index["total"]), dict(index["rejected"]),
                  dict(index.get("rejected_examples", {})), float(index["build_seconds"]),
                  encoding)


def encode_part_song(song, encoding: Encoding) -> tuple[list[int] | None, str | None]:
    """A multi-part piece (every part but drums together) -> (tokens, None) or
    (None, reason), for a polyphonic encoding."""
    from engine.encodings.polyphony import playable_tracks

    parts = playable_tracks(song)
    notes = [n for i in parts for n in song.tracks[i].notes]
    if not notes:
        return None, "no_notes"
    if len(parts) < 2:
        return None, "melody_only"
    if len(notes) < MIN_NOTES:
        return None, "too_short"
    spq, ppq = encoding.steps_per_quarter, song.ppq
    off = sum(1 for n in notes if (n.start_tick * spq) % ppq or (n.end_tick * spq) % ppq)
    if off > MAX_OFF_GRID_PART_MUSIC * len(notes):
        return None, "off_grid"
    enc = encoding.encode_tune(notes, ppq)
    if enc.report.notes_moved_by_octave:
        return None, "range"
    if enc.report.dropped_over_voices > MAX_DROPPED_FRACTION * len(notes):
        return None, "voices"
    return enc.tokens, None


def build_part_music_corpus(encoding: Encoding, show_progress: bool = True) -> Corpus:
    """music21's multi-part works (parsed once into training/cache by
    ``python -m training partmusic``) in a polyphonic encoding; split by
    ``crc32(path) % 20`` of each file's path in music21's corpus."""
    from training.datasets.partmusic import load_index, load_part_songs

    t0 = time.monotonic()
    index = load_index()
    songs = load_part_songs()
    # a file whose voices are separate tunes (the Josquin ABC files) is one piece to the
    # parser but several tunes to the app (main.py score reads each alone): left out, so
    # that the cards' test figures are what main.py score gives on the test files
    split_voices = {p["id"] for p in index["pieces"] if p.get("tunes_in_file", 1) > 1}
    results = [[(pid, None, "voices_as_tunes") if pid in split_voices
                else (pid, *encode_part_song(song, encoding))] for pid, _, song in songs]
    corpus = _collect(PART_MUSIC, results, len(results), t0, show_progress, encoding)
    # what music21 could not give us counts too
    for reason, info in index.get("rejected", {}).items():
        corpus.rejected[f"file: {reason}"] = int(info["count"])
        corpus.rejected_examples[f"file: {reason}"] = [
            e["id"] if isinstance(e, dict) else str(e) for e in info.get("examples", [])][:5]
        corpus.total += int(info["count"])
    return corpus


def get_corpus(name: str, processes: int = 2, rebuild: bool = False,
               cache_dir: str | Path = CACHE_DIR, show_progress: bool = True,
               encoding: Encoding = DEFAULT_ENCODING) -> Corpus:
    """A music21 collection's corpus, from the cache or built (and cached) now."""
    if not rebuild:
        cached = load_corpus(name, cache_dir, encoding)
        if cached is not None:
            return cached
    if name == PART_MUSIC:
        corpus = build_part_music_corpus(encoding, show_progress)
    else:
        corpus = build_abc_corpus(name, processes, show_progress, encoding=encoding)
    save_corpus(corpus, cache_dir)
    return corpus
