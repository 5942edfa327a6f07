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
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import mido

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import loopback  # noqa: E402
from bench.common import add_out, parser, percentile, write_json  # noqa: E402
from engine.live.player import Player  # noqa: E402
from engine.live.ports import MidiSystem  # noqa: E402
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


def summary(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {"median_ms": statistics.median(ms), "p99_ms": percentile(ms, 0.99),
            "max_ms": max(ms), "min_ms": min(ms), "mean_ms": statistics.fmean(ms)}


def passage(count: int, step_ms: float):
    """``count`` notes, one every ``step_ms`` (on the tick grid of 480 PPQ at 120 BPM):
    the song and the step in milliseconds."""
    bpm = 120.0
    ppq = 480
    sec_per_tick = 60 / bpm / ppq
    step = max(1, round(step_ms / 1000 / sec_per_tick))
    notes = [Note(36 + (i * 7) % 60, i * step, max(1, step * 4 // 5), 1 + i % 127)
             for i in range(count)]
    return melody_song(notes, ppq=ppq, bpm=bpm), step * sec_per_tick * 1000


def play_through(system: MidiSystem, song, args: argparse.Namespace):
    """Play ``song`` into a loopback: (the note messages sent as (due, sent, message), those
    received as (time, message)), or None when playback does not finish."""
    sink, out, received = loopback.sink(system, "ContinuoBench")
    player = TimedPlayer(out)
    time.sleep(0.3)  # let the connection settle
    try:
        player.play(song)
        if not player.done.wait(args.notes * args.step_ms / 1000 * 3 + 30):
            print("playback did not finish", file=sys.stderr)
            return None
        expected = [(d, s, m) for d, s, m in player.sent if m.type in ("note_on", "note_off")]
        loopback.drain(lambda: sum(m.type in ("note_on", "note_off")
                                   for _, m in received) >= len(expected))
    finally:
        out.close()
        sink.close()
    return expected, [x for x in received if x[1].type in ("note_on", "note_off")]


def figures(api: str, notes: int, step_ms: float, expected, got) -> dict:
    """The JSON: scheduling error, arrival delay (when nothing was lost or reordered),
    losses and the machine."""
    sched_err = [s - d for d, s, _ in expected]
    # pair arrivals with sends in order (both streams are in send order when nothing is lost)
    sent_bytes = [m.bytes() for _, _, m in expected]
    got_bytes = [m.bytes() for _, m in got]
    in_order = got_bytes == sent_bytes
    arrival = [t - s for (_, s, _), (t, _) in zip(expected, got)] if in_order else []
    period = loopback.jack_period_s() if api == "jack" else None
    return {
        "what": "player -> real rtmidi output -> real rtmidi input (loopback)",
        "api": api,
        "jack_period_s": period,
        "notes": notes,
        "messages_sent": len(expected),
        "messages_received": len(got),
        "lost": max(0, len(expected) - len(got)),
        "in_order": in_order,
        "note_step_ms": step_ms,
        "scheduling_error": summary(sched_err),
        "arrival_delay": summary(arrival) if arrival else None,
        "arrival_within_one_period": (sum(a <= period for a in arrival) / len(arrival)
                                      if arrival and period else None),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]},
        "command": "python bench/midi_timing.py " + " ".join(sys.argv[1:]),
    }


def print_report(result: dict) -> None:
    rows = [("scheduling error (sent - due)", result["scheduling_error"])]
    if result["arrival_delay"]:
        rows.append(("arrival delay (received - sent)", result["arrival_delay"]))
    print(f"MIDI timing, {result['api']}, {result['notes']} notes "
          f"({result['messages_sent']} messages), "
          f"one every {result['note_step_ms']:.2f} ms; "
          f"load avg {result['machine']['load_avg_1m']:.2f}")
    print(f"{'measure':34} {'median ms':>10} {'p99 ms':>10} {'max ms':>10}")
    for name, s in rows:
        print(f"{name:34} {s['median_ms']:10.3f} {s['p99_ms']:10.3f} {s['max_ms']:10.3f}")
    print(f"lost messages: {result['lost']}   in order: {result['in_order']}   received: "
          f"{result['messages_received']}/{result['messages_sent']}")
    period = result["jack_period_s"]
    if period:
        share = result["arrival_within_one_period"]
        print(f"JACK period: {period * 1000:.3f} ms; arrivals within one period: "
              f"{share * 100 if share is not None else float('nan'):.1f}%")


def main() -> int:
    ap = parser(__doc__, first_line=True)
    ap.add_argument("--api", default=None, help="jack or alsa (default: the first working)")
    ap.add_argument("--notes", type=int, default=1000)
    ap.add_argument("--step-ms", type=float, default=5.0, help="time between note starts")
    add_out(ap, "midi_timing")
    args = ap.parse_args()
    api = loopback.choose_api(args.api)
    if api is None:
        return 2
    song, step_ms = passage(args.notes, args.step_ms)
    played = play_through(MidiSystem(api), song, args)
    if played is None:
        return 1
    result = figures(api, args.notes, step_ms, *played)
    print_report(result)
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
