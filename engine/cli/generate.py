"""``continuo generate``: continue a seed with a model and write MIDI (the melody track
with a melody model, every part with a polyphonic one); with ``--only-part N [--from BAR
--to BAR]``, write one part of the seed anew while every other part stays note for note
(Regenerate Part, :mod:`engine.generation.jobs.regenerate`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import (add_memory_option, add_model_options, add_output_option,
                               add_sampling_options, add_style_option, add_tune_and_track,
                               build_style, chosen_track, load_seed, model_library,
                               one_line_errors, output_path, output_paths, run_command, say_notes,
                               settings_from)
from engine.cli.common import add_chord_options, seed_end, song_with_chords
from engine.encodings import CONTINUE
from engine.errors import GenerationError
from engine.generation import jobs
from engine.generation.parts_song import (POLYPHONIC_DEFAULTS, default_model,
                                          is_polyphonic_name, song_with_drums,
                                          song_with_parts)
from engine.generation.request import REGENERATE, GenerationRequest, bar_of
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

    if args.only_part is None and (args.from_bar is not None or args.to_bar is not None):
        raise GenerationError("--from and --to choose the bars of the part --only-part "
                              "regenerates; give --only-part N too")
    settings = settings_from(args, model=args.model or "lstm")
    out = output_path(args.output)
    seed = load_seed(args.seed, args.tune) if args.seed else None
    if args.only_part is not None:
        return _regenerate_part(args, settings, seed, out)
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
    if parts:  # every part continued (with the part memory, engine/generation/part_memory.py)
        if args.track is not None:
            raise GenerationError("--track chooses the one line a melody model continues; a "
                                  "polyphonic model continues every part")
    seed = song_with_chords(args, seed, seed_end(seed))  # --chords from the first new bar
    result = jobs.run(library, seed, GenerationRequest(CONTINUE, settings, track_index))
    say_notes(result.messages)
    if parts or result.track_of is not None:  # (a song of drums only: its drums went on)
        _write_parts(args, seed, result, out)
        return 0
    for i, (path, notes) in enumerate(zip(output_paths(out, len(result.variations)),
                                          result.variations)):
        # with the song's drum track continued beside the melody (result.drums)
        song_to_midi_file(song_with_drums(song_with(seed, track_index, notes,
                                                    args.continuation_only), result, i), path)
        print(f"wrote {path} ({len(notes)} new notes in {result.key.name}, "
              f"model {result.model})")
    return 0


def _regenerate_part(args: argparse.Namespace, settings, seed: Song | None, out: Path) -> int:
    """``--only-part N [--from BAR --to BAR]``: track N's notes in those bars (default:
    all of them) written anew, one file per variation, every other track as it was."""
    from engine.formats import song_to_midi_file
    from engine.generation.fill import bar_range_ticks
    from engine.generation.jobs.regenerate import apply_part

    if seed is None:
        raise GenerationError("--only-part regenerates a part of a song: give the song "
                              "with --seed")
    if args.track is not None:
        raise GenerationError("--only-part names the track to regenerate; leave out --track")
    if args.continuation_only:
        raise GenerationError("--only-part writes the whole song with the part regenerated; "
                              "leave out --continuation-only")
    track = chosen_track(seed, args.only_part, "seed")
    start_tick = end_tick = None
    if args.from_bar is not None or args.to_bar is not None:
        last = bar_of(seed, max(seed.end_tick, 1) - 1)
        first_bar = seed.first_bar_number if args.from_bar is None else args.from_bar
        last_bar = last if args.to_bar is None else args.to_bar
        if first_bar > last:
            raise GenerationError(f"the song ends in bar {last}, so there is no bar "
                                  f"{first_bar} to regenerate")
        if last_bar < first_bar:
            raise GenerationError(f"the range from bar {first_bar} to bar {last_bar} is "
                                  f"empty: the last bar comes before the first")
        start_tick, end_tick = bar_range_ticks(seed, first_bar, last_bar)
    if args.model is None:  # a part is regenerated by a model that hears every part
        found = ModelLibrary([Path(d) for d in args.models_dir] if args.models_dir else None)
        polyphonic = [n for n in POLYPHONIC_DEFAULTS if n in found.names] + \
            [n for n in found.names if is_polyphonic_name(found, n)]
        args.model = settings.model = polyphonic[0] if polyphonic else "lstm"
    library = model_library(args)
    settings.memory = False  # the motif memory is a melody model's
    seed = song_with_chords(args, seed, start_tick or 0)  # --chords from the range's bar
    result = jobs.run(library, seed, GenerationRequest(REGENERATE, settings, track,
                                                       start_tick, end_tick))
    say_notes(result.messages)
    name = seed.tracks[track].name
    where = (f"bars {args.from_bar if args.from_bar is not None else seed.first_bar_number}-"
             f"{args.to_bar if args.to_bar is not None else 'end'}"
             if start_tick is not None else "the whole part")
    for path, notes in zip(output_paths(out, len(result.variations)), result.variations):
        song_to_midi_file(apply_part(seed, track, notes, start_tick, end_tick), path)
        print(f"wrote {path} (track {track + 1}{f' {name!r}' if name else ''}, {where}: "
              f"{len(notes)} new notes in {result.key.name}, model {result.model})")
    return 0


def _write_parts(args: argparse.Namespace, seed: Song | None, result, out: Path) -> None:
    """Every variation of a part continuation: its notes on their parts' tracks."""
    from engine.formats import song_to_midi_file

    for i, path in enumerate(output_paths(out, len(result.variations))):
        song_to_midi_file(song_with_parts(seed, result, i, args.continuation_only), path)
        tracks = set((result.track_of or [[]])[i])
        parts = f"{len(tracks)} part{'s' if len(tracks) != 1 else ''}"
        drums = bool(tracks) and seed is not None and all(
            0 <= t < len(seed.tracks) and seed.tracks[t].is_drum for t in tracks)
        # a song of drums only: its drum tracks went on, in no key
        print(f"wrote {path} ({len(result.variations[i])} new "
              + (f"drum hits on {len(tracks)} drum track{'s' if len(tracks) != 1 else ''}"
                 if drums else f"notes in {parts}, {result.key.name}")
              + f", model {result.model})")


def add_command(subparsers: argparse._SubParsersAction) -> None:
    g = subparsers.add_parser(
        "generate", help="continue a seed with a model and write MIDI",
        description="Continue a seed melody with a model and write a MIDI file: the seed "
                    "with the new notes on its melody track. With --variations K above 1, "
                    "one file per variation is written: OUT-1.mid ... OUT-K.mid.")
    add_model_options(g, default=None,
                      what="the model to use, by its card's name (default: lstm, or "
                           "poly-duo for a seed of several voices)")
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
    add_chord_options(g, "the bar the continuation starts in")
    add_memory_option(g)
    add_style_option(g)
    g.add_argument("--continuation-only", action="store_true",
                   help="write only the new notes (in the seed's tempo and meter)")
    g.add_argument("--only-part", type=int, metavar="N",
                   help="Regenerate Part: write track N of the seed (from 1) anew while "
                        "every other track stays note for note, with a polyphonic model "
                        "that hears them all (default: the whole part; --from/--to: bars)")
    g.add_argument("--from", dest="from_bar", type=int, metavar="BAR",
                   help="with --only-part: the first bar to regenerate, from 1 (0: a "
                        "pickup bar; default the first)")
    g.add_argument("--to", dest="to_bar", type=int, metavar="BAR",
                   help="with --only-part: the last bar to regenerate, included (default "
                        "the last)")
    add_output_option(g)
    g.set_defaults(handler=run_command("generate", _cmd_generate))
    one_line_errors(g)
