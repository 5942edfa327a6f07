"""The live accompanist through a real MIDI loopback: key press -> voices, timed.

Continuo's side (this process) opens a virtual input and a virtual output on JACK (or
ALSA) and runs the accompanist (engine/live/accompanist.py) between them, with the
input read the app's way (engine.live.ports.PortInput).  Another process (this file
with ``--player``) plays Essen test-split melodies (bench/reads_right.essen_tunes: the
tunes of the fixed test split, one after another with a bar's rest between them) at
120 BPM into that input, in time with the accompanist's step clock, and listens on its
output.  When the melody is over, Continuo stops the accompanist and the player counts
what is still sounding.

The JSON (bench/results/accompanist.json, or --out) has:

* ``latency_ms`` p50 / p99 / max: the player's key press (its clock before the send)
  to the first note-on the accompanist sent for that step (the player's clock when its
  input got it), over the presses whose step starts a voice note;
  ``internal_latency_ms``: the same inside Continuo (the input's time of the press to
  the accompanist's send);
* ``latency_parts_ms``: each press followed across both processes (they read the same
  monotonic clock): ``jack_in`` the player's send to Continuo's feed() (JACK's period
  and the input's reader), ``wake`` to the loop taking it up, ``model`` the step's
  sampling, ``send`` to its first note-on, ``jack_out`` to the player hearing it (the
  next JACK period); ``sample_cpu_ms``, the accompanist thread's CPU per sampled step;
* ``steps``, ``late_steps`` (sent more than 10 ms after due), ``dropped_steps``;
* ``stuck_notes``: note-ons the player heard without a note-off once Stop was done;
* the load average before and after, the CPU count and the JACK period.

Usage:  .venv/bin/python bench/accompanist.py [--notes 2000] [--model poly-wavenet] [--drums]
        [--busy 0] [--longest N] [--no-speculate] [--api jack]
        [--out bench/results/accompanist.json]
``--busy N`` runs N more processes spinning on a core each for the run (load + N);
``--no-speculate``: the voices' model is not fed the next step's melody note ahead of
the key (engine/generation/live_harmony.py, Speculation), the press making that call;
``--longest N`` holds no note, nor waits between presses, longer than N steps (more
presses a minute; bench/live_timing.py uses 4).
The Essen tunes move mostly in half and whole notes as they are read (about 1.6 s a note
at 120 BPM), so 2,000 notes take some 53 minutes; ``--notes`` shortens the run.
Needs a running JACK server (jackd -S --no-realtime -d dummy -r 48000 -p 256) or an ALSA
sequencer (JACK_DEFAULT_SERVER picks a named JACK server).  Nothing here asserts a time;
the figures depend on the machine's load.

Where the time goes: JACK moves MIDI once per period P (256 frames at 48 kHz: 5.33 ms),
so a key reaches Continuo at the next period start (0 to P after the press) and the
voices leave at the period start after Continuo has sent them (P later, while the step
takes less than P).  Key to voices is thus about P to 2P plus any step longer than P:
with P = 5.33 ms its p99 cannot go below about 10.6 ms whatever the model costs; with
P = 128 frames (2.67 ms) it can.  A step whose sampling runs past the end of the period
it arrived in waits one period more.  The first press used to pay for the model's
state (a WaveNet's: some 10 ms); LiveHarmony and LiveDrums now take it when made.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import loopback  # noqa: E402
from bench.common import ROOT, add_out, parser, percentile, write_json  # noqa: E402

BPM = 120.0
STEP_S = 60.0 / (BPM * 4)


def summary_ms(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    if not ms:
        return {"count": 0}
    return {"count": len(ms), "p50": round(statistics.median(ms), 3),
            "p99": round(percentile(ms, 0.99), 3), "max": round(max(ms), 3),
            "mean": round(statistics.fmean(ms), 3)}


def melody_steps(notes_wanted: int, longest: int | None = None
                 ) -> tuple[list[tuple[int, int, int]], int, str]:
    """Essen test tunes' melodies on the sixteenth grid, one after another (a bar's rest
    between tunes) until ``notes_wanted`` notes: (start, end, pitch), the tunes used,
    and the key of the first tune (the accompanist's key lock).  ``longest``: no note
    lasts more steps than this, the tune moving on sooner (more presses a minute)."""
    from bench.reads_right import essen_tunes
    from engine.encodings import estimate_song_key

    out: list[tuple[int, int, int]] = []
    at, used, key = 0, 0, None
    for _, song in essen_tunes(400):
        track = next((t for t in song.tracks if t.notes), None)
        if track is None:
            continue
        step = song.ppq // 4
        notes = sorted(track.notes, key=lambda n: n.start_tick)
        first = notes[0].start_tick // step
        end = at
        last_start = None
        for n in notes:
            s = at + n.start_tick // step - first
            e = at + max(n.start_tick // step + 1, n.end_tick // step) - first
            if s == last_start:
                continue  # a chord in a tune: its top note is the melody
            out.append((s, e, n.pitch))
            last_start = s
            end = max(end, e)
            if len(out) >= notes_wanted:
                break
        key = key or estimate_song_key(track.notes).name
        used += 1
        at = end + 16
        if len(out) >= notes_wanted:
            break
    # a note cut by the next one ends where it begins
    fixed = []
    for i, (s, e, p) in enumerate(out):
        nxt = out[i + 1][0] if i + 1 < len(out) else e
        fixed.append((s, max(s + 1, min(e, nxt)), p))
    return (fixed if longest is None else shortened(fixed, longest)), used, key or "C"


def shortened(melody: list[tuple[int, int, int]], longest: int) -> list[tuple[int, int, int]]:
    """``melody`` with every note, and every gap from one press to the next, at most
    ``longest`` steps."""
    out: list[tuple[int, int, int]] = []
    at = 0
    for i, (s, e, p) in enumerate(melody):
        out.append((at, at + min(e - s, longest), p))
        if i + 1 < len(melody):
            at += min(melody[i + 1][0] - s, longest)
    return out


def spin(stop_at: float) -> None:
    while time.monotonic() < stop_at:
        pass


# ---------------------------------------------------------------------------------------
# the player (another process)
# ---------------------------------------------------------------------------------------


def player_main(args: argparse.Namespace) -> int:
    import mido
    import rtmidi

    from engine.live.ports import MidiSystem

    # the stand-in keyboard presses on time where the system allows real-time (JACK's own
    # threads are as the server makes them: real-time only with a real-time server)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(20))
    except (AttributeError, OSError):
        pass
    system = MidiSystem(args.api)
    melody = json.loads(Path(args.melody).read_text())
    t0 = float(args.t0)
    out = system.backend.open_output(args.into)
    received: list[tuple[float, bytes]] = []
    api = {"jack": rtmidi.API_UNIX_JACK, "alsa": rtmidi.API_LINUX_ALSA}[system.api]
    listener = rtmidi.MidiIn(rtapi=api, name="BenchPlayerIn")
    names = listener.get_ports()
    listener.open_port(names.index(args.listen))
    listener.set_callback(lambda item, _: received.append((time.monotonic(), bytes(item[0]))))
    events = []
    for s, e, p in melody:
        events.append((t0 + s * STEP_S, 1, p))
        events.append((t0 + e * STEP_S - 0.002, 0, p))  # let go just before the next step
    events.sort(key=lambda ev: (ev[0], ev[1]))
    presses: list[tuple[float, int]] = []
    for t, on, p in events:
        while True:
            delay = t - time.monotonic()
            if delay <= 0:
                break
            time.sleep(delay if delay > 0.002 else 0.0002)
        sent = time.monotonic()
        out.send(mido.Message("note_on" if on else "note_off", note=p,
                              velocity=90 if on else 0))
        if on:
            presses.append((sent, p))
    print("played", flush=True)
    sys.stdin.readline()  # Continuo has stopped the accompanist
    time.sleep(0.5)
    listener.cancel_callback()
    listener.close_port()
    out.close()
    print(json.dumps(heard(received, presses)), flush=True)
    return 0


def heard(received: list[tuple[float, bytes]], presses: list[tuple[float, int]]) -> dict:
    """What the player heard: each press's latency to the first note-on within 3/4 of a
    step after it, the presses without one, and the notes left sounding."""
    ons = sorted(t for t, b in received if b[0] & 0xF0 == 0x90 and b[2] > 0)
    lat, pairs, silent = [], [], 0
    j = 0
    for t, _ in presses:
        while j < len(ons) and ons[j] < t:
            j += 1
        if j < len(ons) and ons[j] - t < 0.75 * STEP_S:
            lat.append(ons[j] - t)
            pairs.append((t, ons[j]))
        else:
            silent += 1
    sounding: dict[tuple[int, int], int] = {}
    for _, b in received:
        kind, ch = b[0] & 0xF0, b[0] & 0x0F
        if kind == 0x90 and b[2] > 0:
            sounding[(ch, b[1])] = sounding.get((ch, b[1]), 0) + 1
        elif kind in (0x80, 0x90):
            sounding[(ch, b[1])] = max(0, sounding.get((ch, b[1]), 0) - 1)
        elif kind == 0xB0 and b[1] == 123:  # All Notes Off
            for k in [k for k in sounding if k[0] == ch]:
                sounding[k] = 0
    return {"latencies_s": lat, "pairs": pairs, "presses": len(presses),
            "presses_without_a_new_voice_note": silent, "note_ons_heard": len(ons),
            "stuck_notes": sum(sounding.values())}


# ---------------------------------------------------------------------------------------
# Continuo's side
# ---------------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    ap = parser(__doc__, first_line=True)
    ap.add_argument("--api", default=None)
    ap.add_argument("--notes", type=int, default=2000)
    ap.add_argument("--longest", type=int, default=None,
                    help="hold no note (nor wait between presses) longer than this many "
                         "steps: a denser run for a quick check (bench/live_timing.sh)")
    ap.add_argument("--model", default=None,
                    help="poly-wavenet for the voices, drums-lstm for --drums")
    ap.add_argument("--drums", action="store_true",
                    help="Live Drums (the drum model, on channel 10) instead of the voices")
    ap.add_argument("--voices", type=int, default=3)
    ap.add_argument("--busy", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-speculate", action="store_true",
                    help="the voices' model is not fed ahead of the key (LiveHarmony."
                         "speculate): the A/B of that change in one sitting")
    add_out(ap, "accompanist")
    ap.add_argument("--player", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--melody", help=argparse.SUPPRESS)
    ap.add_argument("--t0", help=argparse.SUPPRESS)
    ap.add_argument("--into", help=argparse.SUPPRESS)
    ap.add_argument("--listen", help=argparse.SUPPRESS)
    return ap.parse_args()


def play_live(args: argparse.Namespace, api: str, melody, key_name: str,
              seconds: float) -> dict | None:
    """The accompanist between a virtual input and output, the player process playing
    ``melody`` into them: what the player heard, the accompanist's stats and error, and
    the load before and after; None when the player fails."""
    from engine.encodings import Key
    from engine.generation.live_drums import LiveDrums
    from engine.generation.live_harmony import LiveHarmony
    from engine.live.accompanist import (DRUMS_LATE_WINDOW_S, INPUT_POLL_S, REALTIME_PRIORITY,
                                         Accompanist, StepClock)
    from engine.live.ports import MidiSystem
    from engine.models import ModelLibrary

    system = MidiSystem(api)
    tag = uuid.uuid4().hex[:6]
    client = f"ContinuoLive{tag}"
    model = ModelLibrary().get(args.model)
    if args.drums:  # the drums' grid: twelve steps a quarter, the presses on every third
        part = LiveDrums(model, style="rock", rng_seed=args.seed)
        options = {"channel": 9, "late_window_s": DRUMS_LATE_WINDOW_S}
    else:
        part = LiveHarmony(model, Key.parse(key_name), voices=args.voices, rng_seed=args.seed,
                           speculate=not args.no_speculate)
        options = {"channel": 1}
    out = system.open_virtual_output("live-out", client_name=client)
    load_before = os.getloadavg()[0]
    busy = []
    t0 = time.monotonic() + 3.0
    grid = StepClock.at_tempo(t0, BPM, part.enc.steps_per_quarter)
    acc = Accompanist(part, out, grid, **options)
    inp = system.open_virtual_input("live-in", client_name=client, callback=acc.feed)
    inp.poll_interval_s = INPUT_POLL_S  # as the app reads its input while live
    inp.realtime_priority = REALTIME_PRIORITY
    into = next(n for n in system.output_names() if client in n and "live-in" in n)
    listen = next(n for n in system.input_names() if client in n and "live-out" in n)
    melody_file = ROOT / ".cache" / f"accompanist-melody-{tag}.json"
    melody_file.parent.mkdir(exist_ok=True)
    melody_file.write_text(json.dumps(melody))
    acc.start()
    for _ in range(args.busy):
        p = multiprocessing.Process(target=spin, args=(t0 + seconds + 2.0,), daemon=True)
        p.start()
        busy.append(p)
    player = subprocess.Popen(
        [sys.executable, __file__, "--player", "--api", api, "--melody", str(melody_file),
         "--t0", repr(t0), "--into", into, "--listen", listen],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = player.stdout.readline()
        if line.strip() != "played":
            print(f"the player process failed: {line!r}", file=sys.stderr)
            return None
        time.sleep(4 * STEP_S)
        error = acc.error
        acc.stop()
        load_after = os.getloadavg()[0]
        player.stdin.write("stopped\n")
        player.stdin.flush()
        heard = json.loads(player.stdout.readline())
        player.wait(timeout=30)
    finally:
        if player.poll() is None:
            player.kill()
        for p in busy:
            p.terminate()
        inp.close()
        out.close()
        melody_file.unlink(missing_ok=True)
    spec = getattr(part, "speculation", None)
    return {"heard": heard, "stats": acc.stats, "error": error,
            "speculated_calls_taken": None if spec is None else spec.adopted,
            "load_before": load_before, "load_after": load_after}


def breakdown(pairs: list[list[float]], trace: list[tuple]) -> dict[str, dict]:
    """Where a key press's time went, press by press (both processes read the same
    monotonic clock): ``jack_in`` the player's send to the accompanist's feed() (JACK's
    period and the input's reader), ``wake`` feed() to the loop taking the press up,
    ``model`` the step's sampling, ``send`` the sampled step to its first note-on,
    ``jack_out`` that note-on to the player's hearing it (JACK's period and the
    listener)."""
    parts: dict[str, list[float]] = {k: [] for k in
                                     ("jack_in", "wake", "model", "send", "jack_out")}
    for sent, got in pairs:
        row = min(trace, key=lambda r: abs(r[0] - sent), default=None)
        if row is None or not sent - 0.001 <= row[0] < sent + 0.5 * STEP_S \
                or not row[4] <= got:
            continue
        _, fed, woke, sampled, first = row
        for name, value in zip(parts, (fed - sent, woke - fed, sampled - woke,
                                       first - sampled, got - first)):
            parts[name].append(value)
    return {name: summary_ms(values) for name, values in parts.items()}


def main() -> int:
    args = arguments()
    if args.player:
        return player_main(args)
    args.model = args.model or ("drums-lstm" if args.drums else "poly-wavenet")
    api = loopback.choose_api(args.api)
    if api is None:
        return 2
    melody, tunes, key_name = melody_steps(args.notes, args.longest)
    seconds = melody[-1][1] * STEP_S
    print(f"{len(melody)} notes from {tunes} Essen test tunes, {seconds:.0f} s at "
          f"{BPM:g} BPM; model {args.model}, key {key_name}", flush=True)
    run = play_live(args, api, melody, key_name, seconds)
    if run is None:
        return 1
    heard, stats = run["heard"], run["stats"]
    load_before, load_after = run["load_before"], run["load_after"]
    period = loopback.jack_period_s()
    result = {
        "api": api, "model": args.model, "part": "drums" if args.drums else "voices",
        "voices": None if args.drums else args.voices, "bpm": BPM,
        "notes": len(melody), "longest": args.longest, "tunes": tunes, "key": key_name, "seconds": round(seconds, 1),
        "latency_ms": summary_ms(heard["latencies_s"]),
        "internal_latency_ms": summary_ms(stats.latencies_s),
        "latency_parts_ms": breakdown(heard["pairs"], stats.trace),
        "sample_cpu_ms": summary_ms(stats.sample_cpu_s),
        "sample_wall_ms": summary_ms([r[3] - r[2] for r in stats.trace]),
        "presses": heard["presses"],
        "presses_without_a_new_voice_note": heard["presses_without_a_new_voice_note"],
        "steps": stats.steps, "late_steps": stats.late_steps,
        "dropped_steps": stats.dropped_steps,
        "dropped_share": round(stats.dropped_steps / max(1, stats.steps), 5),
        "stuck_notes": heard["stuck_notes"], "error": run["error"],
        "speculate": not args.drums and not args.no_speculate,
        "speculated_calls_taken": run["speculated_calls_taken"],
        "busy_processes": args.busy,
        "load_avg_1m_before": load_before, "load_avg_1m_after": load_after,
        "cpus": os.cpu_count(), "nice": os.nice(0),
        "jack_period_ms": None if period is None else period * 1000,
        "jack_server": os.environ.get("JACK_DEFAULT_SERVER", "default"),
        "python": platform.python_version(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    lat = result["latency_ms"]
    print(f"latency p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms (max {lat.get('max')}); "
          f"steps {stats.steps}, late {stats.late_steps}, dropped {stats.dropped_steps}; "
          f"stuck notes {heard['stuck_notes']}; load {load_before:.2f} -> {load_after:.2f}")
    for name, part in result["latency_parts_ms"].items():
        print(f"  {name:9s} p50 {part.get('p50')} ms, p99 {part.get('p99')} ms")
    write_json(args.out, result, say=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
