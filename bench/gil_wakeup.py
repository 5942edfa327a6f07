"""How late a real-time timing thread wakes while another Python thread of the process
works: the GIL's share of the live threads' tail (issue 28).

A thread asks for SCHED_FIFO (as the player's scheduler, the accompanist and the MIDI
input do, engine.live.player.realtime_thread) and wakes every 20.8 ms (a MIDI clock at
120 BPM) with ``threading.Event.wait``; it records how late each wake-up is, once it
holds the GIL again.  Another thread of the process either sleeps ("idle") or runs
Python without pause ("busy": the GUI thread painting a piano roll, a reader thread
decoding a reply).  Each case runs with Python's default GIL switch interval (5 ms) and
with engine.live.accompanist.LIVE_SWITCH_INTERVAL_S, the interval set while live.

Usage:  .venv/bin/python bench/gil_wakeup.py [--seconds 8] [--out bench/results/gil_wakeup.json]
Nothing here asserts a time; the figures follow the machine's load (in the JSON).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import add_out, load_averages, parser, write_json  # noqa: E402
from engine.live.accompanist import LIVE_SWITCH_INTERVAL_S  # noqa: E402

PERIOD_S = 60 / 120 / 24  # a MIDI clock at 120 BPM

PROBE = r'''
import json, os, sys, threading, time
interval, busy, seconds, period = float(sys.argv[1]), sys.argv[2] == "busy", \
    float(sys.argv[3]), float(sys.argv[4])
sys.setswitchinterval(interval)
late, stop = [], False
def timing():
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        rt = True
    except (AttributeError, OSError):
        rt = False
    ev, t0, k = threading.Event(), time.monotonic() + 0.1, 0
    while t0 + k * period < t0 + seconds:
        due = t0 + k * period
        left = due - time.monotonic()
        if left > 0:
            ev.wait(left)
        late.append(time.monotonic() - due)
        k += 1
    late.append(rt)
def work():
    x = 0
    while not stop:
        x += sum(range(200))
th = threading.Thread(target=timing)
th.start()
if busy:
    threading.Thread(target=work, daemon=True).start()
th.join()
stop = True
print(json.dumps(late))
'''


def run(interval: float, other: str, seconds: float) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, repr(interval), other, repr(seconds),
                          repr(PERIOD_S)], capture_output=True, text=True, check=True)
    values = json.loads(out.stdout)
    realtime = bool(values.pop())
    ms = sorted(v * 1000 for v in values)
    n = len(ms)
    return {"switch_interval_ms": interval * 1000, "other_thread": other,
            "realtime": realtime, "wakeups": n, "p50_ms": round(ms[n // 2], 3),
            "p99_ms": round(ms[min(n - 1, int(n * 0.99))], 3), "max_ms": round(ms[-1], 3)}


def main() -> int:
    ap = parser(__doc__, first_line=True)
    ap.add_argument("--seconds", type=float, default=8.0)
    add_out(ap, "gil_wakeup")
    args = ap.parse_args()
    before = load_averages()
    rows = [run(interval, other, args.seconds)
            for other in ("idle", "busy") for interval in (0.005, LIVE_SWITCH_INTERVAL_S)]
    print(f"{'other thread':14}{'switch ms':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for r in rows:
        print(f"{r['other_thread']:14}{r['switch_interval_ms']:>10.1f}{r['p50_ms']:>10.3f}"
              f"{r['p99_ms']:>10.3f}{r['max_ms']:>10.3f}")
    write_json(args.out, {"what": "SCHED_FIFO thread wake-up lateness against another "
                          "Python thread of the process", "period_ms": PERIOD_S * 1000,
                          "rows": rows, "load_avg_before": before,
                          "load_avg_after": load_averages(), "cpus": os.cpu_count(),
                          "command": "python bench/gil_wakeup.py " + " ".join(sys.argv[1:])})
    return 0


if __name__ == "__main__":
    sys.exit(main())
