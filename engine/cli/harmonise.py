"""``continuo harmonise``: a polyphonic model writes the voices beneath a melody, which
stays exactly as it is."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import (SamplingHelp, add_memory_option, add_model_options,
                               add_output_option,
                               add_sampling_options, add_tune_and_track, chosen_track, load_seed,
                               model_library, one_line_errors, output_path, output_paths,
                               run_command, say_notes, settings_from)
from engine.cli.common import add_chord_options, song_with_chords
from engine.encodings import HARMONISE
from engine.errors import GenerationError
from engine.generation import jobs
from engine.generation.parts_song import POLYPHONIC_DEFAULTS, song_with_parts
from engine.generation.request import GenerationRequest
from engine.song import melody_track


def _cmd_harmonise(args: argparse.Namespace) -> int:
    from engine.formats import song_to_midi_file

    settings = settings_from(args)
    out = output_path(args.output)
    song = load_seed(args.melody, args.tune)
    track = melody_track(song)
    if args.track is not None:
        track = chosen_track(song, args.track, "melody file")
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
    # --chords from the bar of the melody's first note
    song = song_with_chords(args, song, min(n.start_tick for n in song.tracks[track].notes))
    library = model_library(args)
    result = jobs.run(library, song, GenerationRequest(HARMONISE, settings, track))
    say_notes(result.messages)
    for i, path in enumerate(output_paths(out, len(result.variations))):
        song_to_midi_file(song_with_parts(song, result, i), path)
        parts = len(set((result.track_of or [[]])[i]))
        print(f"wrote {path} ({len(result.variations[i])} notes in {parts} voices beneath "
              f"the melody, {len(result.new_tracks)} of them new tracks, model "
              f"{result.model})")
    return 0


HARMONISE_WORDS = SamplingHelp(
    temperature="0 (always the likeliest) to 2 (wild); default 1",
    top_p="sample only from the likeliest tokens covering P (default 1)",
    variations="1-8 (default 1)",
    rng_seed="default 0",
    key="keep the new voices in this key: auto (the melody's), none, or C, Am...",
    pitch_range=False, steering=False)


def add_command(subparsers: argparse._SubParsersAction) -> None:
    h = subparsers.add_parser(
        "harmonise", aliases=["harmonize"],
        help="write the voices beneath a melody with a polyphonic model",
        description="Harmonise a melody: it stays exactly as it is and a polyphonic model "
                    "writes the voices beneath it, step by step. With --variations K above "
                    "1, one file per variation: OUT-1.mid ... OUT-K.mid.")
    add_model_options(h, default=POLYPHONIC_DEFAULTS[0],
                      what="the polyphonic model, by its card's name")
    h.add_argument("melody", metavar="FILE", help="MIDI, ABC, MusicXML or kern file")
    add_tune_and_track(h, "the track holding the melody, from 1 (default: the melody track)")
    h.add_argument("--alone", action="store_true",
                   help="harmonise the melody on its own: every voice is written as a new "
                        "track (default: the file's own parts beneath the melody are kept "
                        "and written into where they rest)")
    add_sampling_options(h, HARMONISE_WORDS)
    add_chord_options(h, "the bar of the melody's first note")
    add_memory_option(h)
    add_output_option(h)
    h.set_defaults(handler=run_command("harmonise", _cmd_harmonise))
    one_line_errors(h)
