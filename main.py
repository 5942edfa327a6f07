"""Continuo: a desktop composer that continues your music.

    python main.py [FILE]              open the composer (with FILE, or the default seed)
    python main.py generate ...        continue a seed headlessly and write MIDI
    python main.py score ...           bits per note of files under a model
    python main.py fill ...            regenerate bars of a song from both sides
    python main.py harmonise ...       write the voices beneath a melody
    python main.py drums SONG ...      add a drum track to a song, in a style
    python main.py convert IN OUT      write IN as OUT's format (MusicXML, ABC, MIDI, WAV stems)
    python main.py --install-desktop   a menu entry that opens MIDI, MusicXML and ABC files
"""

from __future__ import annotations

import argparse
import sys

from engine import cli  # light: the commands' modules are imported as the parser is built


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="continuo",
        description="Continuo: draw, load or play a seed melody and let an LSTM or a "
                    "WaveNet continue it.",
        epilog="With no command, or with just a FILE, the desktop composer opens.",
    )
    desktop = parser.add_mutually_exclusive_group()
    desktop.add_argument("--install-desktop", action="store_true",
                         help="add Continuo to the desktop's menu (Linux: a freedesktop "
                              "entry in ~/.local/share) as the application for MIDI, "
                              "MusicXML and ABC files, then leave")
    desktop.add_argument("--uninstall-desktop", action="store_true",
                         help="remove what --install-desktop added, then leave")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="open the desktop composer (the default)")
    gui.add_argument("file", nargs="?", help="a MIDI, ABC, MusicXML or kern file to open")
    cli.add_subcommands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in cli.COMMANDS:
        from engine.limits import stop_on_interrupt  # Ctrl+C: one line, even while loading

        stop_on_interrupt(argv[0])
    parser = build_parser()
    if not argv or (argv[0] not in ("gui", *cli.COMMANDS) and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    args = parser.parse_args(argv)
    if args.install_desktop or args.uninstall_desktop:
        from engine import desktop

        return desktop.main(install_entry=args.install_desktop)
    if args.command is None:  # options and no command: the window, as with no arguments
        argv = ["gui"]
        args = parser.parse_args(argv)
    if args.command == "gui":
        from gui.app import run_app

        return run_app(args.file)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
