"""Is the first Generate after start-up as fast as a later one?

The main window starts the helper generation process and loads the models in it while
it opens (gui.worker.warm_up), so the first Generate should not wait for the process,
its imports or the onnxruntime sessions.  Each round starts a fresh app (a new process,
offscreen, default settings and default seed, playback as the app has it), presses
Generate (4 bars x 4 variations, the chosen model) as soon as the piano roll has been
painted (or --delay seconds later), then --later more times; each press is timed with time.perf_counter from
``panel.generate()`` to the panel's ``generation_finished``.  The same round is run a
second time with the warm-up switched off, to show what it saves.

    python bench/first_generate.py [--rounds 5] [--later 4] [--delay S] [--model NAME]

Prints a table (medians over rounds, min-max) and writes
bench/results/first_generate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import ROOT  # noqa: E402

RESULTS = common.RESULTS_DIR / "first_generate.json"


def wait_for_first_paint(widget) -> None:
    """Run the event loop until ``widget`` has painted once."""
    from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer

    painted = QEventLoop()

    class FirstPaint(QObject):
        def eventFilter(self, watched, event):  # noqa: N802 - Qt override
            if event.type() == QEvent.Type.Paint:
                QTimer.singleShot(0, painted.quit)
            return False

    spy = FirstPaint()
    widget.installEventFilter(spy)
    painted.exec()
    widget.removeEventFilter(spy)


def timed_generate(panel) -> float:
    """Seconds from pressing Generate to the panel's ``generation_finished``."""
    from PySide6.QtCore import QEventLoop

    done = QEventLoop()
    panel.generation_finished.connect(done.quit)
    t0 = time.perf_counter()
    if not panel.generate():
        raise SystemExit(f"Generate did not start: {panel.messages.text()}")
    done.exec()
    elapsed = time.perf_counter() - t0
    panel.generation_finished.disconnect(done.quit)
    if panel.result is None:
        raise SystemExit(f"Generate failed: {panel.messages.text()}")
    return elapsed


def one_round(args: argparse.Namespace) -> int:
    """In a fresh process: open the app, generate 1 + --later times, write JSON."""
    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    import gui.worker
    from gui.app import create_main_window, make_application

    if not args.warm_up:
        gui.worker.warm_up = lambda *args, **kwargs: None
    app = make_application(["continuo-bench"])
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, args.settings)
    window = create_main_window(None)
    wait_for_first_paint(window.roll.grid)
    shown_s = time.perf_counter() - started
    if args.delay > 0:  # a person finding the Generate button
        pause = QEventLoop()
        QTimer.singleShot(int(args.delay * 1000), pause.quit)
        pause.exec()
    warming = [t for t in getattr(window, "warm_up_threads", []) if t is not None]
    warm_up_busy = any(t.is_alive() for t in warming)  # still under way at the first press

    panel = window.panel
    if args.model:
        panel.select_model(args.model)
    panel.bars.setValue(4)
    panel.variations_spin.setValue(4)
    first = timed_generate(panel)
    later = [timed_generate(panel) for _ in range(args.later)]
    Path(args.one).write_text(json.dumps({
        "model": panel.model_combo.currentData(), "warm_up": args.warm_up,
        "shown_s": shown_s, "warm_up_busy_at_first_press": warm_up_busy,
        "first_s": first, "later_s": later}))
    window.doc.undo_stack.setClean()
    window.close()
    # leave through the event loop, as the app does: aboutToQuit closes the MIDI clients
    # (a JACK server waits seconds for a client that vanished, and the next round with it)
    QTimer.singleShot(0, app.quit)
    app.exec()
    return 0


def run_rounds(args: argparse.Namespace) -> dict[bool, list[dict]] | None:
    """Each round in fresh processes, with the warm-up and without it in turn: their JSON
    (None, with the child's error on stderr, when one fails)."""
    rows: dict[bool, list[dict]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
               "CONTINUO_RECOVERY_DIR": str(Path(tmp) / "recovery"), "CONTINUO_RESTORE": "no"}
        for r in range(args.rounds):
            for warm in (True, False):  # in turn, so drift of the machine hits both
                out = Path(tmp) / f"round-{r}-{warm}.json"
                command = [sys.executable, __file__, "--one", str(out), "--later",
                           str(args.later), "--settings", str(Path(tmp) / f"settings-{r}-{warm}")]
                if args.model:
                    command += ["--model", args.model]
                command += ["--delay", str(args.delay)]
                if not warm:
                    command.append("--no-warm-up")
                proc = subprocess.run(command, env=env, capture_output=True, text=True,
                                      timeout=300)
                if proc.returncode != 0 or not out.exists():
                    print(proc.stderr[-3000:], file=sys.stderr)
                    return None
                rows[warm].append(json.loads(out.read_text()))
    return rows


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def cell(s: dict, fmt: str) -> str:
    return f"{s['median']:{fmt}} ({s['min']:{fmt}}-{s['max']:{fmt}})"


def add_rows(report: dict, rows: dict[bool, list[dict]]) -> None:
    """Summarise each way's rounds into ``report``, a table row each."""
    print(f"{'warm-up':<8} {'window s':>16} {'first ms':>20} {'later ms':>20} {'first/later':>20}")
    for warm in (True, False):
        rs = rows[warm]
        later = [statistics.median(x["later_s"]) for x in rs]
        ratios = [x["first_s"] / statistics.median(x["later_s"]) for x in rs]
        entry = {"window_shown_s": summary([x["shown_s"] for x in rs]),
                 "first_ms": summary([x["first_s"] * 1000 for x in rs]),
                 "later_ms": summary([v * 1000 for v in later]),
                 "first_over_later": summary(ratios),
                 "runs": rs}
        report["with_warm_up" if warm else "without_warm_up"] = entry
        print(f"{'on' if warm else 'off':<8} {cell(entry['window_shown_s'], '.2f'):>16} "
              f"{cell(entry['first_ms'], '.0f'):>20} {cell(entry['later_ms'], '.0f'):>20} "
              f"{cell(entry['first_over_later'], '.2f'):>20}")


def main(argv: list[str] | None = None) -> int:
    ap = common.parser(__doc__, first_line=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--later", type=int, default=4, help="Generates after the first")
    ap.add_argument("--model", default="", help="default: the panel's first model")
    ap.add_argument("--delay", type=float, default=0.0,
                    help="seconds from the first paint to the first Generate (default 0)")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a round, JSON to this file
    ap.add_argument("--settings", help=argparse.SUPPRESS)
    ap.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        return one_round(args)
    rows = run_rounds(args)
    if rows is None:
        return 1
    report: dict = {"rounds": args.rounds, "later_per_round": args.later,
                    "first_press_after_paint_s": args.delay,
                    "bars": 4, "variations": 4, "model": rows[True][0]["model"],
                    "machine": {"cpus": os.cpu_count(), "load_1min": os.getloadavg()[0],
                                "python": platform.python_version()}}
    print(f"first Generate after start-up vs later ones, model {report['model']}, 4 bars x 4 "
          f"variations, first pressed {args.delay:g} s after the window painted, "
          f"{args.rounds} rounds (median, min-max)")
    add_rows(report, rows)
    print(f"load average {report['machine']['load_1min']:.2f} on {os.cpu_count()} CPUs")
    common.write_json(RESULTS, report, say=False)
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
