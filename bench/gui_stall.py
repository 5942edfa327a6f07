"""How long does the GUI thread stall while the app generates 32 bars x 8 variations?

A QTimer fires every 5 ms on the GUI thread and records the gap between its timeouts;
any gap far above 5 ms is time the event loop could not run (painting, input).  The
whole main window is up (piano roll, generate dock) and each shipped model generates
through the real worker, in two flows:

* panel: from pressing Generate until the variations are listed and the first is
  previewed in the piano roll;
* call: call-and-response, from a four-note phrase arriving at the window's player
  bridge (through its input callback, as rtmidi delivers it; no MIDI system is needed)
  until the answer has landed in the piano roll and starts playing.  It generates with
  the panel's settings, as the app does.

    QT_QPA_PLATFORM=offscreen python bench/gui_stall.py [--models DIR] [--runs N]

Prints a table and writes bench/results/gui_stall.json.  The target is < 50 ms.

Each timed run is followed by an idle window of the same length (the same timer, nothing
generating): on a shared, overloaded machine the idle gaps show what the machine itself
costs the GUI thread, which no design of ours can remove.  ``--compare-thread`` also runs
every round with generation on a pool thread inside the GUI process (the first design,
and call-and-response's until it used the generation service); the helper process
exists because that thread, preempted while holding the GIL, stalled the GUI thread far
beyond the idle baseline.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import mido  # noqa: E402
from gui.panels.drums import is_drum_info  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, QTimer  # noqa: E402

TICK_MS = 5
TARGET_MS = 50
QUIET_IDLE_MS = 15  # an idle window whose worst gap stays under this: a quiet machine


class GapRecorder:
    """Max and distribution of the gaps between the timeouts of a 5 ms timer."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.clock = QElapsedTimer()
        self.gaps: list[float] = []
        self._last = 0

    def start(self) -> None:
        self.gaps.clear()
        self.clock.start()
        self._last = self.clock.nsecsElapsed()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        now = self.clock.nsecsElapsed()
        self.gaps.append((now - self._last) / 1e6)  # the gap up to the end counts too

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed()
        self.gaps.append((now - self._last) / 1e6)
        self._last = now


def _wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def idle_window(recorder: GapRecorder, seconds: float) -> float:
    """Max gap with nothing running: what the machine itself costs the GUI thread."""
    recorder.start()
    _wait(int(seconds * 1000))
    recorder.stop()
    return round(max(recorder.gaps), 2)


def _gap_figures(gaps: list[float]) -> dict:
    gaps = sorted(gaps)
    return {"timer_ticks": len(gaps),
            "max_gap_ms": round(gaps[-1], 2),
            "p99_gap_ms": round(gaps[int(0.99 * (len(gaps) - 1))], 2),
            "median_gap_ms": round(statistics.median(gaps), 2)}


def _set_up_panel(panel, model: str, seed: int) -> None:
    panel.select_model(model)
    panel.bars.setValue(32)
    panel.variations_spin.setValue(8)
    panel.temperature.setValue(100)
    panel.set_key_mode("auto")
    panel.rng_seed.setValue(seed)


def one_run(window, recorder: GapRecorder, model: str, seed: int, helper_process: bool
            ) -> dict:
    panel = window.panel
    panel.use_helper_process = helper_process
    _set_up_panel(panel, model, seed)
    loop = QEventLoop()
    panel.generation_finished.connect(loop.quit)
    recorder.start()
    t0 = time.perf_counter()
    if not panel.generate():
        raise SystemExit(f"{model}: generation did not start: {panel.messages.text()}")
    loop.exec()
    _wait(100)  # let the thumbnails and the preview paint before stopping the clock
    recorder.stop()
    elapsed = time.perf_counter() - t0
    panel.generation_finished.disconnect(loop.quit)
    if panel.result is None:
        raise SystemExit(f"{model}: {panel.messages.text()}")
    return {"flow": "panel", "model": model,
            "worker": "process" if helper_process else "thread",
            "wall_s": round(elapsed, 3),
            "notes": sum(len(v) for v in panel.result.variations),
            **_gap_figures(recorder.gaps)}


PHRASE = (60, 64, 67, 72)


def one_call(window, recorder: GapRecorder, model: str, seed: int, helper_process: bool
             ) -> dict:
    """Call-and-response answers one phrase; the answer lands and starts playing."""
    from gui import playback
    from gui.worker import GenerationJob

    bridge = window.transport.player
    _set_up_panel(window.panel, model, seed)
    settings = window.panel.settings()
    if helper_process:
        responder = playback.generator_responder(window.library, settings)  # as the app does
    else:  # the design before the service: generate on a pool thread in this process
        def responder(phrase):
            return GenerationJob(window.library, phrase, settings, use_helper_process=False)
    jobs = []

    def respond(phrase):
        jobs.append(responder(phrase))
        return jobs[-1]

    song = window.doc.song()
    undo_index = window.doc.undo_stack.index()
    bridge.start_call_response(song.tempo_map, 120, window.doc.end_tick, respond, gap_s=0.2)
    exchanges, errors = [], []
    loop = QEventLoop()
    bridge.response_ready.connect(exchanges.append)
    bridge.response_ready.connect(loop.quit)
    bridge.error.connect(errors.append)
    bridge.error.connect(loop.quit)
    QTimer.singleShot(120_000, loop.quit)
    recorder.start()
    t0 = time.perf_counter()
    # a phrase that ended a moment ago, through the input callback rtmidi calls
    t = bridge.clock() - 0.2 * len(PHRASE) - 0.3
    for i, pitch in enumerate(PHRASE):
        bridge._on_input(mido.Message("note_on", note=pitch, velocity=90), t + 0.2 * i)
        bridge._on_input(mido.Message("note_off", note=pitch), t + 0.2 * i + 0.1)
    loop.exec()
    _wait(100)  # the answer lands in the piano roll and starts playing
    recorder.stop()
    elapsed = time.perf_counter() - t0
    for signal, slot in ((bridge.response_ready, exchanges.append),
                         (bridge.response_ready, loop.quit), (bridge.error, errors.append),
                         (bridge.error, loop.quit)):
        signal.disconnect(slot)
    bridge.stop_call_response()
    bridge.stop()
    # take phrase and answer out again: every run, of either flow, starts from the same
    # document (a longer one makes the panel's seed, and its preview, longer)
    window.doc.undo_stack.setIndex(undo_index)
    if not exchanges:
        raise SystemExit(f"{model}: call-and-response gave no answer: {errors}")
    if helper_process and jobs[-1].pid == os.getpid():
        raise SystemExit(f"{model}: call-and-response generated in the GUI process")
    return {"flow": "call", "model": model,
            "worker": "process" if helper_process else "thread",
            "wall_s": round(elapsed, 3), "notes": len(exchanges[0].answer),
            "generated_in": "helper process" if jobs[-1].pid != os.getpid() else "GUI process",
            **_gap_figures(recorder.gaps)}


DRUM_BARS = 32


def one_drums(window, recorder: GapRecorder, model: str, seed: int, helper_process: bool
              ) -> dict:
    """Add Drums (style auto, 8 variations) to the default seed repeated to 32 bars, from
    the request until the variations are listed; the drum model is the engine's choice,
    whatever ``model`` the panel shows."""
    panel, doc = window.panel, window.doc
    panel.use_helper_process = helper_process
    _set_up_panel(panel, model, seed)
    song = doc.song()
    bar = song.ticks_per_bar_at(0)
    span = -(-song.end_tick // bar) * bar
    for track in song.tracks:
        track.notes = [n.moved(k * span, 0) for k in range(DRUM_BARS * bar // span)
                       for n in track.notes]
    doc.load_song(song)
    loop = QEventLoop()
    panel.generation_finished.connect(loop.quit)
    recorder.start()
    t0 = time.perf_counter()
    if not window.drums.start("auto", 8):
        raise SystemExit(f"Add Drums did not start: {panel.messages.text()}")
    loop.exec()
    _wait(100)
    recorder.stop()
    elapsed = time.perf_counter() - t0
    panel.generation_finished.disconnect(loop.quit)
    result = panel.result
    window.open_default_seed()  # the other flows start from the default seed
    if result is None:
        raise SystemExit(f"Add Drums: {panel.messages.text()}")
    return {"flow": "drums", "model": result.model,
            "worker": "process" if helper_process else "thread",
            "wall_s": round(elapsed, 3), "notes": sum(len(v) for v in result.variations),
            **_gap_figures(recorder.gaps)}


def arguments(argv: list[str] | None) -> argparse.Namespace:
    ap = common.parser(__doc__, first_line=True)
    ap.add_argument("--models", help="a models folder (default: the shipped models)")
    ap.add_argument("--runs", type=int, default=3, help="rounds per model")
    ap.add_argument("--compare-thread", action="store_true",
                    help="also run each round with generation on a pool thread in "
                         "this process (the design before the helper process)")
    ap.add_argument("--flows", default="panel,call",
                    help="which flows to measure, comma-separated: panel, call, drums "
                         "(Add Drums on 32 bars, once a round whatever the models)")
    common.add_out(ap, "gui_stall")
    return ap.parse_args(argv)


def measure(window, args: argparse.Namespace, names: list[str]) -> list[dict]:
    """One untimed run per model, flow and worker, then ``--runs`` timed rounds, each run
    followed by an idle window as long as it took."""
    recorder = GapRecorder()
    workers = [True, False] if args.compare_thread else [True]
    flows = [{"panel": one_run, "call": one_call, "drums": one_drums}[f]
             for f in args.flows.split(",")]
    names = [n for n in names if not is_drum_info(window.library.info(n))]  # panel models

    def runs_with(name: str, flow) -> bool:  # Add Drums once a round: the drum model's
        return flow is not one_drums or name == names[0]

    # one untimed run per model, flow and worker: the helper process and sessions start
    for name in names:
        for helper in workers:
            for flow in flows:
                if runs_with(name, flow):
                    flow(window, recorder, name, 1, helper)
    # rounds interleave idle windows with runs, so machine noise hits all alike
    runs = []
    for r in range(args.runs):
        for name in names:
            for helper in workers:
                for flow in [f for f in flows if runs_with(name, f)]:
                    row = flow(window, recorder, name, 1000 + r, helper)
                    row["idle_max_gap_ms"] = idle_window(recorder, row["wall_s"])
                    runs.append(row)
    return runs


def summarise(runs: list[dict], flows: str) -> dict:
    """Per flow and worker: the worst and median stall, also over the quiet rounds only;
    printed as it goes."""
    summary: dict = {}
    for flow in flows.split(","):
        for worker in sorted({r["worker"] for r in runs}):
            rows = [r for r in runs if r["flow"] == flow and r["worker"] == worker]
            mine = [r["max_gap_ms"] for r in rows]
            # rounds in which the machine itself did not stall the idle timer
            quiet = [r["max_gap_ms"] for r in rows if r["idle_max_gap_ms"] < QUIET_IDLE_MS]
            summary.setdefault(flow, {})[worker] = {
                "worst_max_gap_ms": max(mine),
                "median_max_gap_ms": round(statistics.median(mine), 2),
                "quiet_runs": len(quiet),
                "quiet_worst_max_gap_ms": max(quiet) if quiet else None}
            print(f"{flow} / {worker}: worst stall {max(mine):.1f} ms, median of per-run "
                  f"maxima {statistics.median(mine):.1f} ms; in the {len(quiet)} runs whose "
                  f"idle window stayed under {QUIET_IDLE_MS} ms: worst "
                  + (f"{max(quiet):.1f} ms" if quiet else "-"))
    return summary


def print_runs(runs: list[dict]) -> None:
    print(f"GUI-thread stalls while generating 32 bars x 8 variations "
          f"({TICK_MS} ms timer; target < {TARGET_MS} ms; 'idle' is the same timer with "
          f"nothing running, right after)")
    print(f"{'flow':<6} {'model':<10} {'worker':<8} {'wall s':>7} {'notes':>6} {'max ms':>7} "
          f"{'p99 ms':>7} {'median':>7} {'idle max':>9}")
    for r in runs:
        print(f"{r['flow']:<6} {r['model']:<10} {r['worker']:<8} {r['wall_s']:>7.2f} "
              f"{r['notes']:>6} {r['max_gap_ms']:>7.2f} {r['p99_gap_ms']:>7.2f} "
              f"{r['median_gap_ms']:>7.2f} {r['idle_max_gap_ms']:>9.2f}")


def report(args: argparse.Namespace, library, runs: list[dict], summary: dict) -> dict:
    idle = [r["idle_max_gap_ms"] for r in runs]
    return {
        "benchmark": "gui_stall",
        "what": "max gap between 5 ms QTimer timeouts on the GUI thread while the main "
                "window generates 32 bars x 8 variations through the worker, from the "
                "Generate panel (flow 'panel') and answering a call-and-response phrase "
                "(flow 'call')",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
                    "niceness": os.nice(0),
                    "qpa": os.environ.get("QT_QPA_PLATFORM", "")},
        "models_folder": str(library.folders[0]),
        "target_ms": TARGET_MS,
        "summary": summary,
        "idle": {"worst_max_gap_ms": max(idle),
                 "median_max_gap_ms": round(statistics.median(idle), 2)},
        "runs": runs,
        "command": "QT_QPA_PLATFORM=offscreen python bench/gui_stall.py"
                   + (f" --models {args.models}" if args.models else "")
                   + f" --runs {args.runs}" + (" --compare-thread" if args.compare_thread else "")
                   + (f" --flows {args.flows}" if args.flows != "panel,call" else ""),
    }


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    import tempfile

    from engine.models import ModelLibrary
    from gui.app import make_application
    from gui.main_window import MainWindow

    app = make_application(["gui_stall"])
    # the benchmark must not read or write the user's window layout and settings
    settings_dir = tempfile.TemporaryDirectory()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir.name)
    library = ModelLibrary([args.models]) if args.models else ModelLibrary()
    if not library.models:
        print(f"no models found: {library.problems}", file=sys.stderr)
        return 1
    window = MainWindow(library=library)
    window.resize(1280, 800)
    window.show()
    window.open_default_seed()
    app.processEvents()
    if window.transport.player is None:
        print("no player bridge in this window: call-and-response cannot run",
              file=sys.stderr)
        return 1
    runs = measure(window, args, library.names)
    window.doc.undo_stack.setClean()
    window.close()
    print_runs(runs)
    summary = summarise(runs, args.flows)
    idle = [r["idle_max_gap_ms"] for r in runs]
    print(f"idle: worst {max(idle):.1f} ms, median {statistics.median(idle):.1f} ms "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    worst = max(summary[flow]["process"]["worst_max_gap_ms"] for flow in summary)
    common.write_json(args.out, report(args, library, runs, summary))
    return 0 if worst < TARGET_MS else 2


if __name__ == "__main__":
    sys.exit(main())
