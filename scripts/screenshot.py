"""Make assets/screenshot.png: the main window with the default seed and a kept variation.

Runs the real app: it opens the default seed, generates four variations with a shipped
model through the worker thread, keeps one (the same "Keep variation" undo step a user
makes), lists the others to audition, and grabs the window.  Under Xvfb when it is
installed (real X11 rendering, as on a desktop), else Qt's offscreen platform.

    python scripts/screenshot.py [--model duet] [--out assets/screenshot.png] [--offscreen]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_display() -> str:
    """The first X display from :99 up that no server holds."""
    number = 99
    while Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
        number += 1
    return f":{number}"


def start_xvfb(display: str) -> subprocess.Popen | None:
    """Start Xvfb on ``display``; None when it is not installed or does not come up."""
    if shutil.which("Xvfb") is None:
        return None
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socket = Path(f"/tmp/.X11-unix/X{display.lstrip(':')}")
    for _ in range(50):
        if socket.exists() or proc.poll() is not None:
            break
        time.sleep(0.1)
    if proc.poll() is not None or not socket.exists():
        proc.kill()
        return None
    return proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="duet")
    parser.add_argument("--models", help="a models folder (default: the shipped models)")
    parser.add_argument("--out", default=str(ROOT / "assets" / "screenshot.png"))
    parser.add_argument("--offscreen", action="store_true", help="do not use Xvfb")
    parser.add_argument("--seed", type=int, default=2026, help="the RNG seed for generation")
    args = parser.parse_args(argv)

    xvfb = None
    display = free_display()
    if not args.offscreen:
        xvfb = start_xvfb(display)
    if xvfb is not None:
        os.environ["DISPLAY"] = display
        os.environ["QT_QPA_PLATFORM"] = "xcb"
    else:
        if not args.offscreen:
            print("Xvfb is not there or did not start: using Qt's offscreen platform",
                  file=sys.stderr)
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        return _shoot(args)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)


def _shoot(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from engine.models import ModelLibrary
    from gui.app import make_application
    from gui.main_window import MainWindow

    app = make_application(["continuo-screenshot"])
    settings_dir = tempfile.TemporaryDirectory()  # never the user's layout or settings
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir.name)

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    library = ModelLibrary([args.models]) if args.models else ModelLibrary()
    if args.model not in library.names:
        print(f"no model '{args.model}' (models: {library.names}; {library.problems})",
              file=sys.stderr)
        return 1
    window = MainWindow(library=library)
    window.resize(1440, 880)
    window.show()
    window.open_default_seed()
    wait(200)

    panel = window.panel
    panel.select_model(args.model)
    panel.bars.setValue(4)
    panel.variations_spin.setValue(4)
    panel.temperature.setValue(90)
    panel.rng_seed.setValue(args.seed)
    panel.set_key_mode("auto")
    done = QEventLoop()
    panel.generation_finished.connect(done.quit)
    if not panel.generate():
        print(panel.messages.text(), file=sys.stderr)
        return 1
    done.exec()
    if panel.result is None:
        print(panel.messages.text(), file=sys.stderr)
        return 1
    panel.variations.set_current_index(0)
    panel.keep_variation()
    window.doc.set_selection([])
    panel.variations.set_current_index(1)  # the next one, selected to audition ...
    window.roll.set_preview_notes(None)  # ... but not drawn over the kept one
    window.transport.set_position(window.doc.end_tick // 2)
    roll = window.roll
    roll.scroll_to_tick(0)
    fit = (roll.grid.width() * 0.92) / max(window.doc.end_tick, 1)
    roll.zoom_time(fit / roll.geometry.px_per_tick, 0)
    roll.scroll_to_tick(0)
    roll.centre_on_notes()
    wait(300)
    image = window.grab()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(out)):
        print(f"could not write {out}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({image.width()}x{image.height()}, platform "
          f"{os.environ['QT_QPA_PLATFORM']})")
    window.doc.undo_stack.setClean()
    window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
