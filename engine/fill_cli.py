"""Headless filling: ``fill`` (regenerate bars of a song from both sides, write MIDI) and
``score --fill FROM:TO`` (bits of the notes inside a gap given both sides).

Added to the main parser by :func:`engine.cli.add_subcommands`; the same conventions as
``generate`` and ``score``: one line on stderr and exit status 1 for a user's mistake,
2 for a command line that does not parse.  Bars are counted from 1 (a pickup bar is
bar 0, as scores number it) and both ends are included: ``--from 4 --to 5`` is the gap
from the start of bar 4 to the end of bar 5.
"""

from __future__ import annotations

import argparse
import sys

from engine.errors import GenerationError
from engine.song import Song, melody_track


def _cmd_fill(args: argparse.Namespace) -> int:
    from engine import cli
    from engine.formats import song_to_midi_file
    from engine.generation.fill import apply_fill, bar_range_ticks, fill
    from engine.generation.generator import GenerationSettings
    from engine.generation.polyfill import apply_parts

    settings = GenerationSettings(
        model=args.model, temperature=args.temperature, top_p=args.top_p,
        variations=args.variations, rng_seed=args.rng_seed,
        key=None if args.key.lower() == "none" else args.key,
        min_pitch=args.min_pitch, max_pitch=args.max_pitch, memory=args.memory == "on")
    settings.validate()
    out = cli.output_path(args.output)
    song = cli._load_seed(args.seed, args.tune)
    track_index = melody_track(song)
    if args.track is not None:
        if not 1 <= args.track <= len(song.tracks):
            raise GenerationError(f"there is no track {args.track} in the song (it has "
                                  f"{len(song.tracks)})")
        track_index = args.track - 1
    start_tick, end_tick = bar_range_ticks(song, args.from_bar, args.to_bar)
    library = cli._library(args)
    result = fill(library, song, settings, start_tick=start_tick, end_tick=end_tick,
                  track_index=track_index)
    if track_index is None:
        track_index = melody_track(song)
    for message in result.messages:
        sys.stderr.write(f"note: {message}\n")
    paths = cli._output_paths(out, len(result.variations))
    for i, (path, notes) in enumerate(zip(paths, result.variations)):
        if result.track_of is not None:  # a polyphonic model filled every part
            filled = apply_parts(song, start_tick, end_tick, notes, result.track_of[i])
            where = f" on {len(set(result.track_of[i]))} tracks"
        else:
            filled, where = apply_fill(song, track_index, start_tick, end_tick, notes), ""
        song_to_midi_file(filled, path)
        print(f"wrote {path} (bars {args.from_bar}-{args.to_bar} filled with {len(notes)} "
              f"notes{where} in {result.key.name}, model {result.model})")
    return 0


def parse_bars(text: str) -> tuple[int, int]:
    """``FROM:TO`` (bars, 1-based, inclusive)."""
    first, sep, last = text.partition(":")
    try:
        a, b = int(first), int(last if sep else first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not FROM:TO in bars, such as 4:5") \
            from None
    if a < 0 or b < a:
        raise argparse.ArgumentTypeError(f"{text!r}: bars count from 1 (0 is a pickup bar) "
                                         f"and TO is not before FROM")
    return a, b


def _gap_scorer(model, bars: tuple[int, int], memory: bool = False):
    """A song -> the bits of its melody's notes inside bars FROM..TO (given both sides
    when the model fills, else the music before the gap only; with the motif memory
    mixed in when ``memory``)."""
    from engine.generation.fill import bar_range_ticks, gap_steps, score_gap

    enc = model.encoding

    def score_song(song: Song) -> tuple[float, int, int]:
        index = melody_track(song)
        if index is None:
            return 0.0, 0, 0
        encoded = enc.encode_tune(song.tracks[index].notes, song.ppq)
        start_tick, end_tick = bar_range_ticks(song, *bars)
        a, b = gap_steps(song, encoded.start_step, start_tick, end_tick, enc)
        return score_gap(model, encoded.tokens, a, b, memory=memory)

    return score_song


def _cmd_score_fill(args: argparse.Namespace) -> int:
    from engine import cli

    library = cli._library(args)
    model = library.get(args.model)
    both = "fill" in model.info.jobs and "fill" in getattr(model.encoding, "jobs", ())
    if getattr(args, "style", None):
        raise GenerationError("--style is not used with --fill: a style is mixed in when "
                              "continuing; score the gap without it")
    memory = getattr(args, "memory", "off") == "on"
    files = cli.score_files(args.files, _gap_scorer(model, args.fill, memory))
    cli.print_score_report(model, files, args.per_tune, gap={
        "from_bar": args.fill[0], "to_bar": args.fill[1],
        "context": "both sides" if both else
        "the music before the gap only (the model does not fill)"},
        memory=cli._memory_description(model.name) + (
            ": it has heard the music after the gap, then before it" if both else "")
        if memory else "off")
    return 0


def add_fill_commands(subparsers: argparse._SubParsersAction) -> None:
    """``fill``, and ``--fill FROM:TO`` on the ``score`` command already added."""
    from engine import cli

    f = subparsers.add_parser(
        "fill", help="regenerate bars of a song from the music on both sides",
        description="Fill bars FROM..TO (1-based, inclusive) of a song's melody track with a "
                    "model trained to fill, or of every part but the drums with a "
                    "polyphonic model (poly-wavenet, poly-lstm; --track is not used), and "
                    "write the song with the gap filled. Notes that start inside the gap "
                    "are replaced; every other note is kept as it is. With --variations K "
                    "above 1, OUT-1.mid ... OUT-K.mid.")
    cli.add_model_options(f, "lstm-fill", "a model whose card lists the fill job, or a "
                                          "polyphonic model to fill every part")
    f.add_argument("--seed", required=True, metavar="FILE",
                   help="the MIDI, ABC, MusicXML or kern song to fill")
    f.add_argument("--tune", type=int, default=1, metavar="N",
                   help="the tune of a multi-tune ABC file, from 1 (default 1)")
    f.add_argument("--track", type=int, metavar="N",
                   help="the track to fill, from 1 (default: the melody track)")
    f.add_argument("--from", dest="from_bar", type=int, required=True, metavar="BAR",
                   help="the first bar of the gap, from 1 (0: a pickup bar)")
    f.add_argument("--to", dest="to_bar", type=int, required=True, metavar="BAR",
                   help="the last bar of the gap (included)")
    f.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help="0 (always the likeliest note) to 2 (wild); default 1")
    f.add_argument("--top-p", type=float, default=1.0, metavar="P",
                   help="sample only from the likeliest notes covering P (default 1)")
    f.add_argument("--variations", type=int, default=1, metavar="K",
                   help="how many different fills, 1-8 (default 1)")
    f.add_argument("--rng-seed", type=int, default=0, metavar="S",
                   help="random seed: the same seed and options give the same notes")
    f.add_argument("--key", default="auto", metavar="KEY",
                   help="keep new notes in this key's scale: auto (the song's key), none, "
                        "or a key such as C, F#, Bb, Am")
    f.add_argument("--min-pitch", type=int, metavar="MIDI", help="lowest new note (0-127)")
    f.add_argument("--max-pitch", type=int, metavar="MIDI", help="highest new note (0-127)")
    f.add_argument("-o", "--output", required=True, metavar="OUT.mid",
                   help="the MIDI file to write (written atomically)")
    cli._add_memory_option(f)
    f.set_defaults(handler=cli._run("fill", _cmd_fill))
    cli._one_line_errors(f)

    score = subparsers.choices.get("score")
    if score is None:
        return
    score.add_argument("--fill", type=parse_bars, metavar="FROM:TO",
                       help="score only the notes of bars FROM..TO (1-based, inclusive), "
                            "given the music on both sides when the model fills (else "
                            "given the music before them)")
    plain = score.get_default("handler")

    def handler(args: argparse.Namespace) -> int:
        if getattr(args, "fill", None) is None:
            return plain(args)
        return cli._run("score", _cmd_score_fill)(args)

    score.set_defaults(handler=handler)
