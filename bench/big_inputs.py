"""Big inputs: opening a 10,000-note MIDI file, refusing a 30 MB one, and cancelling a
big generation.

1. A 10,000-note MIDI file (four voices of eighth notes, 625 bars, written by
   ``song_to_midi_file``) is read from disk (``midi_file_to_song``), loaded into a
   SongDocument, and the piano roll paints it in full (whole song on screen) for the
   first time.  Each stage is timed; bench/pianoroll_paint.py times repeated paints.
2. A 30 MB MIDI file over the note limit (five million notes, running status) is
   refused: the wall and CPU time (``os.wait4``) and the peak memory (its VmHWM) of a
   fresh process that imports the reader and calls ``midi_file_to_song`` on it.
3. Cancel latency: a 32 bars x 8 variations generation with each shipped model runs
   in a thread; at a random step the cancel flag is set, and the time until
   ``generate()`` raises GenerationCancelled is measured.  Also measured: a cancel
   50 ms after starting from the 10,000-note song as the seed, while the model is
   still being primed with it, and the CPU time generate() spends before it first
   checks the flag with that seed (the latency of a Cancel pressed at once).

    QT_QPA_PLATFORM=offscreen python bench/big_inputs.py [--cancels N] [--only-large]

Prints tables and writes bench/results/big_inputs.json.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import ROOT  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from engine.formats import midi_file_to_song, song_to_midi_file  # noqa: E402
from engine.song import Note, melody_song  # noqa: E402

WIDTH, HEIGHT = 1400, 800


def dense_song(count: int, seed: int = 1):
    """Four voices of eighth notes: a dense, realistic texture of ``count`` notes."""
    rng = random.Random(seed)
    notes = [Note(48 + (i % 4) * 7 + rng.randrange(0, 7), (i // 4) * 240, 240,
                  rng.randrange(40, 120)) for i in range(count)]
    return melody_song(notes)


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = clocks()
    return {"wall_ms": round((wall - start[0]) * 1000, 1),
            "cpu_ms": round((cpu - start[1]) * 1000, 1)}


def open_big_file(notes: int) -> dict:
    from PySide6.QtWidgets import QApplication

    from gui.document import SongDocument
    from gui.pianoroll.view import PianoRoll

    app = QApplication.instance() or QApplication([])
    folder = Path(tempfile.mkdtemp(prefix="continuo-bench-"))
    path = folder / "ten_thousand.mid"
    song_to_midi_file(dense_song(notes), path)
    result: dict = {"notes": notes, "file_bytes": path.stat().st_size}
    t = clocks()
    song = midi_file_to_song(path)
    result["read_midi"] = since(t)
    assert song.note_count == notes
    doc = SongDocument()
    roll = PianoRoll(doc)
    roll.resize(WIDTH, HEIGHT)
    roll.show()
    app.processEvents()
    t = clocks()
    doc.load_song(song, str(path))
    app.processEvents()
    result["load_into_document"] = since(t)
    t = clocks()
    roll.zoom_time(roll.grid.width() / roll.geometry.pixels_for_ticks(doc.end_tick), 0)
    roll.grab()
    result["first_full_paint"] = since(t)
    start, end = roll.geometry.visible_ticks(roll.grid.width())
    result["visible_notes"] = len(doc.notes_in_range(start, end, 0, 127))
    t = clocks()
    roll.grab()
    result["second_full_paint"] = since(t)
    path.unlink()
    folder.rmdir()
    return result


def over_the_limit_midi(path: Path, megabytes: float = 30) -> int:
    """Write a type 1 MIDI file of about ``megabytes`` MB: one track of quarter notes
    (a note-on, then note-ons of velocity 0 under running status, as many sequencers
    write them), far over the note limit.  Returns the number of notes."""
    pair = b"\x00\x3c\x40\x60\x3c\x00"  # 6 bytes: a note and its end
    count = int(megabytes * 2**20) // len(pair)
    body = b"\x00\x90\x3c\x40\x60\x3c\x00" + pair * (count - 1) + b"\x00\xff\x2f\x00"
    path.write_bytes(b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big")
                     + (1).to_bytes(2, "big") + (96).to_bytes(2, "big")
                     + b"MTrk" + len(body).to_bytes(4, "big") + body)
    return count


_REFUSE = """
import sys
from engine.errors import ContinuoError
from engine.formats import midi_file_to_song
try:
    midi_file_to_song(sys.argv[1])
    print("read")
except ContinuoError as e:
    print(e)
"""
# the child's own peak resident memory (its VmHWM: ru_maxrss would start from the
# parent's peak, which exec hands on)
_PEAK = """
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print("PEAK_KB", line.split()[1])
"""


def refuse_large_file(megabytes: float = 30) -> dict:
    """Time and peak memory of a fresh process that reads (and refuses) a file over the
    note limit; the import of the reader is timed apart and taken off."""
    folder = Path(tempfile.mkdtemp(prefix="continuo-bench-"))
    path = folder / "thirty_mb.mid"
    notes = over_the_limit_midi(path, megabytes)

    def child(code: str) -> dict:
        import subprocess

        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code + _PEAK, str(path)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        lines = out.strip().splitlines()
        peak_kb = next((int(x.split()[1]) for x in lines if x.startswith("PEAK_KB")), 0)
        message = "\n".join(x for x in lines if not x.startswith("PEAK_KB"))
        return {"wall_s": round(time.perf_counter() - t, 3),
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "message": message[:300], "exit": proc.returncode}

    imports_only = child(_REFUSE.split("try:")[0])
    run = child(_REFUSE)
    path.unlink()
    folder.rmdir()
    return {"file_bytes": int(megabytes * 2**20), "notes": notes, "refuse": run,
            "imports_only": imports_only,
            "refuse_minus_imports_s": round(run["wall_s"] - imports_only["wall_s"], 3)}


def cancel_latency(model_name: str, seed, at_step: int | None, delay_s: float | None) -> dict:
    """Cancel at ``at_step`` (from the progress callback) or ``delay_s`` after the
    start; returns the latency from the flag to GenerationCancelled."""
    from engine.generation.generator import GenerationCancelled, GenerationSettings, generate

    library = _library()
    settings = GenerationSettings(model=model_name, bars=32, variations=8, rng_seed=1)
    flag = threading.Event()
    flagged_at: list[float] = []
    raised_at: list[float] = []
    steps_done: list[int] = [0]

    def cancel() -> None:
        if not flag.is_set():
            flagged_at.append(time.perf_counter())
            flag.set()

    def progress(done: int, total: int) -> None:
        steps_done[0] = done
        if at_step is not None and done >= at_step:
            cancel()

    def run() -> None:
        try:
            generate(library, seed, settings, progress=progress, is_cancelled=flag.is_set)
        except GenerationCancelled:
            raised_at.append(time.perf_counter())

    worker = threading.Thread(target=run)
    worker.start()
    if delay_s is not None:
        time.sleep(delay_s)
        cancel()
    worker.join(120)
    if not raised_at or not flagged_at:
        return {"model": model_name, "cancelled": False, "steps_done": steps_done[0]}
    return {"model": model_name, "cancelled": True, "steps_done": steps_done[0],
            "latency_ms": round((raised_at[0] - flagged_at[0]) * 1000, 3)}


def work_before_first_check(model_name: str, seed) -> dict:
    """CPU and wall time that generate() spends before it first looks at the cancel
    flag: the latency of a Cancel pressed at the very start, free of the machine's
    load in the CPU figure."""
    from engine.generation.generator import GenerationCancelled, GenerationSettings, generate

    settings = GenerationSettings(model=model_name, bars=32, variations=8, rng_seed=1)
    seen: list[tuple[float, float]] = []

    def is_cancelled() -> bool:
        seen.append((time.thread_time(), time.perf_counter()))
        return True

    cpu0, wall0 = time.thread_time(), time.perf_counter()
    try:
        generate(_library(), seed, settings, is_cancelled=is_cancelled)
    except GenerationCancelled:
        pass
    return {"model": model_name, "cpu_ms": round((seen[0][0] - cpu0) * 1000, 1),
            "wall_ms": round((seen[0][1] - wall0) * 1000, 1)}


_LIBRARY = None


def _library():
    global _LIBRARY
    if _LIBRARY is None:
        from engine.models import ModelLibrary

        _LIBRARY = ModelLibrary()
    return _LIBRARY


def print_large(large: dict) -> None:
    r = large["refuse"]
    print(f"refuse a {large['file_bytes'] / 2**20:.0f} MB MIDI file of {large['notes']:,} notes "
          f"in a fresh process: wall {r['wall_s']:.2f} s, CPU {r['cpu_s']:.2f} s, peak RSS "
          f"{r['peak_rss_mb']:.0f} MB (imports alone: wall "
          f"{large['imports_only']['wall_s']:.2f} s, {large['imports_only']['peak_rss_mb']:.0f} MB)"
          f"\n  -> {r['message']}")


def machine() -> dict:
    return {"python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 1)}


def print_opened(opened: dict) -> None:
    print(f"open a {opened['notes']:,}-note MIDI file ({opened['file_bytes']:,} bytes), "
          f"{WIDTH}x{HEIGHT} piano roll, {opened['visible_notes']:,} notes on screen")
    print(f"{'stage':<22} {'wall ms':>9} {'CPU ms':>8}")
    for stage in ("read_midi", "load_into_document", "first_full_paint", "second_full_paint"):
        print(f"{stage:<22} {opened[stage]['wall_ms']:>9.1f} {opened[stage]['cpu_ms']:>8.1f}")


def cancel_figures(names: list[str], notes: int, cancels: int) -> tuple[list[dict], list[dict]]:
    """Cancel latencies of every model while sampling (at random steps) and while priming
    a big seed: (every run, a summary row per model and stage), the summary printed."""
    from engine.song import melody_song as _melody

    short_seed = _melody([Note(67, 0, 480), Note(71, 480, 480), Note(74, 960, 960)])
    rng = random.Random(7)
    rows = []
    for name in names:
        for _ in range(cancels):
            rows.append({**cancel_latency(name, short_seed, rng.randrange(2, 500), None),
                         "when": "sampling"})
        big_seed = dense_song(notes)
        rows.append({**cancel_latency(name, big_seed, None, 0.05),
                     "when": "priming a 10,000-note seed"})
    print(f"\ncancel latency, 32 bars x 8 variations ({cancels} random steps per model)")
    print(f"{'model':<10} {'when':<28} {'cancelled':>9} {'median ms':>10} {'worst ms':>9}")
    summary = []
    for name in names:
        for when in ("sampling", "priming a 10,000-note seed"):
            sel = [r for r in rows if r["model"] == name and r["when"] == when]
            lat = [r["latency_ms"] for r in sel if r.get("cancelled")]
            entry = {"model": name, "when": when, "runs": len(sel), "cancelled": len(lat),
                     "median_ms": round(statistics.median(lat), 3) if lat else None,
                     "worst_ms": round(max(lat), 3) if lat else None}
            summary.append(entry)
            median = entry["median_ms"] if lat else "-"
            worst = entry["worst_ms"] if lat else "-"
            print(f"{name:<10} {when:<28} {len(lat):>4}/{len(sel):<4} {median:>10} {worst:>9}")
    return rows, summary


def main() -> int:
    ap = common.parser(__doc__, first_line=True)
    ap.add_argument("--notes", type=int, default=10_000)
    ap.add_argument("--cancels", type=int, default=10, help="cancels per model")
    ap.add_argument("--large-mb", type=float, default=30,
                    help="size of the over-the-limit MIDI file")
    ap.add_argument("--only-large", action="store_true",
                    help="only refuse the large MIDI file (writes "
                         "bench/results/big_inputs_large_midi.json)")
    common.add_out(ap, "big_inputs")
    args = ap.parse_args()
    large = refuse_large_file(args.large_mb)
    print_large(large)
    if args.only_large:
        common.write_json(Path(args.out).with_name("big_inputs_large_midi.json"), {
            "refuse_large_midi": large, **machine(),
            "command": "QT_QPA_PLATFORM=offscreen .venv/bin/python bench/big_inputs.py "
                       "--only-large"})
        return 0
    opened = open_big_file(args.notes)
    print_opened(opened)
    names = _library().names
    rows, summary = cancel_figures(names, args.notes, args.cancels)
    before = [work_before_first_check(name, dense_song(args.notes)) for name in names]
    print("\nwork before the first cancel check, 10,000-note seed (a Cancel pressed at once)")
    for b in before:
        print(f"{b['model']:<10} CPU {b['cpu_ms']:>8.1f} ms   wall {b['wall_ms']:>8.1f} ms")
    common.write_json(Path(args.out), {
        "open_10k_note_midi": opened, "refuse_large_midi": large,
        "cancel_latency": summary, "cancel_runs": rows,
        "work_before_first_cancel_check_10k_seed": before,
        "size": [WIDTH, HEIGHT], **machine(),
        "command": "QT_QPA_PLATFORM=offscreen .venv/bin/python bench/big_inputs.py "
                   f"--cancels {args.cancels}",
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
