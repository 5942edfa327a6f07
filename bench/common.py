"""What the benchmarks share: the argument preamble, timing, tables and the JSON they write.

A bench is a script (``python bench/NAME.py``), so it puts the repository on
``sys.path`` itself before it imports this module::

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.common import ROOT, parser, write_json  # noqa: E402

* :func:`parser`, :func:`add_out`, :func:`model_folders`: an ``argparse`` parser described
  by the bench's docstring, its ``--out`` (default ``bench/results/NAME.json``) and the
  ``--models-dir`` the model benches share;
* :func:`single_threaded`, :func:`pin_to_one_core`, :func:`pinned_unless`: "on one core";
* :func:`interleaved`, :func:`wall_and_cpu_ms`, :func:`percentile`: timing figures;
* :func:`print_table`, :func:`cell`: a table of aligned columns under a rule;
* :func:`write_json`: the results, written atomically;
* :func:`command_line`, :func:`load_averages`, :func:`git_state`: what a result records
  about the run;
* :func:`poly_seed`: the polyphonic benches' seed, the first bars of a Bach chorale.

The live benches share a MIDI loopback too: bench/loopback.py.  Only the standard
library here (and the engine's atomic writer, imported when a bench writes), so a bench
can import it before numpy to hold every library to one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"


# ---- the argument preamble ----------------------------------------------------------------
def parser(doc: str | None, *, first_line: bool = False,
           models_dir: bool = False) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of ``doc`` (its first line with
    ``first_line``); with ``models_dir``, the repeatable ``--models-dir`` first (read by
    :func:`model_folders`)."""
    text = doc or ""
    ap = argparse.ArgumentParser(description=text.splitlines()[0] if first_line and text
                                 else text.split("\n\n")[0])
    if models_dir:
        ap.add_argument("--models-dir", action="append", help="model folder (default: models/)")
    return ap


def add_out(ap: argparse.ArgumentParser, name: str) -> None:
    """``--out``: where the bench writes its JSON (bench/results/NAME.json by default)."""
    ap.add_argument("--out", default=str(RESULTS_DIR / f"{name}.json"))


def model_folders(args: argparse.Namespace) -> list[Path]:
    """The ``--models-dir`` folders, or the shipped ``models/``."""
    return [Path(d) for d in args.models_dir] if args.models_dir else [ROOT / "models"]


def library_with(args: argparse.Namespace, model: str):
    """The model library of ``--models-dir`` (or the shipped models/), or None, said on
    standard error, when ``model`` is not among its models."""
    from engine.models import ModelLibrary

    folders = model_folders(args)
    library = ModelLibrary(folders)
    if model not in library.names:
        print(f"no model {model} in {', '.join(map(str, folders))}", file=sys.stderr)
        return None
    return library


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """``python bench/SCRIPT.py ARGS`` as the bench was run (``argv``, else the process's)."""
    return f"python bench/{script}.py " + " ".join(argv or sys.argv[1:])


# ---- one core --------------------------------------------------------------------------------
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def single_threaded(*more: str) -> None:
    """Hold numpy's (and ``more``) libraries to one thread; call before importing them."""
    for var in (*THREAD_VARIABLES, *more):
        os.environ.setdefault(var, "1")


def pin_to_one_core() -> str:
    """Pin this process to its lowest CPU; says what it did (for the results)."""
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):
        return "not pinned (no sched_setaffinity)"


def pinned_unless(no_pin: bool) -> str:
    """:func:`pin_to_one_core`, unless ``--no-pin`` was given."""
    return "not pinned (--no-pin)" if no_pin else pin_to_one_core()


def load_averages() -> list[float]:
    """The 1, 5 and 15 minute load averages, to two places."""
    return [round(x, 2) for x in os.getloadavg()]


# ---- timing ------------------------------------------------------------------------------------
def interleaved(fns: dict[str, Callable[[], object]], repeats: int, *,
                warm_up: bool = False) -> dict[str, float]:
    """Median ms of each function, the functions taking turns run by run so that a busy
    spell on a shared machine falls on all of them alike (each run once first, untimed,
    with ``warm_up``)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    if warm_up:
        for fn in fns.values():
            fn()
    for _ in range(repeats):
        for label, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[label].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def wall_and_cpu_ms(fn: Callable[[], object], repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of ``repeats`` calls.  The CPU figure leaves out
    the time other processes held the core: the steadier one on a shared machine."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append((time.process_time() - c0) * 1e3)
        wall.append((time.perf_counter() - w0) * 1e3)
    return wall, cpu


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, linearly interpolated; NaN when empty."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# ---- tables --------------------------------------------------------------------------------
def print_table(columns: Sequence[tuple[str, int | str]], rows: Iterable[Sequence[object]],
                sep: str = " ") -> None:
    """A header of the column names, a rule as long as the header, then one line a row.
    A column is (name, width): right-aligned to that width, or (name, format spec) such as
    ``"<44"``; its cells come already formatted (strings), and ``sep`` stands between
    columns."""
    specs = [f">{w}" if isinstance(w, int) else w for _, w in columns]
    header = sep.join(f"{name:{spec}}" for (name, _), spec in zip(columns, specs))
    print(header)
    print("-" * len(header))
    for row in rows:
        print(sep.join(f"{value:{spec}}" for value, spec in zip(row, specs)))


def cell(figures: dict, key: str, fmt: str = "{:.1f}") -> str:
    """``figures[key]`` formatted, or ``-`` where there is no such figure."""
    return fmt.format(figures[key]) if key in figures else "-"


# ---- results ---------------------------------------------------------------------------------
def write_json(path: str | os.PathLike, data: object, *, indent: int = 2,
               say: bool = True, file=None) -> None:
    """Write ``data`` as JSON (``indent``, a final newline) to ``path`` atomically, making its
    folder; then print ``wrote PATH`` (to ``file``, stdout by default) unless ``say`` is off."""
    from engine.formats import write_bytes_atomic

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, (json.dumps(data, indent=indent) + "\n").encode())
    if say:
        print(f"wrote {path}", file=file)


def git_state(changes_key: str, *paths: str) -> dict:
    """The commit measured, and under ``changes_key`` the files below ``paths`` changed on
    top of it (``git status --porcelain`` lines; empty strings where git does not answer)."""
    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "HEAD"),
            changes_key: git("status", "--porcelain", *paths).splitlines()}


# ---- the polyphonic seed ---------------------------------------------------------------------
POLY_SEED = "bach/bwv66.6.mxl"  # under music21's corpus folder
POLY_SEED_BARS = 4


def poly_seed():
    """(the first ``POLY_SEED_BARS`` bars of :data:`POLY_SEED`, the tick they end at), the
    notes that start before that tick cut at it.  It uses only engine names that every
    engine since the motif memory has: bench/generation_worker.py calls it on an older
    checkout's engine."""
    from music21 import common

    from engine.formats.scores import score_file_to_song

    song = score_file_to_song(Path(common.getCorpusFilePath()) / POLY_SEED)
    end = POLY_SEED_BARS * song.ticks_per_bar_at(0)
    seed = song.copy()
    for track in seed.tracks:
        track.notes = [n if n.end_tick <= end else
                       type(n)(n.pitch, n.start_tick, end - n.start_tick, n.velocity, n.channel)
                       for n in track.notes if n.start_tick < end]
    return seed, end
