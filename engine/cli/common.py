"""What every command shares: the exit statuses, one-line errors, the model library, the
seed and output files, and the options declared once (model, sampling, the steering
controls, memory, style) with the :class:`GenerationSettings` they make."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.encodings import PARTS, capabilities_of
from engine.errors import ContinuoError, GenerationError, ModelError
from engine.generation.request import (CONTROLS, FOLLOW_CHORDS, PART_CONTROL_NAMES,
                                       GenerationSettings, nameable)
from engine.models import ModelLibrary
from engine.song import Song

EXIT_USAGE = 2
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # Ctrl+C, as shells report a process ended by SIGINT

Handler = Callable[[argparse.Namespace], int]


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
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


def run_command(name: str, func: Handler) -> Handler:
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


def model_library(args: argparse.Namespace) -> ModelLibrary:
    """The models of ``--models-dir`` (or the default folders); the sentence of the
    refused card when ``--model`` names one."""
    folders = [Path(d) for d in args.models_dir] if args.models_dir else None
    library = ModelLibrary(folders)
    if args.model not in library.names:
        for problem in library.problems:
            if problem.startswith(f"{args.model}.json:"):
                raise ModelError(f"model '{args.model}' was refused: {problem}")
    return library


def load_seed(path: str, tune: int) -> Song:
    """The song of ``path`` (its ``tune``, from 1), or a sentence saying why not."""
    from engine.formats import load_song, unreadable_suffix

    if not Path(path).exists():
        raise GenerationError(f"{Path(path).name}: there is no such seed file")
    if problem := unreadable_suffix(path):  # the suffixes of engine.formats.READERS
        raise GenerationError(problem)
    return load_song(path, tune=tune - 1)


def chosen_track(song: Song | None, number: int, where: str) -> int:
    """The index of track ``number`` (from 1) of ``song``, or a sentence naming
    ``where`` it was looked for."""
    count = 0 if song is None else len(song.tracks)
    if not 1 <= number <= count:
        raise GenerationError(f"there is no track {number} in the {where} (it has {count})")
    return number - 1


def output_path(name: str) -> Path:
    """The MIDI file a command will write, checked before any work: not a folder, in a
    folder that exists."""
    out = Path(name)
    if out.is_dir():
        raise GenerationError(f"{out}: this is a folder; give a file name such as out.mid")
    if not out.parent.exists():
        raise GenerationError(f"{out.parent}: there is no such folder to write into")
    return out


def output_paths(out: Path, count: int) -> list[Path]:
    """OUT for one variation, OUT-1 ... OUT-K for K."""
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i + 1}{out.suffix or '.mid'}") for i in range(count)]


def say_notes(messages: list[str]) -> None:
    """A job's remarks, one ``note:`` line each on stderr."""
    for message in messages:
        sys.stderr.write(f"note: {message}\n")


def add_model_options(p: argparse.ArgumentParser, default: str | None = "lstm",
                      what: str = "the model to use, by its card's name") -> None:
    p.add_argument("--model", default=default, metavar="NAME",
                   help=what if default is None else f"{what} (default: {default})")
    p.add_argument("--models-dir", action="append", metavar="DIR",
                   help="look for model cards in DIR instead of models/ and the user's "
                        "models folder (may be given more than once)")


def add_tune_and_track(p: argparse.ArgumentParser, track: str, what: str = "file") -> None:
    """--tune (of a multi-tune ABC ``what``) and --track (``track`` says which)."""
    p.add_argument("--tune", type=int, default=1, metavar="N",
                   help=f"the tune of a multi-tune ABC {what}, from 1 (default 1)")
    p.add_argument("--track", type=int, metavar="N", help=track)


def add_output_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, metavar="OUT.mid",
                   help="the MIDI file to write (written atomically)")


def add_memory_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memory", choices=("on", "off"), default="on",
                   help="the motif memory: a model of the piece itself mixed with the "
                        "network's (default on; off: the network alone)")


def add_style_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style", metavar="DIR|JSON",
                   help="mix in a style learnt from a folder of your MIDI, ABC, MusicXML or "
                        "kern files (built in seconds the first time, then kept in the "
                        "models folder's styles/ until the folder changes), or a saved "
                        "style's .json")


@dataclass(frozen=True)
class SamplingHelp:
    """How a command words its sampling options (the options are the same)."""

    temperature: str = "0 (always the likeliest note) to 2 (wild); default 1"
    top_p: str = ("sample only from the likeliest notes covering P, 0 < P <= 1 "
                  "(default 1: all)")
    variations: str = "how many different continuations, 1-8 (default 1)"
    rng_seed: str = ("random seed: the same seed and options give the same notes "
                     "(default 0)")
    key: str = ("keep new notes in this key's scale: auto (the seed's key, the "
                "default), none (no lock), or a key such as C, F#, Bb, Am, C#m")
    pitch_range: bool = True  # --min-pitch and --max-pitch
    steering: bool = True  # --constraint and --mixer
    controls: bool = True  # --density, --leaps, --repeat, --register, --syncopation, --dynamics


def add_sampling_options(p: argparse.ArgumentParser, words: SamplingHelp = SamplingHelp()
                         ) -> None:
    """--temperature, --top-p, --variations, --rng-seed, --key (and the pitch range):
    what :func:`settings_from` reads."""
    p.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help=words.temperature)
    p.add_argument("--top-p", type=float, default=1.0, metavar="P", help=words.top_p)
    p.add_argument("--variations", type=int, default=1, metavar="K", help=words.variations)
    p.add_argument("--rng-seed", type=int, default=0, metavar="S", help=words.rng_seed)
    p.add_argument("--key", default="auto", metavar="KEY", help=words.key)
    if words.pitch_range:
        p.add_argument("--min-pitch", type=int, metavar="MIDI", help="lowest new note (0-127)")
        p.add_argument("--max-pitch", type=int, metavar="MIDI",
                       help="highest new note (0-127)")
    if words.steering:
        p.add_argument("--constraint", action="append", default=[], metavar="NAME",
                       help="narrow every step by a named constraint of a melody model's "
                            "continuation (may be given more than once): "
                            f"{', '.join(nameable('constraint'))}")
        p.add_argument("--mixer", action="append", default=[], metavar="NAME",
                       help="reshape every step by a named mixer of a melody model "
                            "(may be given more than once): "
                            f"{', '.join(nameable('mixer'))}")
    if words.controls:
        add_control_options(p)


def add_control_options(p: argparse.ArgumentParser, parts: bool = True) -> None:
    """The steering controls (CONTROLS), each a whole number from -2 to 2 (default 0:
    the music as without them), and with ``parts`` --part-control."""
    for name, _, low, high in CONTROLS:
        p.add_argument(f"--{name}", type=int, default=0, metavar="N",
                       help=f"-2 ({low.lower()}) .. 2 ({high.lower()}); default 0")
    if not parts:
        return
    p.add_argument("--part-control", action="append", default=[], metavar="TRACK:NAME=N",
                   help="a control for one track's part of a model that writes several "
                        "parts, tracks numbered from 1 (may be given more than once), such "
                        f"as 2:density=-2; NAME is one of {', '.join(PART_CONTROL_NAMES)}; "
                        "the track's other controls are the flags' above")


def part_controls_from(specs: list[str]) -> tuple[tuple[int, str, int], ...]:
    """``--part-control`` values (``TRACK:NAME=N``, tracks from 1) as the settings'
    ``part_controls`` (tracks from 0); a GenerationError says which one is not read."""
    out = []
    for spec in specs:
        track, _, rest = spec.partition(":")
        name, _, value = rest.partition("=")
        try:
            number, position = int(track), int(value)
        except ValueError:
            raise GenerationError(f"--part-control takes TRACK:NAME=N, such as "
                                  f"2:density=-2, not {spec!r}") from None
        if number < 1:
            raise GenerationError(f"--part-control {spec}: tracks are numbered from 1")
        out.append((number - 1, name.strip(), position))
    return tuple(out)


def settings_from(args: argparse.Namespace, **fixed) -> GenerationSettings:
    """The settings of a command's options (those it has; ``fixed`` overrides), checked:
    a bad option fails before any file is read."""
    values = dict(model=args.model, temperature=args.temperature, top_p=args.top_p,
                  variations=args.variations, rng_seed=args.rng_seed,
                  key=None if args.key.lower() == "none" else args.key)
    for name in ("bars", "steps", "min_pitch", "max_pitch", "style"):
        if hasattr(args, name):
            values[name] = getattr(args, name)
    if hasattr(args, "memory"):
        values["memory"] = args.memory == "on"
    for name, option in (("constraints", "constraint"), ("mixers", "mixer")):
        if getattr(args, option, None):
            values[name] = tuple(getattr(args, option))
    if getattr(args, "part_control", None):
        values["part_controls"] = part_controls_from(args.part_control)
    for name, _, _, _ in CONTROLS:
        if getattr(args, name, 0):
            values[name] = getattr(args, name)
    if hasattr(args, "follow_chords"):
        values["follow_chords"] = chord_following(args)
    values.update(fixed)
    settings = GenerationSettings(**values)
    settings.validate()
    return settings


def add_chord_options(p: argparse.ArgumentParser, starts: str) -> None:
    """--chords and --follow-chords (``starts``: the bar the chart's first bar is)."""
    p.add_argument("--chords", metavar="CHART",
                   help=f"a chord chart to follow: bars separated by '|', the chords of a bar "
                        f"splitting it evenly, such as \"C | Am | F G7 | C\"; '%%' repeats a "
                        f"bar. Its first bar is {starts}; the last chord lasts to the end "
                        f"(default: the song's own chord track, if it has one)")
    p.add_argument("--follow-chords", choices=FOLLOW_CHORDS, default=None,
                   help="follow the chords: loose (chord tones likelier), strict (every "
                        "beat on a chord tone, notes between beats passing by step; with a "
                        "harmonisation the bass on the chord's bass note) or off (default: "
                        "strict with --chords, else off)")


def chord_following(args: argparse.Namespace) -> str:
    """The follow-chords setting of ``args``, the chart read (``args.chord_chart``) so
    that a bad chart fails before any file is read."""
    from engine.encodings.chord_chart import parse_chart

    chart = getattr(args, "chords", None)
    args.chord_chart = parse_chart(chart) if chart is not None else None
    if args.follow_chords is not None:
        if chart is not None and args.follow_chords == "off":
            raise GenerationError("--chords gives chords to follow, but --follow-chords is "
                                  "off: leave one of them out")
        return args.follow_chords
    return "strict" if chart is not None else "off"


def song_with_chords(args: argparse.Namespace, song: Song | None,
                     from_tick: int) -> Song | None:
    """``song`` with the chart of ``--chords`` as its chord track from the bar of
    ``from_tick`` on (its own chords before it kept); a GenerationError when chords are
    to be followed and there are none."""
    from engine.encodings.chord_chart import with_chart

    chart = getattr(args, "chord_chart", None)
    if chart is not None:
        return with_chart(song if song is not None else Song(), chart, from_tick)
    if getattr(args, "follow_chords", None) not in (None, "off") and \
            (song is None or not song.chords):
        raise GenerationError(f"--follow-chords {args.follow_chords} follows the song's chord "
                              f"track, and it has none: give a chart with --chords, such "
                              f"as \"C | Am | F G7 | C\" (main.py chords FILE shows the "
                              f"chords of a song's parts)")
    return song


def seed_end(song: Song | None) -> int:
    """Where a continuation of ``song`` starts, as near as a command can say before the
    model is chosen: the first beat at or after the end of its last pitched note (0 for
    none)."""
    if song is None:
        return 0
    end = max((n.end_tick for t in song.tracks if not t.is_drum for n in t.notes), default=0)
    in_beat = song.bar_beat_at(end)[2]
    if in_beat:
        end += song.time_signature_at(end).ticks_per_beat(song.ppq) - in_beat
    return end


def build_style(where: str, model):
    """The style of ``where`` (a folder of music, or a saved style's JSON) for
    ``model``: the saved one, or built with its progress on stderr (a line every few
    seconds and one at the end)."""
    from engine.generation.style import resolve_style

    if PARTS in capabilities_of(model):
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
