"""MIDI clock through a real loopback, both ways (JACK, like bench/midi_timing.py).

1. **Sent clock.**  The player, sending clock ("send" sync), plays 60 s at 120 BPM into a
   real output connected to a real input in this process.  Reported: each Timing
   Clock's send time minus its ideal time in the song's tempo map (p50/p99/max; goal
   p99 <= 1 ms), clocks lost between the output and the input (goal 0), and, for
   information, arrival minus ideal time (JACK delivers once per period: up to
   256/48000 s = 5.3 ms later).
2. **Following.**  Another process sends Start and clock at 120 BPM for 60 s, jumps to
   90 BPM for 10 s, sends Stop, a Song Position Pointer and Continue, and clocks on for
   5 s.  Continuo follows it through a real input and plays a 16th-note passage.
   Reported: each note's send time minus the time the sender sent the clock of that
   note's position (both processes read the same CLOCK_MONOTONIC; goal p99 <= 2 ms at
   120 BPM), the time until the followed tempo is within 1 BPM of 90 and stays there
   (in beats; goal <= 1), and whether the first note after the pointer jump is the
   note at the pointer's position.  For reading those: the same notes against the
   sender's ideal times (a sender that is itself held up moves its clock, and so the
   first reference), the follower's prediction alone (due time minus the sender's
   clock), the player's scheduling alone (send minus due) and the sender's own jitter.
   The sender sleeps to each tick (no spinning: that would take the CPU the follower
   needs at the same instants).

Usage:  .venv/bin/python bench/midi_clock.py [--api jack|alsa] [--seconds 60]
        [--jump-seconds 10] [--out bench/results/midi_clock.json]
``--jump-seconds 0`` leaves the tempo jump and the pointer out (bench/live_timing.sh's
quick rounds: the sent clock and following at 120 BPM only).
Needs a running JACK server (jackd -S --no-realtime -d dummy -r 48000 -p 256) or an
ALSA sequencer.  Prints a table and writes JSON with the machine's load; nothing here
asserts a time.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

import mido

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loopback  # noqa: E402
from bench.common import add_out, parser, percentile, write_json  # noqa: E402
from bench.midi_timing import TimedPlayer  # noqa: E402
from engine.live.clock import CLOCKS_PER_QUARTER, SYNC_FOLLOW, SYNC_SEND  # noqa: E402
from engine.live.player import Player  # noqa: E402
from engine.live.ports import MidiSystem  # noqa: E402
from engine.song import Note, melody_song  # noqa: E402

PPQ = 480
SIXTEENTH = PPQ // 4
TICKS_PER_CLOCK = PPQ // CLOCKS_PER_QUARTER


def stats_ms(values_s: list[float]) -> dict[str, float] | None:
    if not values_s:
        return None
    ms = [v * 1000 for v in values_s]
    return {"p50_ms": percentile(ms, 0.5), "p99_ms": percentile(ms, 0.99),
            "max_ms": max(ms), "min_ms": min(ms), "count": len(ms)}


def abs_stats_ms(values_s: list[float]) -> dict[str, float] | None:
    s = stats_ms([abs(v) for v in values_s])
    if s is not None:
        s["signed_p50_ms"] = percentile([v * 1000 for v in values_s], 0.5)
    return s


# ---- 1. sent clock -------------------------------------------------------------------------
SendingPlayer = TimedPlayer  # records (due, sent, message) of every message it sends


def bench_sent_clock(system: MidiSystem, seconds: float) -> dict:
    quarters = round(seconds * 2)  # 120 BPM
    notes = [Note(60 + i % 12, i * PPQ, PPQ // 2) for i in range(quarters)]
    notes[-1] = Note(60, (quarters - 1) * PPQ, PPQ)  # the song ends on the last beat
    song = melody_song(notes, ppq=PPQ, bpm=120)
    sink, out, received = loopback.sink(system, "ClockSink")
    player = SendingPlayer(out)
    player.set_sync(SYNC_SEND)
    time.sleep(0.3)
    try:
        player.play(song)
        if not player.done.wait(seconds * 2 + 30):
            raise SystemExit("sending: playback did not finish")
        clocks = [(d, s) for d, s, m in player.sent if m.type == "clock"]
        loopback.drain(lambda: sum(m.type == "clock" for _, m in received) >= len(clocks)
                       and any(m.type == "stop" for _, m in received))
    finally:
        out.close()
        sink.close()
    got = [t for t, m in received if m.type == "clock"]
    lost = max(0, len(clocks) - len(got))
    arrival = [t - d for (d, _), t in zip(clocks, got)] if not lost else []
    kinds = [m.type for _, m in received if m.type in ("start", "stop", "continue", "songpos")]
    return {
        "bpm": 120, "seconds": seconds, "clocks_sent": len(clocks), "clocks_received": len(got),
        "lost": lost, "transport_received": kinds, "player_thread_sched_fifo": player.realtime,
        "send_error": stats_ms([s - d for d, s in clocks]),
        "arrival_minus_ideal": stats_ms(arrival),
    }


# ---- 2. following another process ----------------------------------------------------------
SENDER = r'''
import json, os, sys, time
sys.path.insert(0, sys.argv[3])
import mido
from engine.live.ports import MidiSystem
api, client, out_path = sys.argv[1], sys.argv[2], sys.argv[4]
seconds, jump_seconds = float(sys.argv[5]), float(sys.argv[6])
# a DAW sends its clock from a real-time thread: so does this stand-in where the system
# allows it (sent late, each clock would move the reference itself)
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(20))
    realtime = True
except (AttributeError, OSError):
    realtime = False
port = MidiSystem(api).open_virtual_output("clock", client_name=client)
print("ready", realtime, flush=True)
sys.stdin.readline()
log = []
def at(due):  # a plain sleep: spinning would take the CPU the follower needs then
    left = due - time.monotonic()
    if left > 0:
        time.sleep(left)
def send(kind, position, due, **kw):
    at(due)
    sent = time.monotonic()
    port.send(mido.Message(kind, **kw))
    log.append((kind, position, due, sent))
t = time.monotonic() + 0.2
send("start", 0, t)
pos = 0
for bpm, length in ((120, seconds), (90, jump_seconds)):
    interval = 60 / bpm / 24
    for _ in range(round(length / interval)):
        send("clock", pos, t)
        pos += 1
        t += interval
send("stop", pos, t)
if jump_seconds > 0:
    jump = 16 * round(pos / 6 / 16 + 8)   # a whole bar, eight bars on: in 16ths
    t += 0.5
    send("songpos", jump * 6, t, pos=jump)
    t += 0.1
    send("continue", jump * 6, t)
    pos = jump * 6
    interval = 60 / 90 / 24
    for _ in range(round(jump_seconds / 2 / interval)):
        send("clock", pos, t)
        pos += 1
        t += interval
    send("stop", pos, t)
time.sleep(0.3)
port.close()
json.dump({"realtime": realtime, "log": log}, open(out_path, "w"))
'''


class FollowingPlayer(Player):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.notes: list[tuple[float, float, int, int]] = []  # due, sent, pitch, velocity
        self.errors: list[str] = []
        self.tempos: list[tuple[float, float | None]] = []  # (arrival, followed BPM)

    def on_sent(self, due_s: float, sent_s: float, msg: mido.Message) -> None:
        if msg.type == "note_on" and msg.velocity:
            self.notes.append((due_s, sent_s, msg.note, msg.velocity))

    def on_error(self, message: str) -> None:
        self.errors.append(message)

    def feed_clock(self, msg: mido.Message, t: float) -> None:
        super().feed_clock(msg, t)
        if msg.type == "clock":
            self.tempos.append((t, self.follower.tempo_bpm()))


def passage_key(k: int) -> tuple[int, int]:
    """The (pitch, velocity) that names the k-th 16th note of the passage."""
    return 36 + k % 48, 1 + (k // 48) % 127


def bench_following(system: MidiSystem, api: str, seconds: float, tmp: Path,
                    jump_seconds: float = 10.0) -> dict:
    sixteenths = int((seconds * 2 + jump_seconds * 1.5 + 8 * 4 + jump_seconds * 0.75) * 4) + 64
    notes = [Note(*passage_key(k)[:1], k * SIXTEENTH, SIXTEENTH // 2, passage_key(k)[1])
             for k in range(sixteenths)]
    tick_of = {passage_key(k): k * SIXTEENTH for k in range(sixteenths)}
    song = melody_song(notes, ppq=PPQ, bpm=60)  # its own tempo is never used
    player, received, sent = follow_sender(system, api, seconds, tmp, song, jump_seconds)
    figures = following_figures(player, received, sent["log"], seconds, tick_of)
    figures["sender_realtime"] = sent["realtime"]
    return figures


def follow_sender(system: MidiSystem, api: str, seconds: float, tmp: Path, song,
                  jump_seconds: float = 10.0):
    """Play ``song`` following the sender process's clock into a loopback: (the player,
    what the loopback received, the sender's record: "log" of what it sent when, and
    whether it ran "realtime")."""
    client = f"ClockDaw{uuid.uuid4().hex[:6]}"
    log_path = tmp / f"{client}.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sender = subprocess.Popen([sys.executable, "-c", SENDER, api, client, str(ROOT),
                               str(log_path), str(seconds), str(jump_seconds)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    sink, out, received = loopback.sink(system, "FollowSink")
    player = FollowingPlayer(out)
    player.set_sync(SYNC_FOLLOW)
    player.set_follow_song(song)
    try:
        if not sender.stdout.readline().startswith("ready"):
            raise SystemExit("following: the sender did not start")
        port = system.open_input(next(n for n in system.input_names() if client in n),
                                 callback=player.feed_clock, clock=player.clock)
        time.sleep(0.3)
        sender.stdin.write("go\n")
        sender.stdin.flush()
        sender.wait(timeout=seconds + 60)
        time.sleep(0.3)
        port.close()
    finally:
        if sender.poll() is None:
            sender.kill()
        player.stop()
        out.close()
        sink.close()
    record = json.loads(log_path.read_text())
    log_path.unlink()
    return player, received, record


def following_figures(player: FollowingPlayer, received, log, seconds: float,
                      tick_of: dict) -> dict:
    """The notes' times against the sender's clock, the tempo shown after the jump, and
    the first note after the Song Position Pointer."""
    # when the sender sent the clock of each position, in each segment
    stop_at = next(s for kind, _, _, s in log if kind == "stop")
    # (None, inf) where the run had no jump (--jump-seconds 0)
    jump_msg = next(((p, s) for kind, p, _, s in log if kind == "songpos"),
                    (None, float("inf")))
    sent_at_first = {p: s for kind, p, _, s in log if kind == "clock" and s < stop_at}
    sent_at_after = {p: s for kind, p, _, s in log if kind == "clock" and s > jump_msg[1]}
    ideal_first = {p: d for kind, p, d, s in log if kind == "clock" and s < stop_at}
    n120 = round(seconds / (60 / 120 / 24))
    change_at = next((s for kind, p, _, s in log if kind == "clock" and p == n120), stop_at)

    err_120, err_120_ideal, err_90, err_after, due_120 = [], [], [], [], []
    after_jump: list[tuple[float, int]] = []
    for due, sent, pitch, vel in player.notes:
        tick = tick_of[(pitch, vel)]
        clock_pos = tick // TICKS_PER_CLOCK
        if sent < stop_at:
            if clock_pos in sent_at_first:
                if clock_pos < n120:
                    err_120.append(sent - sent_at_first[clock_pos])
                    due_120.append(due - sent_at_first[clock_pos])
                    err_120_ideal.append(sent - ideal_first[clock_pos])
                else:
                    err_90.append(sent - sent_at_first[clock_pos])
        elif sent > jump_msg[1]:
            after_jump.append((sent, tick))
            if clock_pos in sent_at_after:
                err_after.append(sent - sent_at_after[clock_pos])
    # the tempo shown after the jump to 90 BPM
    shown = [(t, bpm) for t, bpm in player.tempos if change_at <= t < stop_at]
    settle_s = None
    for i, (t, bpm) in enumerate(shown):
        if all(b is not None and abs(b - 90) <= 1 for _, b in shown[i:]):
            settle_s = t - change_at
            break
    first_after = min(after_jump)[1] if after_jump else None
    jump_tick = None if jump_msg[0] is None else jump_msg[0] * TICKS_PER_CLOCK
    return {
        "sender": "another process: Start, 120 BPM, a jump to 90 BPM, Stop, SPP, Continue",
        "notes_played": len(player.notes), "player_thread_sched_fifo": player.realtime,
        "sender_send_minus_ideal_120bpm": stats_ms([s - d for kind, p, d, s in log
                                                    if kind == "clock" and p < n120]),
        "errors": player.errors,
        "note_vs_sender_clock_120bpm": abs_stats_ms(err_120),
        "note_vs_sender_ideal_120bpm": abs_stats_ms(err_120_ideal),
        "note_due_vs_sender_clock_120bpm": abs_stats_ms(due_120),
        "note_vs_sender_clock_90bpm_incl_jump": abs_stats_ms(err_90),
        "note_vs_sender_clock_after_spp": abs_stats_ms(err_after),
        "note_send_minus_due": stats_ms([s - d for d, s, _, _ in player.notes
                                         if d != float("inf")]),
        "tempo_within_1bpm_after_jump_s": settle_s,
        "tempo_within_1bpm_after_jump_beats": (settle_s / (60 / 90)
                                               if settle_s is not None else None),
        "spp_jump_tick": jump_tick,
        "first_note_after_spp_tick": first_after,
        "first_note_after_spp_is_at_the_position": (None if jump_tick is None
                                                    else first_after == jump_tick),
        "notes_received_at_sink": sum(m.type == "note_on" and m.velocity
                                      for _, m in received),
    }


def row(name: str, s: dict | None, goal: str) -> None:
    if s is None:
        print(f"{name:44} {'-':>9} {'-':>9} {'-':>9}  {goal}")
    else:
        print(f"{name:44} {s['p50_ms']:9.3f} {s['p99_ms']:9.3f} {s['max_ms']:9.3f}  {goal}")


def print_report(result: dict) -> None:
    sent, follow, m = result["sent_clock"], result["following"], result["machine"]
    print(f"MIDI clock, {result['api']}; load avg {m['load_avg_1m_before']:.2f} before, "
          f"{m['load_avg_1m_after']:.2f} after, on {m['cpus']} CPUs (nice {m['nice']})")
    print(f"{'measure':44} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}  goal")
    row(f"sent clock: send - ideal ({sent['clocks_sent']} ticks, 120 BPM)",
        sent["send_error"], "p99 <= 1 ms")
    row("sent clock: arrival - ideal (info)", sent["arrival_minus_ideal"], "")
    print(f"sent clock: lost {sent['lost']} of {sent['clocks_sent']} (goal 0); transport "
          f"received: {' '.join(sent['transport_received'])}")
    row("the sender's own clock: send - ideal (info)", follow["sender_send_minus_ideal_120bpm"],
        "")
    row("following 120 BPM: |note - sender's clock|", follow["note_vs_sender_clock_120bpm"],
        "p99 <= 2 ms")
    row("following 120 BPM: |note - sender's ideal|", follow["note_vs_sender_ideal_120bpm"], "")
    row("following 120 BPM: |due - sender's clock|", follow["note_due_vs_sender_clock_120bpm"],
        "(the prediction alone)")
    row("following 90 BPM, jump included", follow["note_vs_sender_clock_90bpm_incl_jump"], "")
    row("following after the SPP jump", follow["note_vs_sender_clock_after_spp"], "")
    row("following: note send - due (scheduling)", follow["note_send_minus_due"], "")
    beats = follow["tempo_within_1bpm_after_jump_beats"]
    if follow["spp_jump_tick"] is None:
        print("tempo jump and SPP: not run (--jump-seconds 0)")
    else:
        print_jump(follow, beats)
    if follow["errors"]:
        print("player errors: " + "; ".join(follow["errors"]))


def print_jump(follow: dict, beats: float | None) -> None:
    print(f"tempo 120 -> 90 BPM: within 1 BPM (and staying) after "
          f"{'never' if beats is None else f'{beats:.2f} beats'} (goal <= 1 beat)")
    same = follow["first_note_after_spp_is_at_the_position"]
    print(f"SPP jump to tick {follow['spp_jump_tick']}: first note after it at tick "
          f"{follow['first_note_after_spp_tick']} "
          f"({'the one at that position' if same else 'WRONG'})")


def main() -> int:
    ap = parser(__doc__, first_line=True)
    ap.add_argument("--api", default=None, help="jack or alsa (default: the first working)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--jump-seconds", type=float, default=10.0,
                    help="the followed clock's 90 BPM part (the part after the SPP jump "
                         "lasts half of it); 0 leaves the tempo jump and the SPP out")
    add_out(ap, "midi_clock")
    args = ap.parse_args()
    api = loopback.choose_api(args.api)
    if api is None:
        return 2
    system = MidiSystem(api)
    load_before = os.getloadavg()[0]
    sent = bench_sent_clock(system, args.seconds)
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    follow = bench_following(system, api, args.seconds, tmp, args.jump_seconds)
    result = {
        "what": "MIDI clock through a real loopback: sent by the player; followed from "
                "another process",
        "api": api,
        "jack_period_s": loopback.jack_period_s() if api == "jack" else None,
        "sent_clock": sent,
        "following": follow,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "load_avg_1m_before": load_before,
                    "load_avg_1m_after": os.getloadavg()[0],
                    "nice": os.nice(0)},
        "command": "python bench/midi_clock.py " + " ".join(sys.argv[1:]),
    }
    print_report(result)
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
