"""Bits per note with the steering controls as a scoring condition (issue 26): real
tokens scored under the network mixed as generating mixes it, the controls' mixers
applied to the real tokens.

``main.py score --density 1 ...`` and ``bench/controls.py --bits`` both use these
functions, so the two give the same figure.  A melody model's logits go through its
mixer chain (the motif memory when it is on, then the controls:
:func:`engine.generation.jobs.continuation.melody_mixers`); a part model's through the
controls on its lines (:func:`engine.generation.mixers.control.part_mixer`, the tokens
followed by the voice-blind grammar: the k-th note of a step follows the k-th of the
step before); a drum model's through the motif memory where it is on and the drum
controls' mixers (:func:`drum_tokens_bits`, engine/generation/mixers/drum_controls.py;
the drum jobs' groove memory, a device of generating that ``score`` leaves out too, is
left out here).  The dynamics control moves velocities only, which no token carries: it
leaves the bits as they are.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.encodings.drums import DrumEncoding
from engine.encodings.polyphony import STEP, playable_tracks
from engine.generation import mixers
from engine.generation.jobs.continuation import melody_mixers
from engine.generation.mixers.control import part_mixer
from engine.song import Note, Song

__all__ = ["melody_bits", "part_bits", "part_tokens_bits", "tune_bits", "drum_tokens_bits"]


def _bits(z: np.ndarray, token: int) -> float:
    z = z - z.max()
    return -float(z[0, token] - np.log(np.exp(z).sum())) / np.log(2)


def melody_bits(model, settings, seed: Sequence[int], new: Sequence[int], song: Song | None,
                start_step: int | None = None) -> tuple[float, int]:
    """The bits of the tokens ``new`` after ``seed`` under a melody model's network mixed
    as generating mixes it with ``settings`` (memory, then the controls), and the notes
    among them.  ``start_step``: the grid step of ``new``'s first token (default: the
    seed's length)."""
    seed, new = np.asarray(seed, np.int64), np.asarray(new, np.int64)
    tokens = np.concatenate([seed, new]).astype(np.int32)
    logits = model.sequence_logits(tokens[None, :])[0]
    mixer = mixers.chain(melody_mixers(settings), mixers.MixContext(
        model, settings, 1, seed.tolist(), song,
        start_step=len(seed) if start_step is None else start_step))
    bits = 0.0
    for j, tok in enumerate(new):
        z = logits[len(seed) + j - 1][None, :].astype(np.float64)
        if mixer is not None:
            z = mixer(z)
        bits += _bits(z, int(tok))
        if mixer is not None:
            mixer.update(np.array([int(tok)]))
    return bits, int(np.count_nonzero(np.asarray(model.encoding.onset_mask)[new]))


def part_tokens_bits(model, settings, tokens: Sequence[int], split: int, song: Song | None,
                     start_step: int) -> tuple[float, int]:
    """The bits of a part model's ``tokens[split:]`` after ``tokens[:split]`` with the
    controls of ``settings`` on its lines (``start_step``: the grid step the token at
    ``split`` is in), and the notes among them."""
    enc = model.encoding
    tokens = [int(t) for t in tokens]
    logits = model.sequence_logits(np.asarray(tokens, np.int32)[None, :])[0]
    grammar = enc.grammar(1)
    grammar.follow(tokens[:split])
    mixer = part_mixer(settings, enc, grammar, song, start_step)
    everything = np.ones(enc.vocab_size, bool)
    bits = 0.0
    for j in range(split, len(tokens)):
        z = logits[j - 1][None, :].astype(np.float64)
        if mixer is not None:
            z = mixer(z, grammar.mask(everything))
        bits += _bits(z, tokens[j])
        token = np.array([tokens[j]])
        grammar.push(token)
        if mixer is not None:
            mixer.update(token)
    return bits, int(np.count_nonzero(np.asarray(enc.onset_mask)[np.asarray(tokens[split:])]))


def part_bits(model, settings, seed: Song, real: Sequence[Sequence[Note]],
              start: int) -> tuple[float, int]:
    """The bits of the real continuation (every part's notes, ``real``) after the seed
    song ``seed``, from the tick ``start``, and its notes (bench/controls.py's figure)."""
    enc = model.encoding
    ppq = seed.ppq
    notes = [n for t in seed.tracks for n in t.notes] + [n for part in real for n in part]
    encoded = enc.encode_notes(notes, ppq)
    tokens = list(encoded.tokens)
    s_step = enc.tick_to_step(start, ppq)
    ends = [k for k, t in enumerate(tokens) if t == STEP]
    split = ends[s_step - encoded.start_step - 1] + 1
    return part_tokens_bits(model, settings, tokens, split, seed, s_step)


def drum_tokens_bits(model, settings, tokens: Sequence[int], split: int,
                     song: Song | None) -> tuple[float, int]:
    """The bits of a drum model's ``tokens[split:]`` after ``tokens[:split]``, and the
    hits among them, mixed as a drum job mixes its steps with ``settings``: the network
    (fed the encoding's :attr:`~engine.encodings.drums.DrumEncoding.context`, which says
    where the first token lies: ``song_to_tokens`` sets it), the motif memory where it
    is on (having heard the tokens before), then the drum controls."""
    from engine.generation.drum_memory import drum_memory
    from engine.generation.mixers.drum_controls import (drum_controls, drum_steering,
                                                        refuse_leaps)

    refuse_leaps(settings, "a drum model's scores")
    enc, context = model.encoding, model.encoding.context
    tokens = np.asarray(tokens, np.int64)
    logits = model.sequence_logits(tokens[None, :].astype(np.int32))[0]
    start = context.origin + split
    memory = drum_memory(model, settings, 1, tokens[:split].tolist(), start,
                         len(tokens) - split, context.bars, context.bar_steps)
    steering = drum_steering(model, drum_controls(settings), song, start, 1, settings,
                             tokens[:split].tolist(), context.bar_steps)
    bits = 0.0
    for j in range(split, len(tokens)):
        z = logits[j - 1][None, :].astype(np.float64)
        token = tokens[j:j + 1]
        for mixer in (memory, steering):
            if mixer is not None:
                z = mixer(z)
        bits += _bits(z, int(token[0]))
        for mixer in (memory, steering):
            if mixer is not None:
                mixer.update(token)
    return bits, enc.count_onsets(tokens[split:])


def tune_bits(model, settings, song: Song, parts: bool) -> tuple[float, int, int]:
    """A whole tune's bits with the controls as a scoring condition, every token after
    the first (as ``score`` scores), as (bits, tokens scored, notes): the melody (a
    melody model), every playable part (``parts``) or the drums (a drum model: notes
    are drum hits)."""
    enc = model.encoding
    if isinstance(enc, DrumEncoding):
        tokens = enc.song_to_tokens(song)
        if not tokens or len(tokens) < 2:
            return 0.0, 0, 0
        bits, hits = drum_tokens_bits(model, settings, tokens, 1, song)
        return bits, len(tokens) - 1, hits
    if parts:
        notes = [n for i in playable_tracks(song) for n in song.tracks[i].notes]
        if not notes:
            return 0.0, 0, 0
        encoded = enc.encode_tune(notes, song.ppq)
        tokens = list(encoded.tokens)
        if len(tokens) < 2:
            return 0.0, 0, 0
        # the first token is in the tune's first step; a STEP ends it
        step = encoded.start_step + (1 if tokens[0] == STEP else 0)
        bits, notes_scored = part_tokens_bits(model, settings, tokens, 1, song, step)
        return bits, len(tokens) - 1, notes_scored
    from engine.song import melody_track

    index = melody_track(song)
    if index is None:
        return 0.0, 0, 0
    encoded = enc.encode_tune(song.tracks[index].notes, song.ppq)
    tokens = list(encoded.tokens)
    if len(tokens) < 2:
        return 0.0, 0, 0
    bits, notes_scored = melody_bits(model, settings, tokens[:1], tokens[1:], song,
                                     encoded.start_step + 1)
    return bits, len(tokens) - 1, notes_scored
