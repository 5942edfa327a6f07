"""The hostile-input corpus (issue 23): small MIDI files made by code, each the kind of
input that once made a job hang or balloon, and a driver that runs every command-line
job against them in one process.

    python -m tests.fuzz.hostile [--budget SECONDS] [--only FIXTURE] [--jobs a,b]

prints one JSON line per (fixture, job): the exit status, what the job wrote on stderr,
its CPU seconds and an ``outcome``: ``ok`` (finished, exit 0), ``refused`` (exit 1 with
one line "continuo JOB: ..."), or a failure: ``hang`` (more than the budget of CPU
time), ``traceback`` (an exception escaped main()), ``bad-message`` (more or fewer
lines than one, or another exit status).  The test (tests/fuzz/test_hostile_jobs.py)
runs it in a subprocess with a hard timeout of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


# ---------------------------------------------------------------------------------------
# MIDI bytes, written by hand: the writer in engine/formats would refuse most of these
# ---------------------------------------------------------------------------------------


def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def chunk(body: bytes) -> bytes:
    return b"MTrk" + len(body).to_bytes(4, "big") + body


def track(*events: bytes) -> bytes:
    return chunk(b"".join(events) + b"\x00\xff\x2f\x00")


def smf(ppq: int, *tracks: bytes, fmt: int = 1) -> bytes:
    return (b"MThd" + (6).to_bytes(4, "big") + fmt.to_bytes(2, "big")
            + len(tracks).to_bytes(2, "big") + ppq.to_bytes(2, "big") + b"".join(tracks))


def note(delta: int, pitch: int, length: int, channel: int = 0, velocity: int = 80) -> bytes:
    return (vlq(delta) + bytes((0x90 | channel, pitch, velocity))
            + vlq(length) + bytes((0x80 | channel, pitch, 0)))


def four_short_notes(ppq: int = 4) -> bytes:
    return b"".join(note(0, p, ppq) for p in (60, 62, 64, 65))


def long_note_file() -> bytes:
    """The 81-byte file of issue 23: ppq 4, four short notes on one track, and one note
    of 0x0FFFFFFF ticks on another (poly-wavenet looped over every beat of it)."""
    return smf(4, track(four_short_notes()), track(note(0, 48, 0x0FFFFFFF, channel=1)))


def tempo(us: int) -> bytes:
    return b"\x00\xff\x51\x03" + us.to_bytes(3, "big")


def fixtures() -> dict[str, bytes]:
    """Name -> bytes of every hostile file."""
    every_tick = b"".join(note(0, 60 + (i % 12), 1) for i in range(3000))
    return {
        "long_note.mid": long_note_file(),
        # the same note, but the longest a track can hold and on the melody's own track
        "long_note_one_track.mid": smf(4, track(four_short_notes(),
                                                note(0, 48, 0x0FFFFFFF))),
        "huge_ppq.mid": smf(32767, track(four_short_notes(32767)),
                            track(note(0, 48, 32767 * 4, channel=1))),
        "tiny_ppq.mid": smf(1, track(*(note(0, 60 + i % 7, 1) for i in range(64)))),
        # one tick a quarter note in 6/8: an eighth note is half a tick
        "ppq_1_in_6_8.mid": smf(1, track(b"\x00\xff\x58\x04\x06\x03\x18\x08",
                                         *(note(0, 60 + i % 7, 1) for i in range(24)))),
        "tempo_1us.mid": smf(96, track(tempo(1), four_short_notes(96)),
                             track(note(0, 48, 384, channel=1))),
        "tempo_max.mid": smf(96, track(tempo(0xFFFFFF), four_short_notes(96))),
        "tempo_every_tick.mid": smf(96, track(*(tempo(300_000 + i) + b"\x01\xff\x01\x00"
                                               for i in range(5000))),
                                    track(four_short_notes(96))),
        "ten_thousand_tracks.mid": smf(96, *(track(note(i % 4 * 96, 40 + i % 48, 96,
                                                        channel=i % 16))
                                             for i in range(10_000))),
        "note_every_tick.mid": smf(480, track(every_tick)),
        "all_128_pitches_at_once.mid": smf(96, track(*(vlq(0) + bytes((0x90, p, 80))
                                                      for p in range(128)),
                                                    *(vlq(384 if p == 0 else 0)
                                                      + bytes((0x80, p, 0))
                                                      for p in range(128)))),
        "zero_length_notes.mid": smf(96, track(*(vlq(24) + bytes((0x90, 60 + i % 12, 80))
                                                 + b"\x00" + bytes((0x80, 60 + i % 12, 0))
                                                 for i in range(2000)))),
        # 20,000 zero-length notes on one tick under a melody (the fuzzer's floods)
        "flood_on_one_tick.mid": smf(96, track(four_short_notes(96)),
                                     track(*(b"\x00" + bytes((0x91, 40 + i % 24, 80)) + b"\x00"
                                             + bytes((0x81, 40 + i % 24, 0))
                                             for i in range(20_000)))),
        "far_apart.mid": smf(96, track(note(0, 60, 96), note(0x0FFFFFF0, 62, 96)),
                             track(note(0, 48, 96, channel=1),
                                   note(0x0FFFFFF0, 50, 96, channel=1))),
        # four notes, then a rest of 0x0FFFFFF ticks before the end of the track
        "late_end_of_track.mid": smf(96, chunk(four_short_notes(96) + vlq(0x0FFFFFF)
                                               + b"\xff\x2f\x00")),
        "drums_only.mid": smf(96, track(*(note(0, 36 + i % 10, 24, channel=9)
                                          for i in range(200)))),
        "no_notes.mid": smf(96, track(tempo(500_000))),
    }


# ---------------------------------------------------------------------------------------
# the jobs
# ---------------------------------------------------------------------------------------

JOBS: dict[str, Callable[[Path, Path], list[str]]] = {
    "generate-lstm": lambda f, out: ["generate", "--model", "lstm", "--seed", str(f),
                                     "-o", str(out)],
    "generate-poly": lambda f, out: ["generate", "--model", "poly-wavenet", "--seed", str(f),
                                     "-o", str(out)],
    "generate-default": lambda f, out: ["generate", "--seed", str(f), "-o", str(out)],
    "fill": lambda f, out: ["fill", "--seed", str(f), "--from", "1", "--to", "1",
                            "-o", str(out)],
    "fill-poly": lambda f, out: ["fill", "--model", "poly-wavenet", "--seed", str(f),
                                 "--from", "2", "--to", "2", "-o", str(out)],
    "harmonise": lambda f, out: ["harmonise", str(f), "-o", str(out)],
    "score": lambda f, out: ["score", str(f)],
    "chords": lambda f, out: ["chords", str(f), "--json"],
    "regenerate": lambda f, out: ["generate", "--seed", str(f), "--only-part", "1",
                                  "-o", str(out)],
}


class Hang(BaseException):
    """The job used more than its CPU budget."""


def run_job(job: str, argv: list[str], budget: float) -> dict:
    """``main.main(argv)`` here, with stdout and stderr caught and a CPU-time alarm."""
    import main as continuo

    err, out = io.StringIO(), io.StringIO()

    def on_alarm(_signum, _frame):
        raise Hang()

    previous = signal.signal(signal.SIGPROF, on_alarm)
    cpu = time.process_time()
    status: int | None = None
    escaped = ""
    signal.setitimer(signal.ITIMER_PROF, budget)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                status = continuo.main(argv)
            except SystemExit as e:  # argparse
                status = e.code if isinstance(e.code, int) else 1
    except Hang:
        escaped = "hang"
    except BaseException:  # noqa: BLE001 - what the user would see as a traceback
        escaped = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    cpu = time.process_time() - cpu
    lines = err.getvalue().splitlines()
    if escaped == "hang":
        outcome = "hang"
    elif escaped:
        outcome = "traceback"
    elif status == 0:
        outcome = "ok"
    elif status == 1 and len(lines) == 1 and lines[0].startswith("continuo ") \
            and "Traceback" not in lines[0]:
        outcome = "refused"
    else:
        outcome = "bad-message"
    return {"job": job, "exit": status, "outcome": outcome, "cpu_s": round(cpu, 3),
            "stderr": (escaped or err.getvalue())[-2000:]}


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM; ru_maxrss would count the peak
    of the process that started it, which exec hands on)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=5.0, help="CPU seconds per job")
    parser.add_argument("--only", help="fixtures, comma-separated (default: all)")
    parser.add_argument("--jobs", help="jobs, comma-separated (default: all)")
    parser.add_argument("--skip", default="", help="fixture:job pairs to leave out")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.chdir(REPO)
    folder = Path(tempfile.mkdtemp(prefix="continuo-hostile-"))
    files = fixtures()
    names = args.only.split(",") if args.only else list(files)
    jobs = args.jobs.split(",") if args.jobs else list(JOBS)
    skip = set(filter(None, args.skip.split(",")))
    for name in names:
        path = folder / name
        path.write_bytes(files[name])
        for job in jobs:
            if f"{name}:{job}" in skip:
                continue
            out = folder / "out" / f"{path.stem}-{job}.mid"
            out.parent.mkdir(exist_ok=True)
            result = run_job(job, JOBS[job](path, out), args.budget)
            result["fixture"] = name
            result["bytes"] = len(files[name])
            result["peak_rss_mb"] = peak_rss_mb()
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
