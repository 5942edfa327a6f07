"""``continuo convert IN OUT``: a song written in the format OUT's suffix names
(engine/formats/export.py): MusicXML (.musicxml, .mxl), ABC (.abc), MIDI (.mid, type 1 or
with --midi-type 0), WAV (.wav: the whole song, or --per-track for stems); --per-track
writes one file per track (OUT-1-Melody.mid ...)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import add_tune_and_track, one_line_errors, output_path, run_command


def _cmd_convert(args: argparse.Namespace) -> int:
    from engine.formats import load_song, unreadable_suffix
    from engine.formats.export import ExportError, export_song

    if not Path(args.input).is_file():
        raise ExportError(f"{args.input}: there is no such file to convert")
    if problem := unreadable_suffix(args.input):
        raise ExportError(problem)
    song = load_song(args.input, tune=args.tune - 1)
    out = output_path(args.output)
    track = None if args.track is None else args.track - 1
    written = export_song(song, out, track=track, midi_type=args.midi_type,
                          per_track=args.per_track)
    for path in written:
        print(f"wrote {path}")
    return 0


def add_command(subparsers: argparse._SubParsersAction) -> None:
    from engine.formats.export import EXPORT_SUFFIXES

    c = subparsers.add_parser(
        "convert", help="write a song as MusicXML, ABC, MIDI or WAV (stems)",
        description="Read IN (MIDI, ABC, MusicXML or kern) and write OUT in the format its "
                    f"suffix names ({', '.join(sorted(EXPORT_SUFFIXES))}). MusicXML has one "
                    "part per track; ABC one track, by default the melody.")
    c.add_argument("input", metavar="IN", help="the song to read")
    c.add_argument("output", metavar="OUT", help="the file to write; its suffix picks the format")
    add_tune_and_track(c, "ABC: the track to write, from 1 (default: the melody track)")
    c.add_argument("--midi-type", type=int, choices=(0, 1), default=1,
                   help="MIDI: type 1 (a track per part, the default) or 0 (one track)")
    c.add_argument("--per-track", action="store_true",
                   help="one file per track: OUT-1-NAME.ext ... (WAV: stems of the same "
                        "length)")
    c.set_defaults(handler=run_command("convert", _cmd_convert))
    one_line_errors(c)

