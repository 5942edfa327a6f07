"""``continuo drums SONG --style STYLE --variations K -o OUT.mid``: Add Drums, a new
drum track for the whole song written by a drum model in a style
(:mod:`engine.generation.jobs.drums`), steered by generate's controls (--density,
--repeat, --register, --syncopation, --dynamics; --leaps has no meaning for drums and
is refused: engine/generation/mixers/drum_controls.py); ``continuo drums
--list-styles`` names the styles."""

from __future__ import annotations

import argparse

from engine.cli.common import (add_control_options, add_model_options, load_seed,
                               model_library, one_line_errors, output_path, output_paths,
                               run_command, say_notes)
from engine.errors import GenerationError


def style_lines() -> list[str]:
    """``auto`` and every style family, one a line, as --list-styles prints them."""
    from engine.encodings.drums import STYLES

    return ["auto  (read from the song: 3/4 a waltz, 6/8 a ballad, 2/4 a march, a "
            "triplet feel a swing or shuffle, else rock or a slow ballad)"] + list(STYLES)


def _cmd_drums(args: argparse.Namespace) -> int:
    from engine.formats import song_to_midi_file
    from engine.generation import jobs
    from engine.generation.parts_song import song_with_parts
    from engine.generation.request import CONTROLS, DRUMS, GenerationRequest, GenerationSettings

    if args.list_styles:
        for line in style_lines():
            print(line)
        return 0
    if args.song is None:
        raise GenerationError("give the song to add drums to (or --list-styles)")
    if args.output is None:
        raise GenerationError("give the file to write with -o OUT.mid")
    out = output_path(args.output)
    controls = {name: getattr(args, name) for name, *_ in CONTROLS if getattr(args, name)}
    # Add Drums hears no drums before it, so the motif memory has nothing to keep (none
    # is built); the repeat control scales the groove memory, and settings take repeat
    # with the memory on
    settings = GenerationSettings(model=args.model or "drums", temperature=args.temperature,
                                  top_p=args.top_p, variations=args.variations,
                                  rng_seed=args.rng_seed, key=None,
                                  memory=bool(controls.get("repeat")), **controls)
    request = GenerationRequest(DRUMS, settings, drum_style=args.style)
    song = load_seed(args.song, args.tune)
    library = model_library(args) if args.model else _library(args)
    result = jobs.run(library, song, request)
    say_notes(result.messages)
    for i, path in enumerate(output_paths(out, len(result.variations))):
        song_to_midi_file(song_with_parts(song, result, i), path)
        print(f"wrote {path} ({len(result.variations[i])} drum hits on a new track "
              f"'{result.new_tracks[0]}', model {result.model})")
    return 0


def _library(args: argparse.Namespace):
    from pathlib import Path

    from engine.models import ModelLibrary

    return ModelLibrary([Path(d) for d in args.models_dir] if args.models_dir else None)


def add_command(subparsers: argparse._SubParsersAction) -> None:
    d = subparsers.add_parser(
        "drums", help="add a drum track to a song, in a style",
        description="Add Drums: a drum model writes a new drum track (channel 10) for the "
                    "whole of SONG (MIDI, ABC, MusicXML or kern), hearing its parts step by "
                    "step, in a style; the song's own tracks stay as they are. With "
                    "--variations K above 1, OUT-1.mid ... OUT-K.mid.")
    add_model_options(d, default=None, what="the drum model, by its card's name (default: "
                                            "the installed drum model)")
    d.add_argument("song", nargs="?", metavar="SONG", help="the song to add drums to")
    d.add_argument("--style", default="auto", metavar="STYLE",
                   help="the drum style: auto (read from the song's metre and feel, the "
                        "default) or a style family (--list-styles)")
    d.add_argument("--list-styles", action="store_true",
                   help="print the styles, one a line, and leave")
    d.add_argument("--tune", type=int, default=1, metavar="N",
                   help="the tune of a multi-tune ABC file, from 1 (default 1)")
    d.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help="0 (always the likeliest) to 2 (wild); default 1")
    d.add_argument("--top-p", type=float, default=1.0, metavar="P",
                   help="sample only from the likeliest steps covering P (default 1)")
    d.add_argument("--variations", type=int, default=1, metavar="K",
                   help="how many different drum tracks, 1-8 (default 1)")
    d.add_argument("--rng-seed", type=int, default=0, metavar="S",
                   help="random seed: the same seed and options give the same drums")
    d.add_argument("-o", "--output", metavar="OUT.mid",
                   help="the MIDI file to write (written atomically)")
    add_control_options(d, parts=False)
    d.set_defaults(handler=run_command("drums", _cmd_drums))
    one_line_errors(d)
