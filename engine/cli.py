"""Headless commands: ``generate`` (continue a seed, write MIDI) and ``score`` (bits per
note of files under a model).

Both use the very engine the GUI uses.  Anything a user can get wrong (a seed file that
cannot be read, a model that does not exist, an option out of range) ends the command
with one line on stderr and a non-zero exit status, never a traceback:
exit status 2 for a command line that does not parse, 1 for everything else; Ctrl+C
ends a job with "continuo COMMAND: stopped" and exit status 130.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from engine.song import melody_track
from engine.errors import ContinuoError, GenerationError, ModelError
from engine.generation.generator import GenerationResult, GenerationSettings, generate
from engine.models import ModelLibrary
from engine.song import Note, Song, Track, melody_song

EXIT_USAGE = 2
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # Ctrl+C, as shells report a process ended by SIGINT


def _one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make this sub-parser report a bad command line as one line (argparse prints the
    whole usage first) and refuse unknown arguments itself, so that the main parser
    never has to."""
    prog = parser.prog

    def error(message: str):  # noqa: ANN202 - argparse's signature
        sys.stderr.write(f"{prog}: {message} (see --help)\n")
        sys.exit(EXIT_USAGE)

    original = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        namespace, extras = original(args, namespace)
        if extras:
            error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    parser.error = error  # type: ignore[method-assign]
    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]
    return parser


Handler = Callable[[argparse.Namespace], int]


def _run(name: str, func: Handler) -> Handler:
    """Wrap a command so a user's mistake is one line on stderr and exit status 1."""

    def handler(args: argparse.Namespace) -> int:
        from engine.limits import interrupted, job_begins, say_stopped

        job_begins()  # Ctrl+C raises KeyboardInterrupt from here (main.py set it up)
        try:
            return func(args)
        except ContinuoError as e:
            if interrupted():  # a reader that turned the Ctrl+C into its own error
                say_stopped(name)
                return EXIT_INTERRUPTED
            sys.stderr.write(f"continuo {name}: {e}\n")
            return EXIT_ERROR
        except KeyboardInterrupt:  # Ctrl+C: "continuo NAME: stopped"
            say_stopped(name)
            return EXIT_INTERRUPTED

    return handler


def _library(args: argparse.Namespace) -> ModelLibrary:
    folders = [Path(d) for d in args.models_dir] if args.models_dir else None
    library = ModelLibrary(folders)
    if args.model not in library.names:
        for problem in library.problems:
            if problem.startswith(f"{args.model}.json:"):
                raise ModelError(f"model '{args.model}' was refused: {problem}")
    return library


def _load_seed(path: str, tune: int) -> Song:
    from engine.formats import load_song, unreadable_suffix

    if not Path(path).exists():
        raise GenerationError(f"{Path(path).name}: there is no such seed file")
    if problem := unreadable_suffix(path):  # the suffixes of engine.formats.READERS
        raise GenerationError(problem)
    return load_song(path, tune=tune - 1)


def output_path(name: str) -> Path:
    """The MIDI file a command will write, checked before any work: not a folder, in a
    folder that exists."""
    out = Path(name)
    if out.is_dir():
        raise GenerationError(f"{out}: this is a folder; give a file name such as out.mid")
    if not out.parent.exists():
        raise GenerationError(f"{out.parent}: there is no such folder to write into")
    return out


def _output_paths(out: Path, count: int) -> list[Path]:
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i + 1}{out.suffix or '.mid'}") for i in range(count)]


def _song_with(seed: Song | None, track_index: int | None, new_notes: list[Note],
               continuation_only: bool) -> Song:
    """The song to write: the seed with the new notes on its melody track (or only the
    new notes, in the seed's tempo and meter)."""
    if seed is None:
        return melody_song(new_notes, name="Continuation")
    song = seed.copy()
    if continuation_only:
        for track in song.tracks:
            track.notes = []
    if track_index is None:
        track_index = melody_track(seed)
    if track_index is None:
        song.tracks.append(Track(name="Continuation"))
        track_index = len(song.tracks) - 1
    track = song.tracks[track_index]
    track.notes = sorted(track.notes + new_notes, key=Note.sort_key)
    return song


def _cmd_generate(args: argparse.Namespace) -> int:
    from engine.formats import song_to_midi_file

    settings = GenerationSettings(
        model=args.model or "lstm", temperature=args.temperature, top_p=args.top_p,
        bars=args.bars,
        steps=args.steps, variations=args.variations, rng_seed=args.rng_seed,
        key=None if args.key.lower() == "none" else args.key,
        min_pitch=args.min_pitch, max_pitch=args.max_pitch, memory=args.memory == "on",
        style=args.style)
    settings.validate()  # before the seed is read: a bad option fails fast
    out = output_path(args.output)
    seed = _load_seed(args.seed, args.tune) if args.seed else None
    track_index = None
    if args.track is not None:
        if seed is None or not 1 <= args.track <= len(seed.tracks):
            count = 0 if seed is None else len(seed.tracks)
            raise GenerationError(f"there is no track {args.track} in the seed (it has {count})")
        track_index = args.track - 1
    from engine import poly_cli

    if args.model is None:  # several voices get a polyphonic model when one is installed
        args.model = settings.model = poly_cli.default_model(ModelLibrary(
            [Path(d) for d in args.models_dir] if args.models_dir else None), seed)
    library = _library(args)
    if args.style is not None:  # built (or found) here, with its progress on stderr
        settings.style = str(_style(args.style, library.get(args.model)).path)
    if poly_cli.is_polyphonic_name(library, args.model):
        settings.memory = False
        return poly_cli.generate_parts(args, library, seed, settings)
    result: GenerationResult = generate(library, seed, settings, track_index=track_index)
    for message in result.messages:
        sys.stderr.write(f"note: {message}\n")
    for path, notes in zip(_output_paths(out, len(result.variations)), result.variations):
        song_to_midi_file(_song_with(seed, track_index, notes, args.continuation_only), path)
        print(f"wrote {path} ({len(notes)} new notes in {result.key.name}, "
              f"model {result.model})")
    return 0


Scorer = Callable[[Song], tuple[float, int, int]]  # a song -> (bits, tokens scored, notes)


# score runs the network over every step of a tune at once, which costs memory by the
# step (lstm ~10 KB, poly-wavenet ~40 KB a step): a tune is scored up to this long, 500
# bars of 4/4, so that one note that lasts for days is refused, not scored
MAX_SCORED_QUARTERS = 2_000


def score_files(paths: list[str], score_song: Scorer) -> list[dict[str, Any]]:
    """Bits of every tune in each file, as ``score`` lists them."""
    from engine.errors import LimitError
    from engine.formats.folder import tunes_in

    files = []
    for name in paths:
        path = Path(name)
        tunes = []
        for i, (title, song) in enumerate(tunes_in(path)):
            quarters = max((t.end_tick for t in song.tracks), default=0) / song.ppq  # notes
            if quarters > MAX_SCORED_QUARTERS:
                which = f" (tune {i + 1})" if i else ""
                raise LimitError(f"{path.name}{which}: the music lasts {quarters:,.0f} quarter "
                                 f"notes; score reads up to {MAX_SCORED_QUARTERS:,} ("
                                 f"{MAX_SCORED_QUARTERS // 4:,} bars of 4/4)")
            bits, scored, notes = score_song(song)
            tunes.append({"tune": i + 1, "title": title, "bits": bits, "tokens": scored,
                          "notes": notes, "bits_per_note": bits / notes if notes else None})
        files.append({"file": str(path), "tunes": tunes})
    return files


def print_score_report(model, files: list[dict[str, Any]], per_tune: bool,
                       **context: Any) -> None:
    """The JSON that ``score`` prints: the totals, what was scored (``context``) and the
    files (every tune's figures with ``per_tune``)."""
    total_bits = sum(t["bits"] for f in files for t in f["tunes"])
    notes = sum(t["notes"] for f in files for t in f["tunes"])
    tokens = sum(t["tokens"] for f in files for t in f["tunes"])
    report = {
        "model": model.name,
        "card_bits_per_note": model.info.bits_per_note,
        **context,
        "total_bits": total_bits,
        "tokens": tokens,
        "notes": notes,
        "bits_per_note": total_bits / notes if notes else None,
        "tunes": sum(len(f["tunes"]) for f in files),
        "files": files if per_tune else [
            {"file": f["file"], "tunes": len(f["tunes"]),
             "bits": sum(t["bits"] for t in f["tunes"]),
             "notes": sum(t["notes"] for t in f["tunes"])} for f in files],
    }
    print(json.dumps(report, indent=2))


def _style(where: str, model):
    """The style of ``where`` (a folder of music, or a saved style's JSON) for
    ``model``: the saved one, or built with its progress on stderr (a line every few
    seconds and one at the end)."""
    from engine.generation.style import resolve_style

    if hasattr(model.encoding, "grammar"):
        raise GenerationError(f"a style joins a melody model; {model.name} continues every "
                              f"part at once (choose lstm, wavenet or duet with --model)")
    import time

    last = [0.0]

    def progress(done: int, total: int, name: str) -> None:
        now = time.monotonic()
        if now - last[0] >= 2.0 and done < total:
            last[0] = now
            sys.stderr.write(f"style: reading {done + 1}/{total} files ({name})\n")

    style = resolve_style(where, model.encoding, progress=progress)
    sys.stderr.write(f"style {style.describe()}"
                     + (f", built in {style.build_seconds:.1f} s" if style.built_now
                        else ", saved before")
                     + f" ({style.path})\n")
    for problem in style.problems[:10]:
        sys.stderr.write(f"style: skipped {problem}\n")
    if style.skipped > 10:
        sys.stderr.write(f"style: ... {style.skipped - 10} more skipped (listed in "
                         f"{style.path})\n")
    return style


def _cmd_score(args: argparse.Namespace) -> int:
    library = _library(args)
    model = library.get(args.model)
    # the motif memory speaks melody tokens; a polyphonic model is scored alone
    memory = args.memory == "on" and not hasattr(model.encoding, "grammar")
    style = _style(args.style, model) if args.style is not None else None

    def score_song(song: Song) -> tuple[float, int, int]:
        tokens = model.encoding.song_to_tokens(song)
        if not tokens:
            return 0.0, 0, 0
        if style is not None:
            from engine.generation.style import score_tokens_with_style

            return score_tokens_with_style(model, tokens, style, memory)
        if memory:
            from engine.generation.memory import mixing_for, score_tokens_with_memory

            # the memory's contexts by phase, in the song's metre (as generating)
            mixing = mixing_for(model.name).in_metre(song, model.encoding.steps_per_quarter)
            return score_tokens_with_memory(model, tokens, mixing)
        return model.score_tokens(tokens)

    files = score_files(args.files, score_song)
    print_score_report(model, files, args.per_tune,
                       memory=_memory_description(model.name) if memory else "off",
                       style=style.summary() if style is not None else "off")
    return 0


def _memory_description(model_name: str) -> str:
    from engine.generation.memory import mixing_for

    return f"on ({mixing_for(model_name).describe()})"


def _add_memory_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memory", choices=("on", "off"), default="on",
                   help="the motif memory: a model of the piece itself mixed with the "
                        "network's (default on; off: the network alone)")


def _add_style_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style", metavar="DIR|JSON",
                   help="mix in a style learnt from a folder of your MIDI, ABC, MusicXML or "
                        "kern files (built in seconds the first time, then kept in the "
                        "models folder's styles/ until the folder changes), or a saved "
                        "style's .json")


def add_model_options(p: argparse.ArgumentParser, default: str | None = "lstm",
                      what: str = "the model to use, by its card's name") -> None:
    p.add_argument("--model", default=default, metavar="NAME",
                   help=what if default is None else f"{what} (default: {default})")
    p.add_argument("--models-dir", action="append", metavar="DIR",
                   help="look for model cards in DIR instead of models/ and the user's "
                        "models folder (may be given more than once)")


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``generate`` and ``score`` to the main parser's sub-commands."""
    g = subparsers.add_parser(
        "generate", help="continue a seed with a model and write MIDI",
        description="Continue a seed melody with a model and write a MIDI file: the seed "
                    "with the new notes on its melody track. With --variations K above 1, "
                    "one file per variation is written: OUT-1.mid ... OUT-K.mid.")
    add_model_options(g, default=None,
                      what="the model to use, by its card's name (default: lstm, or "
                           "poly-wavenet for a seed of several voices)")
    g.add_argument("--seed", metavar="FILE",
                   help="MIDI, ABC, MusicXML or kern file to continue (default: none; the "
                        "continuation starts on the tonic of --key)")
    g.add_argument("--tune", type=int, default=1, metavar="N",
                   help="the tune of a multi-tune ABC seed, from 1 (default 1)")
    g.add_argument("--track", type=int, metavar="N",
                   help="the seed's track to continue, from 1 (default: its melody track)")
    g.add_argument("--bars", type=int, default=4, metavar="N",
                   help="bars to add, 1-32 (default 4)")
    g.add_argument("--steps", type=int, metavar="N",
                   help="sixteenth-note steps to add instead of --bars, 1-2048")
    g.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help="0 (always the likeliest note) to 2 (wild); default 1")
    g.add_argument("--top-p", type=float, default=1.0, metavar="P",
                   help="sample only from the likeliest notes covering P, 0 < P <= 1 "
                        "(default 1: all)")
    g.add_argument("--variations", type=int, default=1, metavar="K",
                   help="how many different continuations, 1-8 (default 1)")
    g.add_argument("--rng-seed", type=int, default=0, metavar="S",
                   help="random seed: the same seed and options give the same notes "
                        "(default 0)")
    g.add_argument("--key", default="auto", metavar="KEY",
                   help="keep new notes in this key's scale: auto (the seed's key, the "
                        "default), none (no lock), or a key such as C, F#, Bb, Am, C#m")
    g.add_argument("--min-pitch", type=int, metavar="MIDI", help="lowest new note (0-127)")
    g.add_argument("--max-pitch", type=int, metavar="MIDI", help="highest new note (0-127)")
    _add_memory_option(g)
    _add_style_option(g)
    g.add_argument("--continuation-only", action="store_true",
                   help="write only the new notes (in the seed's tempo and meter)")
    g.add_argument("-o", "--output", required=True, metavar="OUT.mid",
                   help="the MIDI file to write (written atomically)")
    g.set_defaults(handler=_run("generate", _cmd_generate))
    _one_line_errors(g)

    s = subparsers.add_parser(
        "score", help="bits per note of files under a model",
        description="Print JSON with the total bits, the number of notes and the bits per "
                    "note of the files' melodies under a model (the definition of "
                    "docs/model-contract.md); each tune of a multi-tune ABC file is "
                    "scored on its own.")
    add_model_options(s)
    _add_memory_option(s)
    _add_style_option(s)
    s.add_argument("--per-tune", action="store_true", help="list every tune's figures")
    s.add_argument("files", nargs="+", metavar="FILE", help="MIDI, ABC, MusicXML or kern files")
    s.set_defaults(handler=_run("score", _cmd_score))
    _one_line_errors(s)

    from engine.fill_cli import add_fill_commands  # fill, and score --fill FROM:TO

    add_fill_commands(subparsers)
    from engine.poly_cli import add_harmonise_command

    add_harmonise_command(subparsers)
    from engine.convert_cli import add_convert_command  # issue 29: hand the music on

    add_convert_command(subparsers)
