"""The long fuzz run: thousands of mutated real files fed to every reader of user files,
and mutated MIDI files fed to every command-line job with each model family.

    nice -n 19 .venv/bin/python scripts/fuzz_long.py --count 10000 --jobs 2
    nice -n 19 .venv/bin/python scripts/fuzz_long.py --readers jobs --count 2000 --jobs 2

Each reader's inputs are numbered; input ``i`` of reader ``r`` is a deterministic
mutation (tests/fuzz/mutators.py) of a real file (tests/fuzz/seeds.py) drawn from
``random.Random(f"{seed}:{r}:{i}")``, so any failure can be replayed with
``--replay r:i``.  Inputs run in worker subprocesses with an address-space cap
(``resource.setrlimit(RLIMIT_AS)``) and a per-input timer; a worker that stops
answering is killed and counted as a hang, one that dies as a crash.

Outcomes per input: ``ok`` (read), the name of the ContinuoError subclass that refused
it (``MidiFileError``, ``LimitError``, ...), or a failure: ``bug`` (another exception
escaped, or the message does not name the file), ``hang`` (more CPU time than
``--seconds-per-mb`` x size, at least ``--min-seconds``; CPU time because the machine
is shared), ``memory`` (hit the cap),
``crash`` (the worker died).  The figures go to tests/fuzz/results/fuzz_long.json and
failing inputs to tests/fuzz/crashes/.

A job "reader" (``generate-lstm``, ``fill-poly-wavenet``, ``harmonise-poly-lstm``, ...;
``jobs`` names them all) runs ``main.py JOB --model MODEL`` in the worker on mutated
MIDI files (the midi reader's inputs: input ``i`` is the same bytes for every job), with
``--job-seconds`` of CPU per run.  Its outcomes: ``ok`` (finished), ``refused`` (exit 1
with one line), ``hang`` (over the CPU budget), ``bug`` (a traceback, or a message that
is not one line), ``memory``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import resource
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ALL_READERS = ("midi", "abc", "musicxml", "kern", "card")
# command-line jobs, each with each model family: melody (LSTM, WaveNet), fill (LSTM,
# WaveNet) and polyphonic (LSTM, WaveNet)
ALL_JOBS = ("generate-lstm", "generate-wavenet", "generate-poly-lstm", "generate-poly-wavenet",
            "fill-lstm-fill", "fill-wavenet-fill", "fill-poly-lstm", "fill-poly-wavenet",
            "harmonise-poly-lstm", "harmonise-poly-wavenet")


def is_job(reader: str) -> bool:
    return reader.split("-", 1)[0] in ("generate", "fill", "harmonise", "score")


def input_kind(reader: str) -> str:
    """The reader whose inputs a job is fed: mutated MIDI files."""
    return "midi" if is_job(reader) else reader


def job_argv(reader: str, path: Path, out: Path) -> list[str]:
    job, model = reader.split("-", 1)
    if job == "generate":
        return ["generate", "--model", model, "--seed", str(path), "-o", str(out)]
    if job == "fill":  # the second bar: most seeds have music on both sides of it
        return ["fill", "--model", model, "--seed", str(path), "--from", "2", "--to", "2",
                "-o", str(out)]
    if job == "harmonise":
        return ["harmonise", "--model", model, str(path), "-o", str(out)]
    return ["score", "--model", model, str(path)]
FAILURES = ("bug", "hang", "memory", "crash")


class Timeout(BaseException):
    """Raised by the per-input timer; a BaseException so no reader can swallow it."""


def make_input(seed: int, reader: str, index: int) -> tuple[str, str, str, bytes]:
    """(seed file name, suffix, mutation names, bytes) of input ``index``: the same
    numbers always give the same input."""
    from tests.fuzz.mutators import mutate
    from tests.fuzz.seeds import seeds

    reader = input_kind(reader)
    pool = seeds(reader)
    rng = random.Random(f"{seed}:{reader}:{index}")
    s = rng.choice(pool)
    names, data = mutate(rng, reader, s.suffix, s.data, [p.data for p in pool])
    return s.name, s.suffix, names, data


def budget_seconds(size: int, args: argparse.Namespace) -> float:
    return max(args.min_seconds, args.seconds_per_mb * size / 2**20)


# ---------------------------------------------------------------------------------------
# worker: reads input numbers on stdin, answers one JSON line each on stdout
# ---------------------------------------------------------------------------------------


def job_worker(args: argparse.Namespace) -> None:
    """The worker of a job reader: each input written to a file and run through
    ``main.main`` here (tests/fuzz/hostile.py's run_job: output caught, a CPU alarm)."""
    cap = args.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    os.chdir(REPO)
    from tests.fuzz.hostile import run_job

    folder = Path(tempfile.mkdtemp(prefix="continuo-fuzz-job-"))
    out = sys.stdout
    sys.stdout = sys.stderr
    for line in sys.stdin:
        index = int(line)
        name, suffix, mutation, data = make_input(args.seed, args.reader, index)
        path = folder / f"in{index}{suffix}"
        path.write_bytes(data)
        started = time.perf_counter()
        result = run_job(args.reader, job_argv(args.reader, path, folder / "out.mid"),
                         args.job_seconds)
        outcome = {"ok": "ok", "refused": "refused", "hang": "hang"}.get(result["outcome"])
        if outcome is None:
            outcome = "memory" if "MemoryError" in result["stderr"] else "bug"
        for leftover in folder.iterdir():
            leftover.unlink(missing_ok=True)
        message = result["stderr"].strip().splitlines()
        out.write(json.dumps({"i": index, "seed": name, "mutation": mutation,
                              "bytes": len(data), "outcome": outcome,
                              "message": (result["stderr"] if outcome == "bug"
                                          else message[-1] if message else "")[-300:],
                              "cpu": result["cpu_s"],
                              "seconds": round(time.perf_counter() - started, 4)}) + "\n")
        out.flush()


def worker(args: argparse.Namespace) -> None:
    if is_job(args.reader):
        job_worker(args)
        return
    # the score readers' own time budget (engine/limits.py), short here so that a
    # pathological input costs a second, not the default 30 s
    os.environ.setdefault("CONTINUO_SCORE_SECONDS", "1")
    cap = args.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    from tests.fuzz.oracle import ReaderBug, run_reader

    if args.reader in ("abc", "musicxml", "kern"):
        import music21  # noqa: F401  (imported once per worker, not per input)

    def on_alarm(_signum, _frame):
        raise Timeout()

    # CPU time, not wall time: the machine is shared, and a hang is the reader's work
    signal.signal(signal.SIGPROF, on_alarm)
    folder = Path(tempfile.mkdtemp(prefix="continuo-fuzz-"))
    out = sys.stdout
    sys.stdout = sys.stderr  # music21 prints warnings; keep the answer channel clean
    for line in sys.stdin:
        index = int(line)
        try:
            name, suffix, mutation, data = make_input(args.seed, args.reader, index)
        except MemoryError:  # the fuzzer's own mutation, not a reader: say so and go on
            out.write(json.dumps({"i": index, "seed": "", "mutation": "", "bytes": 0,
                                  "outcome": "fuzzer-memory", "message": "", "seconds": 0}) + "\n")
            out.flush()
            continue
        started = time.perf_counter()
        message = ""
        signal.setitimer(signal.ITIMER_PROF, budget_seconds(len(data), args))
        try:
            outcome = run_reader(args.reader, suffix, data, folder, stem=f"in{index}")
        except Timeout:
            outcome = "hang"
        except ReaderBug as e:
            outcome, message = ("memory", str(e)) if "MemoryError" in str(e) else ("bug", str(e))
        except MemoryError:
            outcome = "memory"
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        for leftover in folder.iterdir():  # a timed-out reader may leave its input behind
            leftover.unlink(missing_ok=True)
        out.write(json.dumps({"i": index, "seed": name, "mutation": mutation,
                              "bytes": len(data), "outcome": outcome, "message": message[:300],
                              "seconds": round(time.perf_counter() - started, 4)}) + "\n")
        out.flush()


# ---------------------------------------------------------------------------------------
# parent: hands out inputs, polices workers, counts
# ---------------------------------------------------------------------------------------


class Worker:
    def __init__(self, args: argparse.Namespace, reader: str) -> None:
        cmd = [sys.executable, __file__, "--worker", "--reader", reader,
               "--seed", str(args.seed), "--memory-mb", str(args.memory_mb),
               "--seconds-per-mb", str(args.seconds_per_mb), "--min-seconds", str(args.min_seconds),
               "--job-seconds", str(args.job_seconds)]
        log = open(Path(args.out).with_suffix(f".{reader}.stderr"), "a")  # for post-mortems
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log, text=True, bufsize=1)
        log.close()
        self.index: int | None = None
        self.sent_at = 0.0
        self.cpu_at_send = 0.0
        self.budget = 0.0
        self.done = 0

    def cpu_seconds(self) -> float:
        """CPU time the worker has used (user + system), from /proc: on a shared
        machine at nice 19 a worker may wait minutes for a core, which is no hang."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def send(self, index: int, budget: float) -> None:
        self.index, self.sent_at, self.budget = index, time.monotonic(), budget
        self.cpu_at_send = self.cpu_seconds()
        self.proc.stdin.write(f"{index}\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def run_reader_inputs(args: argparse.Namespace, reader: str, report: dict) -> None:
    from tests.fuzz.seeds import seeds

    if not seeds(input_kind(reader)):
        report[reader] = {"inputs": 0, "skipped": f"no real {reader} files to start from"}
        print(f"{reader}: skipped, no seed files", flush=True)
        return
    counts: collections.Counter[str] = collections.Counter()
    by_mutation: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    failures: list[dict] = []
    slowest: list[dict] = []
    over_10_s = 0  # runs over 10 s of CPU (jobs) or of wall time (readers)
    total_bytes = 0
    started = time.monotonic()
    pending = iter(range(args.start, args.start + args.count))
    sel = selectors.DefaultSelector()
    workers: list[Worker] = []

    def spawn() -> None:
        w = Worker(args, reader)
        workers.append(w)
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)
        feed(w)

    def feed(w: Worker) -> None:
        nxt = next(pending, None)
        if nxt is None:
            w.index = None
        else:
            # the worker times each input by its size; this backstop (for a worker stuck
            # in C code) allows the largest input a mutation makes, without regenerating
            # every input here, which cost as much CPU as the readers for zip bombs
            w.send(nxt, args.job_seconds if is_job(reader)
                   else budget_seconds(16 * 2**20, args))

    def retire(w: Worker) -> None:
        sel.unregister(w.proc.stdout)
        w.kill()
        workers.remove(w)

    def record(result: dict) -> None:
        nonlocal total_bytes, over_10_s
        outcome = result["outcome"]
        over_10_s += outcome == "hang" or result.get("cpu", result["seconds"]) > 10
        counts[outcome] += 1
        total_bytes += result["bytes"]
        for m in result["mutation"].split("+"):
            by_mutation[m][outcome] += 1
        slowest.append(result)
        slowest.sort(key=lambda r: -r["seconds"])
        del slowest[5:]
        if outcome in FAILURES:
            failures.append(result)
            name, suffix, _, data = make_input(args.seed, reader, result["i"])
            crash_dir = REPO / "tests" / "fuzz" / "crashes"
            crash_dir.mkdir(parents=True, exist_ok=True)
            (crash_dir / f"{reader}-{args.seed}-{result['i']}{suffix}").write_bytes(data)
            print(f"  {reader} #{result['i']}: {outcome} ({result['mutation']} of {name}, "
                  f"{result['bytes']} bytes) {result['message'][:160]}", flush=True)
        n = sum(counts.values())
        if n % 250 == 0 and args.partial:
            Path(args.partial).write_text(json.dumps(
                {"reader": reader, "inputs": n, "outcomes": dict(counts),
                 "failures": failures[:50], "wall_seconds": round(time.monotonic() - started, 1),
                 "time": time.strftime("%H:%M:%S")}, indent=1))
        if n % 500 == 0:
            print(f"  {reader}: {n} inputs, {dict(counts)}, "
                  f"{time.monotonic() - started:.0f} s", flush=True)

    for _ in range(args.jobs):
        spawn()
    while any(w.index is not None for w in workers):
        for key, _ in sel.select(timeout=1.0):
            w: Worker = key.data
            line = w.proc.stdout.readline()
            if not line:  # the worker died: a crash of the reader (or of the interpreter)
                try:
                    w.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
                name, suffix, mutation, data = make_input(args.seed, reader, w.index)
                record({"i": w.index, "seed": name, "mutation": mutation, "bytes": len(data),
                        "outcome": "crash", "seconds": round(time.monotonic() - w.sent_at, 3),
                        "message": f"worker exited with {w.proc.poll()}"})
                retire(w)
                spawn()
                continue
            record(json.loads(line))
            w.done += 1
            if w.done >= args.recycle:  # music21 keeps caches; a fresh worker stays small
                w.index = None
                retire(w)
                spawn()
            else:
                feed(w)
        now = time.monotonic()
        for w in list(workers):  # the in-worker timer failed (stuck in C): kill it
            if w.index is None:
                continue
            used = w.cpu_seconds() - w.cpu_at_send
            if used > 2 * w.budget + 10 or now - w.sent_at > 3600:
                _, _, mutation, data = make_input(args.seed, reader, w.index)
                record({"i": w.index, "seed": "", "mutation": mutation, "bytes": len(data),
                        "outcome": "hang", "seconds": round(now - w.sent_at, 3),
                        "message": f"killed: no answer after {used:.0f} s of CPU"})
                retire(w)
                spawn()
    for w in list(workers):
        retire(w)
    elapsed = time.monotonic() - started
    report[reader] = {
        "inputs": sum(counts.values()),
        "outcomes": dict(counts.most_common()),
        "failures": len(failures),
        "failed_inputs": failures[:50],
        "bytes_fed": total_bytes,
        "wall_seconds": round(elapsed, 1),
        "inputs_per_second": round(sum(counts.values()) / elapsed, 2),
        "seed_files": [s.name for s in seeds(input_kind(reader))],
        "over_10_s": over_10_s,
        "by_mutation": {m: dict(c) for m, c in sorted(by_mutation.items())},
        "slowest": slowest,
    }
    print(f"{reader}: {sum(counts.values())} inputs in {elapsed:.0f} s: {dict(counts)}, "
          f"{over_10_s} over 10 s", flush=True)


def merge(paths: list[str], out: Path) -> int:
    """Add up reports of runs over disjoint input ranges (full reports, or the partial
    ones a run rewrites every 250 inputs, for a run stopped by the clock)."""
    readers: dict[str, dict] = {}
    for name in paths:
        data = json.loads(Path(name).read_text())
        parts = data["readers"].items() if "readers" in data else [(data["reader"], data)]
        for reader, part in parts:
            total = readers.setdefault(reader, {"inputs": 0, "outcomes": collections.Counter(),
                                                "failures": 0, "failed_inputs": [],
                                                "wall_seconds": 0.0, "runs": []})
            total["inputs"] += part["inputs"]
            total["outcomes"].update(part.get("outcomes", {}))
            failed = part.get("failed_inputs", part.get("failures", []))
            failed = failed if isinstance(failed, list) else []
            total["failed_inputs"] += failed
            total["failures"] += len(failed)
            total["wall_seconds"] += part.get("wall_seconds", 0.0)
            total["runs"].append({"file": Path(name).name, "inputs": part["inputs"]})
    for total in readers.values():
        total["outcomes"] = dict(total["outcomes"].most_common())
    report = {"merged_from": [Path(p).name for p in paths], "readers": readers}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    for reader, total in readers.items():
        print(f"{reader:<9} {total['inputs']:>6} inputs  failures {total['failures']}  "
              f"{total['outcomes']}")
    return 1 if any(t["failures"] for t in readers.values()) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", default=",".join(ALL_READERS),
                        help="readers and jobs, comma-separated ('jobs': every job, "
                             f"{', '.join(ALL_JOBS)})")
    parser.add_argument("--count", type=int, default=10_000, help="inputs per reader")
    parser.add_argument("--start", type=int, default=0, help="number of the first input")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--memory-mb", type=int, default=3072, help="address-space cap per worker")
    parser.add_argument("--seconds-per-mb", type=float, default=5.0,
                        help="an input slower than this per MB of input is a hang")
    parser.add_argument("--min-seconds", type=float, default=5.0)
    parser.add_argument("--job-seconds", type=float, default=10.0,
                        help="CPU seconds a job may take on one input before it is a hang")
    parser.add_argument("--recycle", type=int, default=300, help="inputs per worker process")
    parser.add_argument("--out",
                        default=str(REPO / "tests" / "fuzz" / "results" / "fuzz_long.json"))
    parser.add_argument("--partial", help="a JSON file rewritten every 250 inputs")
    parser.add_argument("--merge", nargs="+", metavar="REPORT",
                        help="add up reports of runs over disjoint ranges into --out")
    parser.add_argument("--replay", help="READER:INDEX: run one input here and show the outcome")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reader", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    if args.merge:
        return merge(args.merge, Path(args.out))
    if args.replay:
        from tests.fuzz.oracle import run_reader

        reader, index = args.replay.split(":")
        name, suffix, mutation, data = make_input(args.seed, reader, int(index))
        print(f"{mutation} of {name}: {len(data)} bytes")
        t = time.perf_counter()
        if is_job(reader):
            from tests.fuzz.hostile import run_job

            folder = Path(tempfile.mkdtemp())
            (folder / f"in{suffix}").write_bytes(data)
            print(json.dumps(run_job(reader, job_argv(reader, folder / f"in{suffix}",
                                                      folder / "out.mid"),
                                     args.job_seconds), indent=1))
            return 0
        print(run_reader(reader, suffix, data, Path(tempfile.mkdtemp())),
              f"{time.perf_counter() - t:.2f} s")
        return 0
    report: dict = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
                    "seed": args.seed, "count_per_reader": args.count, "start": args.start,
                    "memory_cap_mb": args.memory_mb, "seconds_per_mb": args.seconds_per_mb,
                    "min_seconds": args.min_seconds, "job_cpu_seconds": args.job_seconds,
                    "score_budget_seconds": float(os.environ.get("CONTINUO_SCORE_SECONDS", 1)),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"), "readers": {}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    readers = [r for name in args.readers.split(",")
               for r in (ALL_JOBS if name == "jobs" else (name,))]
    for reader in readers:
        run_reader_inputs(args, reader, report["readers"])
        report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=1))
        os.replace(tmp, out)  # written after each reader, so a cut-short run still reports
    failed = sum(r.get("failures", 0) for r in report["readers"].values())
    print(f"wrote {out}; {failed} failing inputs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
