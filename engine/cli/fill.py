"""``continuo fill``: regenerate bars of a song from the music on both sides and write
MIDI.  Bars are counted from 1 (a pickup bar is bar 0, as scores number it) and both ends
are included: ``--from 4 --to 5`` is the gap from the start of bar 4 to the end of bar 5.
"""

from __future__ import annotations

import argparse

from engine.cli.common import (SamplingHelp, add_memory_option, add_model_options,
                               add_output_option, add_sampling_options, add_tune_and_track,
                               chosen_track, load_seed, model_library, one_line_errors,
                               output_path, output_paths, run_command, say_notes, settings_from)
from engine.cli.common import add_chord_options, song_with_chords
from engine.encodings import FILL
from engine.generation import jobs
from engine.generation.jobs.drums import drum_tracks
from engine.generation.request import GenerationRequest
from engine.song import melody_track


def _cmd_fill(args: argparse.Namespace) -> int:
    from engine.formats import song_to_midi_file
    from engine.generation.fill import apply_fill, bar_range_ticks
    from engine.generation.polyfill import apply_parts

    settings = settings_from(args)
    out = output_path(args.output)
    song = load_seed(args.seed, args.tune)
    track_index = melody_track(song)
    if args.track is not None:
        track_index = chosen_track(song, args.track, "song")
    start_tick, end_tick = bar_range_ticks(song, args.from_bar, args.to_bar)
    song = song_with_chords(args, song, start_tick)  # --chords from the gap's first bar
    library = model_library(args)
    request = GenerationRequest(FILL, settings, track_index, start_tick, end_tick)
    result = jobs.run(library, song, request)
    if track_index is None:
        track_index = melody_track(song)
    if track_index is None:  # a song of drums only: the drum model filled its drum track
        track_index = drum_tracks(song)[0]
    say_notes(result.messages)
    paths = output_paths(out, len(result.variations))
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


FILL_WORDS = SamplingHelp(
    top_p="sample only from the likeliest notes covering P (default 1)",
    variations="how many different fills, 1-8 (default 1)",
    rng_seed="random seed: the same seed and options give the same notes",
    key="keep new notes in this key's scale: auto (the song's key), none, "
        "or a key such as C, F#, Bb, Am")


def add_command(subparsers: argparse._SubParsersAction) -> None:
    f = subparsers.add_parser(
        "fill", help="regenerate bars of a song from the music on both sides",
        description="Fill bars FROM..TO (1-based, inclusive) of a song's melody track with a "
                    "model trained to fill, or of every part but the drums with a "
                    "polyphonic model (poly-duo, poly-wavenet, ...; --track is not used), and "
                    "write the song with the gap filled. Notes that start inside the gap "
                    "are replaced; every other note is kept as it is. With --variations K "
                    "above 1, OUT-1.mid ... OUT-K.mid.")
    add_model_options(f, "lstm-fill", "a model whose card lists the fill job, or a "
                                      "polyphonic model to fill every part")
    f.add_argument("--seed", required=True, metavar="FILE",
                   help="the MIDI, ABC, MusicXML or kern song to fill")
    add_tune_and_track(f, "the track to fill, from 1 (default: the melody track)")
    f.add_argument("--from", dest="from_bar", type=int, required=True, metavar="BAR",
                   help="the first bar of the gap, from 1 (0: a pickup bar)")
    f.add_argument("--to", dest="to_bar", type=int, required=True, metavar="BAR",
                   help="the last bar of the gap (included)")
    add_sampling_options(f, FILL_WORDS)
    add_chord_options(f, "the gap's first bar (--from)")
    add_output_option(f)
    add_memory_option(f)
    f.set_defaults(handler=run_command("fill", _cmd_fill))
    one_line_errors(f)
