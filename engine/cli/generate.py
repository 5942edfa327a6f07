"""``continuo generate``: continue a seed with a model and write MIDI (the melody track
with a melody model, every part with a polyphonic one)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import (add_memory_option, add_model_options, add_output_option,
                               add_sampling_options, add_style_option, add_tune_and_track,
                               build_style, chosen_track, load_seed, model_library,
                               one_line_errors, output_path, output_paths, run_command, say_notes,
                               settings_from)
from engine.encodings import CONTINUE
from engine.errors import GenerationError
from engine.generation import jobs
from engine.generation.parts_song import default_model, is_polyphonic_name, song_with_parts
from engine.generation.request import GenerationRequest
from engine.models import ModelLibrary
from engine.song import Note, Song, Track, melody_song, melody_track


def song_with(seed: Song | None, track_index: int | None, new_notes: list[Note],
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

    settings = settings_from(args, model=args.model or "lstm")
    out = output_path(args.output)
    seed = load_seed(args.seed, args.tune) if args.seed else None
    track_index = None
    if args.track is not None:
        track_index = chosen_track(seed, args.track, "seed")
    if args.model is None:  # several voices get a polyphonic model when one is installed
        args.model = settings.model = default_model(ModelLibrary(
            [Path(d) for d in args.models_dir] if args.models_dir else None), seed)
    library = model_library(args)
    if args.style is not None:  # built (or found) here, with its progress on stderr
        settings.style = str(build_style(args.style, library.get(args.model)).path)
    parts = is_polyphonic_name(library, args.model)
    if parts:  # every part continued: the motif memory is a melody model's
        settings.memory = False
        if args.track is not None:
            raise GenerationError("--track chooses the one line a melody model continues; a "
                                  "polyphonic model continues every part")
    result = jobs.run(library, seed, GenerationRequest(CONTINUE, settings, track_index))
    say_notes(result.messages)
    if parts:
        _write_parts(args, seed, result, out)
        return 0
    for path, notes in zip(output_paths(out, len(result.variations)), result.variations):
        song_to_midi_file(song_with(seed, track_index, notes, args.continuation_only), path)
        print(f"wrote {path} ({len(notes)} new notes in {result.key.name}, "
              f"model {result.model})")
    return 0


def _write_parts(args: argparse.Namespace, seed: Song | None, result, out: Path) -> None:
    """Every variation of a part continuation: its notes on their parts' tracks."""
    from engine.formats import song_to_midi_file

    for i, path in enumerate(output_paths(out, len(result.variations))):
        song_to_midi_file(song_with_parts(seed, result, i, args.continuation_only), path)
        parts = len(set((result.track_of or [[]])[i]))
        print(f"wrote {path} ({len(result.variations[i])} new notes in {parts} parts, "
              f"{result.key.name}, model {result.model})")


def add_command(subparsers: argparse._SubParsersAction) -> None:
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
    add_tune_and_track(g, "the seed's track to continue, from 1 (default: its melody track)",
                       what="seed")
    g.add_argument("--bars", type=int, default=4, metavar="N",
                   help="bars to add, 1-32 (default 4)")
    g.add_argument("--steps", type=int, metavar="N",
                   help="sixteenth-note steps to add instead of --bars, 1-2048")
    add_sampling_options(g)
    add_memory_option(g)
    add_style_option(g)
    g.add_argument("--continuation-only", action="store_true",
                   help="write only the new notes (in the seed's tempo and meter)")
    add_output_option(g)
    g.set_defaults(handler=run_command("generate", _cmd_generate))
    one_line_errors(g)
