"""``continuo chords FILE [--json]``: the chords of a song, detected from every pitched
track (engine/encodings/chords.py), one line a bar, or as JSON: a list of
``{"bar": n, "beat": b, "symbol": "Am7"}``, one entry where the chord changes (bars
numbered as the song's, a pickup bar 0; beats from 1).  ``--track-chords`` prints the
file's own chord track (MusicXML harmony, ABC "Am", MIDI markers) instead.

``continuo chords --suggest MELODY [--per bar|half|beat] [--style FOLDER] [--json]
[-o OUT.mid]`` suggests a chord a bar (or half bar, or beat) for the song's melody
(engine/generation/progressions.py), printed as above and, with ``-o``, written with the
song as its chord track (MIDI markers)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.cli.common import load_seed, one_line_errors, output_path, run_command


def chord_rows(song, own: bool = False) -> list[dict]:
    """The chord changes as the JSON lists them: detected, or the song's own track."""
    from engine.encodings.chords import detect_chords

    if own:
        rows = []
        for chord in song.chords:
            bar, beat, _ = song.bar_beat_at(chord.tick)
            rows.append({"bar": bar, "beat": beat, "symbol": chord.symbol})
        return rows
    return [{"bar": d.bar, "beat": d.beat, "symbol": str(d.symbol)}
            for d in detect_chords(song)]


def bar_lines(song, rows: list[dict]) -> list[str]:
    """One line a bar, from the first chord to the song's last bar: the chord at its
    start (held over from before in parentheses), then each change with its beat."""
    if not rows:
        return []
    by_bar: dict[int, list[dict]] = {}
    for row in rows:
        by_bar.setdefault(row["bar"], []).append(row)
    last_bar = max(song.bar_beat_at(max(song.end_tick - 1, 0))[0], rows[-1]["bar"])
    lines, held = [], None
    for bar in range(rows[0]["bar"], last_bar + 1):
        words = []
        changes = by_bar.get(bar, [])
        if held is not None and (not changes or changes[0]["beat"] != 1):
            words.append(f"({held})")
        for row in changes:
            words.append(row["symbol"] if row["beat"] == 1 and not words
                         else f"{row['symbol']}@{row['beat']}")
            held = row["symbol"]
        lines.append(f"bar {bar:>3}: {'  '.join(words)}")
    return lines


def _suggested_rows(song, args: argparse.Namespace) -> list[dict]:
    """Suggest chords for the song's melody; with ``-o`` write the song with them."""
    from engine.formats import song_to_midi_file
    from engine.generation.progressions import suggest_chords

    out = output_path(args.out) if args.out else None
    song.chords = suggest_chords(song, per=args.per, style=args.style)
    if out is not None:
        song_to_midi_file(song, out)
    return chord_rows(song, own=True)


def _cmd_chords(args: argparse.Namespace) -> int:
    from engine.errors import GenerationError

    if not Path(args.file).exists():
        raise GenerationError(f"{args.file}: there is no such file")
    if (args.out or args.style or args.per != "bar") and not args.suggest:
        raise GenerationError("-o, --per and --style go with --suggest")
    if args.suggest and args.track_chords:
        raise GenerationError("--suggest and --track-chords: choose one")
    song = load_seed(args.file, args.tune)
    rows = _suggested_rows(song, args) if args.suggest else chord_rows(song, own=args.track_chords)
    if args.json:
        print(json.dumps(rows))
        return 0
    lines = bar_lines(song, rows)
    if not lines:
        what = "chord track" if args.track_chords else "melody to suggest chords for" \
            if args.suggest else "pitched notes to name chords from"
        print(f"{args.file}: no {what}")
    for line in lines:
        print(line)
    return 0


def add_command(subparsers: argparse._SubParsersAction) -> None:
    c = subparsers.add_parser(
        "chords", help="name the chords of a song, per beat, half bar or bar",
        description="Detect the chords of FILE (MIDI, ABC, MusicXML or kern) from every "
                    "pitched track, the bass weighted, and print them one line a bar "
                    "(a change within a bar as SYMBOL@BEAT), or as JSON; or, with --suggest, "
                    "suggest chords for its melody.")
    c.add_argument("file", metavar="FILE", help="the song to read")
    c.add_argument("--json", action="store_true",
                   help='print a JSON list of {"bar": n, "beat": b, "symbol": "Am7"}, one '
                        'where the chord changes (a pickup bar is bar 0)')
    c.add_argument("--track-chords", action="store_true",
                   help="print the file's own chord symbols (MusicXML harmony, ABC quoted "
                        "chords, MIDI markers) instead of detecting them")

    c.add_argument("--suggest", action="store_true",
                   help="suggest chords for FILE's melody (its highest line) from the "
                        "progression model instead of naming the chords its parts make")
    c.add_argument("--per", choices=("bar", "half", "beat"), default="bar",
                   help="with --suggest: a chord a bar (default), half bar or beat")
    c.add_argument("--style", metavar="FOLDER",
                   help="with --suggest: a folder of music whose chords add to the model's")
    c.add_argument("-o", "--out", metavar="OUT.mid",
                   help="with --suggest: write the song with the suggested chords as its "
                        "chord track (MIDI markers)")
    c.add_argument("--tune", type=int, default=1, metavar="N",
                   help="the tune of a multi-tune ABC file, from 1 (default 1)")
    c.set_defaults(handler=run_command("chords", _cmd_chords))
    one_line_errors(c)
