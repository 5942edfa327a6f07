"""``continuo score``: bits per note of files under a model, and with ``--fill FROM:TO``
the bits of the notes inside a gap given both sides.  Bars are counted from 1 (a pickup
bar is bar 0, as scores number it) and both ends are included."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

from engine.cli.common import (add_memory_option, add_model_options, add_style_option,
                               build_style, model_library, one_line_errors, run_command)
from engine.encodings import FILL, PARTS, capabilities_of
from engine.errors import GenerationError
from engine.generation.request import CONTROLS, GenerationSettings
from engine.song import Song, melody_track

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


def memory_description(model_name: str) -> str:
    from engine.generation.memory import mixing_for

    return f"on ({mixing_for(model_name).describe()})"


def _cmd_score(args: argparse.Namespace) -> int:
    if any(getattr(args, name, 0) for name, *_ in CONTROLS):
        return _cmd_score_controls(args)
    if getattr(args, "pitch_only", False):
        return _cmd_score_pitches(args)
    if getattr(args, "fill", None) is not None:
        return _cmd_score_gap(args)
    if getattr(args, "follow_chords", "off") == "loose":
        return _cmd_score_chords(args)
    library = model_library(args)
    model = library.get(args.model)
    # a part model's memory hears every part's tokens together (engine/generation/part_memory.py)
    memory = args.memory == "on"
    style = build_style(args.style, model) if args.style is not None else None

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
                       memory=memory_description(model.name) if memory else "off",
                       style=style.summary() if style is not None else "off")
    return 0


def _cmd_score_chords(args: argparse.Namespace) -> int:
    """``score --follow-chords loose``: each tune scored by the network with the loose
    follow-chords mixer (engine/generation/mixers/chords.py) on its chord track: the
    file's own, else the chords detected from its parts; the memory is not mixed in."""
    from engine.encodings.chords import chord_track, detect_chords
    from engine.generation.mixers.chords import LOOSE_BIAS, score_with_chords

    if args.fill is not None or args.pitch_only or args.style is not None:
        raise GenerationError("--follow-chords loose scores whole tunes by the network "
                              "alone: leave out --fill, --pitch-only and --style")
    model = model_library(args).get(args.model)
    sources: list[str] = []

    def score_song(song: Song) -> tuple[float, int, int]:
        if not song.chords:
            song = song.copy()
            song.chords = chord_track(detect_chords(song))
            sources.append("detected")
        else:
            sources.append("file")
        return score_with_chords(model, song)

    files = score_files(args.files, score_song)
    chords = {"file": "the file's chord track", "detected": "detected from its parts"}
    print_score_report(model, files, args.per_tune, memory="off",
                       follow_chords=f"loose (chord tones +{LOOSE_BIAS:g} logits; chords: "
                                     f"{', '.join(sorted({chords[s] for s in sources}))})")
    return 0


def _cmd_score_controls(args: argparse.Namespace) -> int:
    """``score --density N ...``: each tune's bits with the steering controls as a
    scoring condition (engine/generation/control_scoring.py, as bench/controls.py
    --bits reads them), beside the same reading with every control at 0."""
    from engine.generation.control_scoring import tune_bits

    if args.fill is not None or args.pitch_only or args.style is not None:
        raise GenerationError("the controls score whole tunes: leave out --fill, "
                              "--pitch-only and --style")
    model = model_library(args).get(args.model)
    parts = PARTS in capabilities_of(model)
    if parts and args.repeat:
        raise GenerationError("--repeat scores a melody model's motif memory; leave it out "
                              "for a part model")
    memory = args.memory == "on" and not parts  # a part model's lines: the controls only
    values = {name: getattr(args, name) for name, *_ in CONTROLS}
    settings = GenerationSettings(model=model.name, memory=memory, **values)
    settings.validate()
    neutral = GenerationSettings(model=model.name, memory=memory)
    zero: list[float] = []

    def score_song(song: Song) -> tuple[float, int, int]:
        zero.append(tune_bits(model, neutral, song, parts)[0])
        return tune_bits(model, settings, song, parts)

    files = score_files(args.files, score_song)
    notes = sum(t["notes"] for f in files for t in f["tunes"])
    bits = sum(t["bits"] for f in files for t in f["tunes"])
    at_zero = sum(zero) / notes if notes else None
    print_score_report(model, files, args.per_tune,
                       memory=memory_description(model.name) if memory else "off",
                       controls={k: v for k, v in values.items() if v},
                       bits_per_note_controls_at_0=at_zero,
                       rise_over_controls_at_0=(bits / notes / at_zero - 1)
                       if notes and at_zero else None)
    return 0


def _cmd_score_pitches(args: argparse.Namespace) -> int:
    """``score --pitch-only``: the bits of each note's pitch given that a note starts
    there and everything before (engine/generation/pitch_only.py)."""
    from engine.generation.pitch_only import score_pitches

    if getattr(args, "fill", None) is not None or getattr(args, "style", None) is not None:
        raise GenerationError("--pitch-only is not used with --fill or --style: it scores "
                              "every note's pitch of whole tunes, network and memory only")
    library = model_library(args)
    model = library.get(args.model)
    if PARTS in capabilities_of(model):
        raise GenerationError(f"--pitch-only scores a melody model's tunes; {model.name} is "
                              f"polyphonic (several notes may start on one step)")
    memory = args.memory == "on"

    def score_song(song: Song) -> tuple[float, int, int]:
        tokens = model.encoding.song_to_tokens(song)
        if not tokens:
            return 0.0, 0, 0
        mixing = None
        if memory:
            from engine.generation.memory import mixing_for

            mixing = mixing_for(model.name).in_metre(song, model.encoding.steps_per_quarter)
        bits, notes = score_pitches(model, tokens, mixing)
        return bits, notes, notes

    files = score_files(args.files, score_song)
    total = sum(t["bits"] for f in files for t in f["tunes"])
    notes = sum(t["notes"] for f in files for t in f["tunes"])
    for f in files:
        for t in f["tunes"]:
            t["pitch_bits"] = t.pop("bits")
            t["pitch_bits_per_note"] = t.pop("bits_per_note")
            del t["tokens"]
    report = {
        "model": model.name,
        "scored": "pitch only: each note's pitch given that a note starts there and "
                  "everything before (the distribution renormalised over the note starts)",
        "memory": memory_description(model.name) if memory else "off",
        "pitch_bits": total,
        "notes": notes,
        "pitch_bits_per_note": total / notes if notes else None,
        "tunes": sum(len(f["tunes"]) for f in files),
        "files": files if args.per_tune else [
            {"file": f["file"], "tunes": len(f["tunes"]),
             "pitch_bits": sum(t["pitch_bits"] for t in f["tunes"]),
             "notes": sum(t["notes"] for t in f["tunes"])} for f in files],
    }
    print(json.dumps(report, indent=2))
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
        return score_gap(model, encoded.tokens, a, b, memory=memory, song=song,
                         gap_tick=start_tick)

    return score_song


def _cmd_score_gap(args: argparse.Namespace) -> int:
    """``score --fill FROM:TO``: the bits of the gap's notes."""
    library = model_library(args)
    model = library.get(args.model)
    caps = capabilities_of(model)
    both = FILL in caps and PARTS not in caps  # a melody model that fills: both sides
    if getattr(args, "style", None):
        raise GenerationError("--style is not used with --fill: a style is mixed in when "
                              "continuing; score the gap without it")
    memory = getattr(args, "memory", "off") == "on"
    files = score_files(args.files, _gap_scorer(model, args.fill, memory))
    print_score_report(model, files, args.per_tune, gap={
        "from_bar": args.fill[0], "to_bar": args.fill[1],
        "context": "both sides" if both else
        "the music before the gap only (the model does not fill)"},
        memory=memory_description(model.name) + (
            ": it has heard the music after the gap, then before it" if both else "")
        if memory else "off")
    return 0


def add_command(subparsers: argparse._SubParsersAction) -> None:
    s = subparsers.add_parser(
        "score", help="bits per note of files under a model",
        description="Print JSON with the total bits, the number of notes and the bits per "
                    "note of the files' melodies under a model (the definition of "
                    "docs/model-contract.md); each tune of a multi-tune ABC file is "
                    "scored on its own.")
    add_model_options(s)
    add_memory_option(s)
    add_style_option(s)
    s.add_argument("--per-tune", action="store_true", help="list every tune's figures")
    s.add_argument("files", nargs="+", metavar="FILE", help="MIDI, ABC, MusicXML or kern files")
    s.add_argument("--fill", type=parse_bars, metavar="FROM:TO",
                   help="score only the notes of bars FROM..TO (1-based, inclusive), "
                        "given the music on both sides when the model fills (else "
                        "given the music before them)")
    s.add_argument("--pitch-only", action="store_true",
                   help="score only each note's pitch, given that a note starts there and "
                        "everything before: the model's (and memory's) distribution "
                        "renormalised over the note starts (a melody model; the figure "
                        "published work on Essen reports)")
    s.add_argument("--follow-chords", choices=("off", "loose"), default="off",
                   help="loose: score with the loose follow-chords mixer on each tune's "
                        "chord track (the file's own, else the chords detected from its "
                        "parts), by the network alone (default off)")
    for name, _, low, high in CONTROLS:
        s.add_argument(f"--{name}", type=int, default=0, metavar="N",
                       help=f"score with the {name} control at N as a scoring condition: "
                            f"-2 ({low.lower()}) .. 2 ({high.lower()}); default 0")
    s.set_defaults(handler=run_command("score", _cmd_score))
    one_line_errors(s)
