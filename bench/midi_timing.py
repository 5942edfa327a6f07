"""MIDI timing through a real loopback: the player -> a real rtmidi output -> a real input.

Plays a 1,000-note passage (2,000 messages) through JACK (or ALSA) and reports:

* scheduling error: the clock just before each send minus the message's due time
  (median, p99, max; goal p99 <= 1 ms);
* arrival delay: the clock when the input callback got the message minus the send
  time (JACK delivers MIDI once per period, so expect up to 256/48000 s = 5.3 ms);
* lost messages (goal 0) and messages out of order.

Usage:  .venv/bin/python bench/midi_timing.py [--api jack|alsa] [--notes 1000]
        [--step-ms 5] [--out bench/results/midi_timing.json]
Needs a running JACK server (scripts/test.sh starts one: jackd -S --no-realtime -d dummy
-r 48000 -p 256) or an ALSA sequencer.  Prints a table and writes JSON; nothing here
asserts a time.  On a starved CPU (load far above the core count) an asynchronous JACK
server (no -S) drops the MIDI of every client that misses its period (we saw 15 and 88
of 2,000 lost at load 12 on 2 cores); a synchronous one (-S) loses nothing but delays
arrivals instead.  The figures depend on the machine's load, which the JSON records.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import mido

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.formats import write_bytes_atomic  # noqa: E402
from engine.live.player import Player  # noqa: E402
from engine.live.ports import MidiSystem, working_apis  # noqa: E402
from engine.song import Note, melody_song  # noqa: E402


class TimedPlayer(Player):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[float, float, mido.Message]] = []
        self.done = threading.Event()

    def on_sent(self, due_s: float, sent_s: float, msg: mido.Message) -> None:
        self.sent.append((due_s, sent_s, msg))

    def on_finished(self) -> None:
        self.done.set()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {"median_ms": statistics.median(ms), "p99_ms": percentile(ms, 0.99),
            "max_ms": max(ms), "min_ms": min(ms), "mean_ms": statistics.fmean(ms)}


def jack_period_s() -> float | None:
    try:
        rate = subprocess.run(["jack_samplerate"], capture_output=True, text=True, timeout=5)
        size = subprocess.run(["jack_bufsize"], capture_output=True, text=True, timeout=5)
        return int(size.stdout.split()[0]) / int(rate.stdout.split()[0])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def choose_api(wanted: str | None) -> str | None:
    """``wanted``, else JACK when it runs, else the first working MIDI system; None (with
    a line on stderr saying what to start) when none runs."""
    apis = working_apis()
    api = wanted or ("jack" if "jack" in apis else apis[0] if apis else None)
    if api is None:
        print("No JACK server or ALSA sequencer is running; start one "
              "(jackd -S --no-realtime -d dummy -r 48000 -p 256).", file=sys.stderr)
    return api


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api", default=None, help="jack or alsa (default: the first working)")
    ap.add_argument("--notes", type=int, default=1000)
    ap.add_argument("--step-ms", type=float, default=5.0, help="time between note starts")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "midi_timing.json"))
    args = ap.parse_args()

    api = choose_api(args.api)
    if api is None:
        return 2
    system = MidiSystem(api)

    bpm = 120.0
    ppq = 480
    sec_per_tick = 60 / bpm / ppq
    step = max(1, round(args.step_ms / 1000 / sec_per_tick))
    notes = [Note(36 + (i * 7) % 60, i * step, max(1, step * 4 // 5), 1 + i % 127)
             for i in range(args.notes)]
    song = melody_song(notes, ppq=ppq, bpm=bpm)

    received: list[tuple[float, mido.Message]] = []
    client = f"ContinuoBench{uuid.uuid4().hex[:6]}"
    sink = system.open_virtual_input("sink", client_name=client,
                                     callback=lambda m, t: received.append((t, m)))
    out_name = next(n for n in system.output_names() if client in n)
    out = system.open_output(out_name)
    player = TimedPlayer(out)
    time.sleep(0.3)  # let the connection settle
    try:
        player.play(song)
        if not player.done.wait(args.notes * args.step_ms / 1000 * 3 + 30):
            print("playback did not finish", file=sys.stderr)
            return 1
        expected = [(d, s, m) for d, s, m in player.sent if m.type in ("note_on", "note_off")]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            got = [x for x in received if x[1].type in ("note_on", "note_off")]
            if len(got) >= len(expected):
                break
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        out.close()
        sink.close()

    got = [x for x in received if x[1].type in ("note_on", "note_off")]
    sched_err = [s - d for d, s, _ in expected]
    # pair arrivals with sends in order (both streams are in send order when nothing is lost)
    sent_bytes = [m.bytes() for _, _, m in expected]
    got_bytes = [m.bytes() for _, m in got]
    in_order = got_bytes == sent_bytes
    lost = max(0, len(expected) - len(got))
    arrival = [t - s for (_, s, _), (t, _) in zip(expected, got)] if in_order else []
    period = jack_period_s() if api == "jack" else None

    result = {
        "what": "player -> real rtmidi output -> real rtmidi input (loopback)",
        "api": api,
        "jack_period_s": period,
        "notes": args.notes,
        "messages_sent": len(expected),
        "messages_received": len(got),
        "lost": lost,
        "in_order": in_order,
        "note_step_ms": step * sec_per_tick * 1000,
        "scheduling_error": summary(sched_err),
        "arrival_delay": summary(arrival) if arrival else None,
        "arrival_within_one_period": (sum(a <= period for a in arrival) / len(arrival)
                                      if arrival and period else None),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]},
        "command": "python bench/midi_timing.py " + " ".join(sys.argv[1:]),
    }

    rows = [("scheduling error (sent - due)", result["scheduling_error"])]
    if result["arrival_delay"]:
        rows.append(("arrival delay (received - sent)", result["arrival_delay"]))
    print(f"MIDI timing, {api}, {args.notes} notes ({len(expected)} messages), "
          f"one every {result['note_step_ms']:.2f} ms; "
          f"load avg {result['machine']['load_avg_1m']:.2f}")
    print(f"{'measure':34} {'median ms':>10} {'p99 ms':>10} {'max ms':>10}")
    for name, s in rows:
        print(f"{name:34} {s['median_ms']:10.3f} {s['p99_ms']:10.3f} {s['max_ms']:10.3f}")
    print(f"lost messages: {lost}   in order: {in_order}   received: {len(got)}/{len(expected)}")
    if period:
        share = result["arrival_within_one_period"]
        print(f"JACK period: {period * 1000:.3f} ms; arrivals within one period: "
              f"{share * 100 if share is not None else float('nan'):.1f}%")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(args.out, (json.dumps(result, indent=2) + "\n").encode())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
