"""Headless polyphony: ``generate`` with a polyphonic model (every part continued) and
``harmonise`` (the voices beneath a melody).

Added to the main parser by :func:`engine.cli.add_subcommands`, with the conventions of
``generate``: one line on stderr and exit status 1 for a user's mistake, 2 for a command
line that does not parse.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.errors import GenerationError
from engine.song import Song, melody_track
# the domain helpers live in engine.generation.parts_song; kept here while gui imports them
from engine.generation.parts_song import (  # noqa: F401
    MELODY_DEFAULT, POLYPHONIC_DEFAULTS, default_model, is_polyphonic_name, song_with_parts)


def _cmd_harmonise(args: argparse.Namespace) -> int:
    from engine import cli
    from engine.formats import song_to_midi_file
    from engine.generation.generator import GenerationSettings
    from engine.generation.polyphony import generate_polyphony

    settings = GenerationSettings(
        model=args.model, temperature=args.temperature, top_p=args.top_p,
        variations=args.variations, rng_seed=args.rng_seed,
        key=None if args.key.lower() == "none" else args.key, memory=False)
    settings.validate()
    out = cli.output_path(args.output)
    song = cli._load_seed(args.melody, args.tune)
    track = melody_track(song)
    if args.track is not None:
        if not 1 <= args.track <= len(song.tracks):
            raise GenerationError(f"there is no track {args.track} in the melody file (it has "
                                  f"{len(song.tracks)})")
        track = args.track - 1
    if track is None or not song.tracks[track].notes:
        raise GenerationError(f"{Path(args.melody).name}: there is no melody to harmonise")
    if song.tracks[track].is_drum:
        raise GenerationError(f"{Path(args.melody).name}: track {track + 1} is a drum track; "
                              f"choose the track with the melody (--track)")
    # the song's own parts beneath the melody are kept and filled where they rest; the
    # missing voices are written as new tracks (with --alone, every voice is new)
    if args.alone:
        melody = song.copy()
        melody.tracks = [song.tracks[track]]
        song, track = melody, 0
    library = cli._library(args)
    result = generate_polyphony(library, song, settings, harmonise_track=track)
    for message in result.messages:
        sys.stderr.write(f"note: {message}\n")
    for i, path in enumerate(cli._output_paths(out, len(result.variations))):
        song_to_midi_file(song_with_parts(song, result, i), path)
        parts = len(set((result.track_of or [[]])[i]))
        print(f"wrote {path} ({len(result.variations[i])} notes in {parts} voices beneath "
              f"the melody, {len(result.new_tracks)} of them new tracks, model "
              f"{result.model})")
    return 0


def generate_parts(args: argparse.Namespace, library, seed: Song | None, settings) -> int:
    """``generate`` with a polyphonic model: every part of the seed continued."""
    from engine import cli
    from engine.formats import song_to_midi_file
    from engine.generation.polyphony import generate_polyphony

    if args.track is not None:
        raise GenerationError("--track chooses the one line a melody model continues; a "
                              "polyphonic model continues every part")
    result = generate_polyphony(library, seed, settings)
    for message in result.messages:
        sys.stderr.write(f"note: {message}\n")
    out = Path(args.output)
    for i, path in enumerate(cli._output_paths(out, len(result.variations))):
        song_to_midi_file(song_with_parts(seed, result, i, args.continuation_only), path)
        parts = len(set((result.track_of or [[]])[i]))
        print(f"wrote {path} ({len(result.variations[i])} new notes in {parts} parts, "
              f"{result.key.name}, model {result.model})")
    return 0


def add_harmonise_command(subparsers: argparse._SubParsersAction) -> None:
    from engine import cli

    h = subparsers.add_parser(
        "harmonise", aliases=["harmonize"],
        help="write the voices beneath a melody with a polyphonic model",
        description="Harmonise a melody: it stays exactly as it is and a polyphonic model "
                    "writes the voices beneath it, step by step. With --variations K above "
                    "1, one file per variation: OUT-1.mid ... OUT-K.mid.")
    cli.add_model_options(h, default=POLYPHONIC_DEFAULTS[0],
                          what="the polyphonic model, by its card's name")
    h.add_argument("melody", metavar="FILE", help="MIDI, ABC, MusicXML or kern file")
    h.add_argument("--tune", type=int, default=1, metavar="N",
                   help="the tune of a multi-tune ABC file, from 1 (default 1)")
    h.add_argument("--track", type=int, metavar="N",
                   help="the track holding the melody, from 1 (default: the melody track)")
    h.add_argument("--alone", action="store_true",
                   help="harmonise the melody on its own: every voice is written as a new "
                        "track (default: the file's own parts beneath the melody are kept "
                        "and written into where they rest)")
    h.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help="0 (always the likeliest) to 2 (wild); default 1")
    h.add_argument("--top-p", type=float, default=1.0, metavar="P",
                   help="sample only from the likeliest tokens covering P (default 1)")
    h.add_argument("--variations", type=int, default=1, metavar="K", help="1-8 (default 1)")
    h.add_argument("--rng-seed", type=int, default=0, metavar="S", help="default 0")
    h.add_argument("--key", default="auto", metavar="KEY",
                   help="keep the new voices in this key: auto (the melody's), none, or C, Am...")
    h.add_argument("-o", "--output", required=True, metavar="OUT.mid",
                   help="the MIDI file to write (written atomically)")
    h.set_defaults(handler=cli._run("harmonise", _cmd_harmonise))
    cli._one_line_errors(h)
