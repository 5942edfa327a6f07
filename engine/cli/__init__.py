"""Headless commands, one module each: ``generate`` (continue a seed, write MIDI),
``score`` (bits per note of files under a model, or of a gap with ``--fill``), ``fill``
(regenerate bars from both sides), ``harmonise`` (the voices beneath a melody),
``drums`` (Add Drums: a drum track for a song, in a style) and
``convert`` (a song in another format).  What they share, the options declared once
included, is :mod:`engine.cli.common`.

Every command uses the very engine the GUI uses, through its public names; the GUI
imports nothing from here.  Anything a user can get wrong (a seed file that cannot be
read, a model that does not exist, an option out of range) ends the command with one
line on stderr and a non-zero exit status, never a traceback: exit status 2 for a
command line that does not parse, 1 for everything else; Ctrl+C ends a job with
"continuo COMMAND: stopped" and exit status 130.

This module imports nothing heavy, so that ``main.py`` can read :data:`COMMANDS` before
Ctrl+C is set up.
"""

from __future__ import annotations

import argparse

COMMANDS = ("generate", "score", "fill", "harmonise", "harmonize", "convert", "chords",
            "drums")


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add every command to the main parser's sub-commands."""
    from engine.cli import chords, convert, drums, fill, generate, harmonise, score

    # the order --help lists
    for command in (generate, score, fill, harmonise, drums, convert, chords):
        command.add_command(subparsers)
