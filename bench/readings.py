"""Reading written music as a musician does: a saved MIDI file, through the song model,
to bars, beats and parts.  The measures of ``bench/reads_right.py`` live here, one
function each, so that ``tests/engine/test_reads_right.py`` can count them on small
hand-built files.

Everything here works on :class:`engine.song.Song` objects (read back from MIDI with
``engine.formats.midi_file_to_song``) and uses the song's own bar lines
(``Song.bar_starts``, ``Song.bar_beat_at``), so a pickup bar written as a short first
time signature, or a change of metre, counts as a musician counts it.

The words:

* a *part* is a track of the file (the MIDI reader splits a track that plays on two
  channels into two; :func:`parts_of` joins them again by name);
* a note's *metric position* is where it starts within its beat: on the beat, on the
  eighth (on the eighth grid, off the beat), on an off-sixteenth (on the sixteenth
  grid, off the eighth grid), or off the sixteenth grid;
* a note is *tied across a bar line* when it starts in one bar and ends after the next
  bar line;
* a *whole-bar rest* of a part is a bar in which none of its notes sounds;
* a *crossing* is a beat at which a lower part sounds above a higher one.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from engine.song import Note, Song, TempoMap, Track

POSITIONS = ("beat", "eighth", "sixteenth", "off_grid")
VOICE_ORDER = ("soprano", "alto", "tenor", "bass")
_CHANNEL_SUFFIX = re.compile(r" \(ch \d+\)$")


# ---------------------------------------------------------------------------------------
# bars and beats
# ---------------------------------------------------------------------------------------


def bar_lines(song: Song, until: int) -> list[int]:
    """Every bar line from 0 up to the first one at or after ``until`` (so the bar that
    holds ``until - 1`` is closed)."""
    lines = song.bar_starts(until + song.ticks_per_bar_at(max(until, 0)))
    out = [t for t in lines if t < until]
    nxt = [t for t in lines if t >= until]
    return out + nxt[:1]


def bar_line_at_or_after(song: Song, tick: int) -> int:
    return next(t for t in bar_lines(song, tick) if t >= tick)


def bar_line_at_or_before(song: Song, tick: int) -> int:
    return max(t for t in bar_lines(song, tick + 1) if t <= tick)


def metric_position(song: Song, tick: int) -> str:
    """Where ``tick`` falls within its beat (the song's own beat: a quarter in 4/4, an
    eighth in 6/8): "beat", "eighth", "sixteenth" or "off_grid"."""
    _, _, in_beat = song.bar_beat_at(tick)
    if in_beat == 0:
        return "beat"
    eighth, sixteenth = song.ppq / 2, song.ppq / 4
    if in_beat % eighth == 0:
        return "eighth"
    if in_beat % sixteenth == 0:
        return "sixteenth"
    return "off_grid"


def positions(song: Song, notes: Iterable[Note]) -> Counter:
    """How many of ``notes`` start on each metric position."""
    c = Counter({p: 0 for p in POSITIONS})
    for n in notes:
        c[metric_position(song, n.start_tick)] += 1
    return c


def tied_across_bar(song: Song, note: Note) -> bool:
    """Whether the note starts in one bar and ends after the next bar line."""
    nxt = bar_line_at_or_after(song, note.start_tick + 1)
    return note.end_tick > nxt


def beats_between(song: Song, start: int, end: int) -> list[int]:
    """The ticks of every beat in [start, end) (the song's beats, following changes of
    metre)."""
    out = []
    lines = bar_lines(song, end)
    for a, b in zip(lines, lines[1:]):
        per_beat = song.time_signature_at(a).ticks_per_beat(song.ppq)
        out += [t for t in range(a, b, per_beat) if start <= t < end]
    return out


# ---------------------------------------------------------------------------------------
# parts
# ---------------------------------------------------------------------------------------


@dataclass
class Part:
    """One part of a file: its name, the channels its notes use, its notes."""

    name: str
    channels: set[int] = field(default_factory=set)
    is_drum: bool = False
    notes: list[Note] = field(default_factory=list)


def parts_of(song: Song) -> list[Part]:
    """The song's tracks as parts, a track the reader split by channel ("Bass (ch 2)")
    joined back to its name; in the order the tracks first appear.  Empty tracks are
    kept (a part may have been silent in the seed)."""
    out: list[Part] = []
    by_name: dict[str, Part] = {}
    for t in song.tracks:
        base = _CHANNEL_SUFFIX.sub("", t.name)
        part = by_name.get(base)
        if part is None or not _CHANNEL_SUFFIX.search(t.name):
            if part is not None:  # two tracks of the same name: the second is its own part
                base = f"{base} #{sum(p.name.startswith(base) for p in out) + 1}"
            part = Part(base)
            by_name[base] = part
            out.append(part)
        part.is_drum = part.is_drum or t.is_drum
        part.channels |= {n.channel for n in t.notes} or {t.channel}
        part.notes += t.notes
    for p in out:
        p.notes.sort(key=Note.sort_key)
    return out


def _key(n: Note) -> tuple[int, int, int]:
    return (n.pitch, n.start_tick, n.duration_ticks)


def new_notes(seed: Sequence[Note], out: Sequence[Note]) -> list[Note]:
    """The notes of ``out`` that are not in ``seed`` (as a multiset of pitch, start and
    length: the channel and velocity do not count)."""
    left = Counter(_key(n) for n in seed)
    fresh = []
    for n in sorted(out, key=Note.sort_key):
        k = _key(n)
        if left[k]:
            left[k] -= 1
        else:
            fresh.append(n)
    return fresh


def overlapping(notes: Sequence[Note], among: Sequence[Note]) -> int:
    """How many of ``notes`` sound together with another note of ``among`` (the same
    part; ``notes`` are part of ``among``): the notes a notation program writes as a
    chord in a one-line part."""
    ordered = sorted(among, key=Note.sort_key)
    count = 0
    for n in notes:
        for m in ordered:
            if m.start_tick >= n.end_tick:
                break
            if m is n:
                continue
            if m.end_tick > n.start_tick:
                count += 1
                break
    return count


def is_monophonic(notes: Sequence[Note]) -> bool:
    """Whether no two of the notes sound at once."""
    ordered = sorted(notes, key=Note.sort_key)
    end = -1
    for n in ordered:
        if n.start_tick < end:
            return False
        end = max(end, n.end_tick)
    return True


def silent_bars(song: Song, notes: Sequence[Note], bars: Sequence[tuple[int, int]]) -> int:
    """How many of the bars (start, end) have none of ``notes`` sounding in them."""
    count = 0
    for a, b in bars:
        if not any(n.start_tick < b and n.end_tick > a for n in notes):
            count += 1
    return count


def bars_between(song: Song, start: int, end: int) -> list[tuple[int, int]]:
    """The whole bars (start, end) from the bar line at or after ``start`` to the last
    one that begins before ``end``."""
    lines = bar_lines(song, end)
    return [(a, b) for a, b in zip(lines, lines[1:]) if a >= start and a < end]


def sounding(notes: Sequence[Note], tick: int) -> list[int]:
    return [n.pitch for n in notes if n.start_tick <= tick < n.end_tick]


def crossings(parts: Sequence[Sequence[Note]], beats: Sequence[int]) -> tuple[int, int]:
    """(beats with a crossing, beats where at least two parts sound): ``parts`` from the
    highest to the lowest; a crossing is a lower part's highest sounding note above a
    higher part's lowest one."""
    crossed = counted = 0
    for b in beats:
        now = [sounding(p, b) for p in parts]
        if sum(bool(s) for s in now) < 2:
            continue
        counted += 1
        hit = False
        for i in range(len(now)):
            for j in range(i + 1, len(now)):
                if now[i] and now[j] and min(now[i]) < max(now[j]):
                    hit = True
        crossed += hit
    return crossed, counted


def voice_order(names: Sequence[str], heard: Sequence[Sequence[Note]]) -> list[int]:
    """The parts' indices from the highest to the lowest: by voice name when every part
    is named Soprano, Alto, Tenor or Bass (or starts so), else by the mean pitch of
    ``heard`` (each part's notes in the seed, or where it has none there, in the
    output)."""
    ranks = []
    for n in names:
        low = n.lower()
        rank = next((i for i, v in enumerate(VOICE_ORDER) if low.startswith(v)), None)
        ranks.append(rank)
    if all(r is not None for r in ranks):
        return sorted(range(len(names)), key=lambda i: (ranks[i], i))

    def mean(i):
        ns = heard[i]
        return -sum(n.pitch for n in ns) / len(ns) if ns else float("inf")

    return sorted(range(len(names)), key=lambda i: (mean(i), i))


def onsets_per_bar(notes: Sequence[Note], bars: Sequence[tuple[int, int]],
                   together: int = 0) -> float | None:
    """Onsets per bar over ``bars``: a chord is one onset, and so is a strum or a
    humanised chord whose notes start within ``together`` ticks of its first."""
    if not bars:
        return None
    onsets: list[int] = []
    for t in sorted({n.start_tick for n in notes}):
        if not onsets or t - onsets[-1] > together:
            onsets.append(t)
    return sum(sum(a <= t < b for t in onsets) for a, b in bars) / len(bars)


def bass_degree(bass_pitch: int | None, tonic: int) -> str:
    """"tonic", "fifth" or "other" (or "silent" with no bass)."""
    if bass_pitch is None:
        return "silent"
    d = (bass_pitch - tonic) % 12
    return "tonic" if d == 0 else "fifth" if d == 7 else "other"


def final_bass(melody: Sequence[Note], others: Sequence[Sequence[Note]]) -> int | None:
    """The lowest note of the final chord as it is read: the other parts' notes sounding
    at the last onset (of any part) while the melody's last note sounds; None when no
    other part sounds then."""
    if not melody:
        return None
    last = max(melody, key=lambda n: (n.start_tick, n.pitch))
    every = [n for p in others for n in p]
    onsets = [n.start_tick for n in every if last.start_tick <= n.start_tick < last.end_tick]
    at = max(onsets, default=last.start_tick)
    now = [n.pitch for n in every if n.start_tick <= at < n.end_tick]
    return min(now) if now else None


FINAL_CHORDS = ("root_position", "inversion", "dissonant", "silent")


def final_chord(melody_pitch: int, bass_pitch: int | None) -> str:
    """How the melody's last note stands over the final bass: "root_position" (the
    bass's own pitch class, or a third or fifth above it: a triad on the bass holds the
    melody's note), "inversion" (a sixth or fourth above it: the bass is the chord's
    third or fifth), "dissonant" (a second, a tritone or a seventh) or "silent"."""
    if bass_pitch is None:
        return "silent"
    d = (melody_pitch - bass_pitch) % 12
    return "root_position" if d in (0, 3, 4, 7) else "inversion" if d in (5, 8, 9) \
        else "dissonant"


def channel_use(parts: Sequence[Part]) -> dict:
    """How the pitched parts use channels: their number, the distinct channels, and the
    parts that share a channel with another part."""
    pitched = [p for p in parts if p.notes and not p.is_drum]
    sharing = 0
    for i, p in enumerate(pitched):
        if any(p.channels & q.channels for j, q in enumerate(pitched) if j != i):
            sharing += 1
    return {"parts": len(pitched),
            "channels": len(set().union(*(p.channels for p in pitched))) if pitched else 0,
            "parts_sharing_a_channel": sharing,
            "drums_on_10": all(p.channels == {9} for p in parts if p.is_drum and p.notes)}


def cut(song: Song, end: int, start: int = 0) -> Song:
    """A copy of ``song`` with the notes that start in [start, end), each cut at ``end``
    (tracks, channels, programs kept; the tempo changes and time signatures before
    ``end``, as a passage exported from a notation program has them)."""
    out = song.copy()
    out.tempo_map = TempoMap(out.ppq, [c for c in out.tempo_map.changes if c.tick < end])
    out.time_signatures = [ts for ts in out.time_signatures if ts.tick < end]
    for t in out.tracks:
        kept = []
        for n in t.notes:
            if start <= n.start_tick < end:
                if n.end_tick > end:
                    n = Note(n.pitch, n.start_tick, end - n.start_tick, n.velocity, n.channel)
                kept.append(n)
        t.notes = kept
    return out
