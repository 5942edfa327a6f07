"""The note model: notes, tracks, songs, tempo maps, time and key signatures, and the
bar, beat and step lines that a meter puts on the timeline.

A pickup (anacrusis) is a short first bar, kept as its own time signature (1/4 before
4/4 for a one-beat pickup), as MuseScore writes it to MIDI and DAWs read it back: bar
lines then fall where the score has them with no special case in the grid, MIDI files
keep it, and every song copied with its time signatures keeps it.  The pickup bar is
numbered 0, as music21 and notation programs number it, and its beats are counted as
the last beats of the full bar it completes (a one-beat pickup in 4/4 is beat 4).

Time is integer ticks at ``Song.ppq`` (pulses per quarter note).  Seconds only come
from :meth:`TempoMap.tick_to_seconds`.  Notes are immutable and validated; they carry
no GUI state.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator, Sequence

from engine.errors import SongError

DEFAULT_PPQ = 480
DEFAULT_TEMPO_US = 500_000  # microseconds per quarter note: 120 BPM
DRUM_CHANNEL = 9  # "channel 10" in the MIDI spec's 1-based numbering


@dataclass(frozen=True, slots=True)
class Note:
    pitch: int  # 0..127
    start_tick: int  # >= 0
    duration_ticks: int  # > 0
    velocity: int = 100  # 1..127
    channel: int = 0  # 0..15

    def __post_init__(self) -> None:
        if not isinstance(self.pitch, int) or not 0 <= self.pitch <= 127:
            raise SongError(f"note pitch {self.pitch!r} is outside 0-127")
        if not isinstance(self.start_tick, int) or self.start_tick < 0:
            raise SongError(f"note start {self.start_tick!r} is before the song starts")
        if not isinstance(self.duration_ticks, int) or self.duration_ticks <= 0:
            raise SongError(f"note duration {self.duration_ticks!r} must be at least one tick")
        if not isinstance(self.velocity, int) or not 1 <= self.velocity <= 127:
            raise SongError(f"note velocity {self.velocity!r} is outside 1-127")
        if not isinstance(self.channel, int) or not 0 <= self.channel <= 15:
            raise SongError(f"note channel {self.channel!r} is outside 0-15")

    @property
    def end_tick(self) -> int:
        return self.start_tick + self.duration_ticks

    def moved(self, d_tick: int = 0, d_pitch: int = 0) -> "Note":
        return replace(self, start_tick=self.start_tick + d_tick, pitch=self.pitch + d_pitch)

    def sort_key(self) -> tuple[int, int, int, int, int]:
        return (self.start_tick, self.pitch, self.duration_ticks, self.velocity, self.channel)


@dataclass(slots=True)
class Track:
    name: str = ""
    channel: int = 0
    program: int = 0  # General MIDI program 0..127
    is_drum: bool = False
    notes: list[Note] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 <= self.channel <= 15:
            raise SongError(f"track channel {self.channel} is outside 0-15")
        if not 0 <= self.program <= 127:
            raise SongError(f"track program {self.program} is outside 0-127")

    def sorted_notes(self) -> list[Note]:
        return sorted(self.notes, key=Note.sort_key)

    @property
    def end_tick(self) -> int:
        return max((n.end_tick for n in self.notes), default=0)


@dataclass(frozen=True, slots=True)
class TempoChange:
    tick: int
    us_per_quarter: int  # microseconds per quarter note, as in MIDI's set_tempo

    def __post_init__(self) -> None:
        if self.tick < 0:
            raise SongError(f"tempo change at tick {self.tick} is before the song starts")
        if not 1 <= self.us_per_quarter <= 16_777_215:
            raise SongError(f"tempo of {self.us_per_quarter} microseconds per beat is impossible")

    @property
    def bpm(self) -> float:
        return 60_000_000 / self.us_per_quarter


def bpm_to_us(bpm: float) -> int:
    if not bpm > 0:
        raise SongError(f"tempo {bpm} BPM must be above zero")
    return round(60_000_000 / bpm)


class TempoMap:
    """Tempo changes of a song, and conversion between ticks and seconds.

    The first tempo holds from tick 0 when there is no change at tick 0
    (the MIDI default is 120 BPM).
    """

    def __init__(self, ppq: int = DEFAULT_PPQ, changes: Iterable[TempoChange] = ()) -> None:
        if not isinstance(ppq, int) or ppq <= 0:
            raise SongError(f"ticks per quarter note {ppq!r} must be a positive whole number")
        self.ppq = ppq
        by_tick: dict[int, TempoChange] = {}
        for change in changes:
            by_tick[change.tick] = change  # the last change at a tick wins, as in playback
        if 0 not in by_tick:
            by_tick[0] = TempoChange(0, DEFAULT_TEMPO_US)
        self.changes: list[TempoChange] = [by_tick[t] for t in sorted(by_tick)]
        self._ticks = [c.tick for c in self.changes]
        # seconds at each change, accumulated once
        self._seconds = [0.0]
        for prev, cur in zip(self.changes, self.changes[1:]):
            self._seconds.append(
                self._seconds[-1] + (cur.tick - prev.tick) * prev.us_per_quarter / 1e6 / ppq
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TempoMap) and (self.ppq, self.changes) == (other.ppq, other.changes)

    def __repr__(self) -> str:
        return f"TempoMap(ppq={self.ppq}, changes={self.changes!r})"

    def us_per_quarter_at(self, tick: int) -> int:
        i = bisect.bisect_right(self._ticks, tick) - 1
        return self.changes[max(i, 0)].us_per_quarter

    def bpm_at(self, tick: int) -> float:
        return 60_000_000 / self.us_per_quarter_at(tick)

    def tick_to_seconds(self, tick: float) -> float:
        i = max(bisect.bisect_right(self._ticks, tick) - 1, 0)
        c = self.changes[i]
        return self._seconds[i] + (tick - c.tick) * c.us_per_quarter / 1e6 / self.ppq

    def seconds_to_tick(self, seconds: float) -> float:
        i = max(bisect.bisect_right(self._seconds, seconds) - 1, 0)
        c = self.changes[i]
        return c.tick + (seconds - self._seconds[i]) * 1e6 * self.ppq / c.us_per_quarter


@dataclass(frozen=True, slots=True)
class TimeSignature:
    tick: int
    numerator: int = 4
    denominator: int = 4  # a power of two

    def __post_init__(self) -> None:
        if self.tick < 0:
            raise SongError(f"time signature at tick {self.tick} is before the song starts")
        if not 1 <= self.numerator <= 255:
            raise SongError(f"time signature numerator {self.numerator} is outside 1-255")
        if self.denominator < 1 or self.denominator & (self.denominator - 1) or self.denominator > 128:
            raise SongError(f"time signature denominator {self.denominator} is not a power of two")

    def ticks_per_bar(self, ppq: int) -> int:
        return self.numerator * ppq * 4 // self.denominator

    def ticks_per_beat(self, ppq: int) -> int:
        return ppq * 4 // self.denominator

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


# tonics by sharps, from 7 flats to 7 sharps
_MAJOR_TONICS = ("Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B",
                 "F#", "C#")
_MINOR_TONICS = ("Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#", "G#",
                 "D#", "A#")


@dataclass(frozen=True, slots=True)
class KeySignature:
    """A key signature as MIDI's key_signature event holds it: sharps (flats negative)
    and major or minor."""

    tick: int
    sharps: int = 0  # -7..7
    minor: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.tick, int) or self.tick < 0:
            raise SongError(f"key signature at tick {self.tick!r} is before the song starts")
        if not isinstance(self.sharps, int) or not -7 <= self.sharps <= 7:
            raise SongError(f"a key signature of {self.sharps!r} sharps is outside -7 to 7")

    @property
    def tonic(self) -> str:
        """The tonic's name: "F#" for three sharps in minor, "Bb" for two flats major."""
        return (_MINOR_TONICS if self.minor else _MAJOR_TONICS)[self.sharps + 7]

    def __str__(self) -> str:
        return f"{self.tonic} {'minor' if self.minor else 'major'}"


@dataclass(frozen=True, slots=True)
class Chord:
    """A chord symbol on the song's chord track, from ``tick`` until the next one.  The
    symbol is kept as text, as a lead sheet or a MIDI marker writes it ("Am7", "Bb/D");
    :func:`engine.encodings.chords.parse_chord` reads it (readers store only symbols it
    reads, in its canonical spelling)."""

    tick: int
    symbol: str

    def __post_init__(self) -> None:
        if not isinstance(self.tick, int) or self.tick < 0:
            raise SongError(f"chord {self.symbol!r} at tick {self.tick!r} is before the song "
                            f"starts")
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise SongError(f"a chord at tick {self.tick} has no symbol")


def pickup_ticks_of(time_signatures: Sequence[TimeSignature], ppq: int) -> int:
    """The length of the song's pickup bar, 0 when it has none.

    A pickup is a first time signature that lasts exactly one of its bars and is followed
    there by a signature with a longer bar (1/4 then 4/4; 3/8 then 6/8), which is how
    MuseScore writes an anacrusis to MIDI and reads one back."""
    sigs = sorted(time_signatures, key=lambda ts: ts.tick)
    if len(sigs) < 2 or sigs[0].tick != 0:
        return 0
    short = sigs[0].ticks_per_bar(ppq)
    if sigs[1].tick == short and short < sigs[1].ticks_per_bar(ppq):
        return short
    return 0


def pickup_signatures(pickup: int, meter: TimeSignature, ppq: int) -> list[TimeSignature]:
    """The time signatures of a song in ``meter`` (at tick 0) that opens with a pickup
    ``pickup`` ticks long: a short bar's signature, then ``meter`` where the first full
    bar starts.  Just ``[meter]`` when there is no pickup, or when no time signature of
    a power-of-two denominator up to 64 spells the pickup's length (a triplet's)."""
    full = meter.ticks_per_bar(ppq)
    if pickup <= 0 or pickup >= full:
        return [meter]
    denominator = meter.denominator
    while denominator <= 64:
        if (pickup * denominator) % (4 * ppq) == 0:
            numerator = pickup * denominator // (4 * ppq)
            if 1 <= numerator <= 255:
                return [TimeSignature(0, numerator, denominator),
                        replace(meter, tick=pickup)]
        denominator *= 2
    return [meter]


@dataclass(slots=True)
class Song:
    ppq: int = DEFAULT_PPQ
    tracks: list[Track] = field(default_factory=list)
    tempo_map: TempoMap | None = None
    time_signatures: list[TimeSignature] = field(default_factory=list)
    key_signatures: list[KeySignature] = field(default_factory=list)  # none: not stated
    # where the song ends when its file says so past its last note (a MIDI file's end of
    # track after a final rest); None: it ends where its last note does
    length_ticks: int | None = None
    # the chord track: symbols in time order, one at a tick at most (the last wins)
    chords: list[Chord] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.ppq, int) or self.ppq <= 0:
            raise SongError(f"ticks per quarter note {self.ppq!r} must be a positive whole number")
        if self.tempo_map is None:
            self.tempo_map = TempoMap(self.ppq)
        elif self.tempo_map.ppq != self.ppq:
            raise SongError("the tempo map and the song disagree on ticks per quarter note")
        by_tick = {ts.tick: ts for ts in self.time_signatures}
        if 0 not in by_tick:
            by_tick[0] = TimeSignature(0, 4, 4)
        self.time_signatures = [by_tick[t] for t in sorted(by_tick)]
        keys = {ks.tick: ks for ks in self.key_signatures}  # the last at a tick wins
        self.key_signatures = [keys[t] for t in sorted(keys)]
        if self.chords:
            chords_at = {c.tick: c for c in self.chords}
            self.chords = [chords_at[t] for t in sorted(chords_at)]
        if self.length_ticks is not None and (not isinstance(self.length_ticks, int)
                                              or self.length_ticks < 0):
            raise SongError(f"the song's length {self.length_ticks!r} must be zero or more "
                            f"ticks")

    # ---- queries -------------------------------------------------------------------
    def notes(self) -> Iterator[Note]:
        for track in self.tracks:
            yield from track.notes

    @property
    def note_count(self) -> int:
        return sum(len(t.notes) for t in self.tracks)

    @property
    def end_tick(self) -> int:
        """Where the song ends: its last note's end, or its stated length
        (:attr:`length_ticks`) when that is later."""
        return max(max((t.end_tick for t in self.tracks), default=0), self.length_ticks or 0)

    def time_signature_at(self, tick: int) -> TimeSignature:
        current = self.time_signatures[0]
        for ts in self.time_signatures:
            if ts.tick > tick:
                break
            current = ts
        return current

    @property
    def pickup_ticks(self) -> int:
        """The length of the opening pickup bar (anacrusis), 0 when there is none."""
        return pickup_ticks_of(self.time_signatures, self.ppq)

    @property
    def first_bar_number(self) -> int:
        """The number of the song's first bar: 0 for a pickup, as scores number it, else 1."""
        return 0 if self.pickup_ticks else 1

    def meter_at(self, tick: int) -> TimeSignature:
        """The metre of the bar at ``tick``: the time signature in force, except that a
        pickup bar is in the metre of the full bar it leads into (its own short
        signature only marks where the first bar line falls)."""
        pickup = self.pickup_ticks
        if pickup and tick < pickup:
            return self.time_signatures[1]
        return self.time_signature_at(tick)

    def bar_starts(self, until_tick: int) -> list[int]:
        """Ticks at which bars start, from 0 up to and including ``until_tick`` (a pickup
        bar starts at 0, the first full bar where it ends)."""
        starts: list[int] = []
        sigs = self.time_signatures
        for i, ts in enumerate(sigs):
            end = sigs[i + 1].tick if i + 1 < len(sigs) else until_tick + 1
            step = ts.ticks_per_bar(self.ppq)
            t = ts.tick
            while t < end and t <= until_tick:
                starts.append(t)
                t += step
        return starts

    def bar_start_tick(self, bar: int) -> int:
        """The tick at which bar number ``bar`` starts (numbered from
        :attr:`first_bar_number`); bars after the last signature go on in its metre."""
        first = self.first_bar_number
        if bar < first:
            raise SongError(f"bar {bar} is before the song's first bar, {first}")
        index = bar - first
        sigs = self.time_signatures
        for i, ts in enumerate(sigs):
            per_bar = ts.ticks_per_bar(self.ppq)
            end = sigs[i + 1].tick if i + 1 < len(sigs) else None
            count = None if end is None else -(-(end - ts.tick) // per_bar)
            if count is None or index < count:
                return ts.tick + index * per_bar
            index -= count
        raise AssertionError("unreachable: the last time signature holds to the end")

    def bar_beat_at(self, tick: int) -> tuple[int, int, int]:
        """(bar, beat, tick within beat): bars numbered from :attr:`first_bar_number`
        (0 for a pickup), beats from 1; a pickup's beats are the last beats of the
        full bar it completes."""
        pickup = self.pickup_ticks
        if pickup and 0 <= tick < pickup:
            meter = self.time_signatures[1]
            in_bar = meter.ticks_per_bar(self.ppq) - pickup + tick
            per_beat = meter.ticks_per_beat(self.ppq)
            return 0, in_bar // per_beat + 1, in_bar % per_beat
        bar = 0 if pickup else 1
        sigs = self.time_signatures
        for i, ts in enumerate(sigs):
            end = sigs[i + 1].tick if i + 1 < len(sigs) else None
            per_bar = ts.ticks_per_bar(self.ppq)
            if end is not None and tick >= end:
                bar += -(-(end - ts.tick) // per_bar)
                continue
            offset = tick - ts.tick
            bar += offset // per_bar
            in_bar = offset % per_bar
            per_beat = ts.ticks_per_beat(self.ppq)
            return bar, in_bar // per_beat + 1, in_bar % per_beat
        raise AssertionError("unreachable: the song always has a time signature at tick 0")

    def ticks_per_bar_at(self, tick: int) -> int:
        """The length of a bar in the metre at ``tick`` (:meth:`meter_at`: a pickup
        counts as the full bar it completes; :meth:`bar_starts` has its real length)."""
        return self.meter_at(tick).ticks_per_bar(self.ppq)

    def copy(self) -> "Song":
        return Song(
            ppq=self.ppq,
            tracks=[replace(t, notes=list(t.notes)) for t in self.tracks],
            tempo_map=TempoMap(self.ppq, self.tempo_map.changes),
            time_signatures=list(self.time_signatures),
            key_signatures=list(self.key_signatures),
            length_ticks=self.length_ticks,
            chords=list(self.chords),
        )

    def rescaled(self, ppq: int) -> "Song":
        """The same song at another resolution; times are rounded to the new grid."""
        if ppq == self.ppq:
            return self.copy()

        def conv(t: int) -> int:
            return (t * ppq + self.ppq // 2) // self.ppq

        tracks = []
        for t in self.tracks:
            notes = [
                replace(n, start_tick=conv(n.start_tick),
                        duration_ticks=max(1, conv(n.end_tick) - conv(n.start_tick)))
                for n in t.notes
            ]
            tracks.append(replace(t, notes=notes))
        return Song(
            ppq=ppq,
            tracks=tracks,
            tempo_map=TempoMap(ppq, [TempoChange(conv(c.tick), c.us_per_quarter)
                                     for c in self.tempo_map.changes]),
            time_signatures=[replace(ts, tick=conv(ts.tick)) for ts in self.time_signatures],
            key_signatures=[replace(ks, tick=conv(ks.tick)) for ks in self.key_signatures],
            length_ticks=None if self.length_ticks is None else conv(self.length_ticks),
            chords=[replace(c, tick=conv(c.tick)) for c in self.chords],
        )


@dataclass(frozen=True, slots=True)
class GridLine:
    """A bar, beat or step line (what the piano roll's grid and ruler draw)."""

    tick: int
    kind: str  # "bar", "beat" or "step"
    bar: int  # number of the bar this line is in: from 1, or from 0 after a pickup


def grid_lines(time_signatures: Sequence[TimeSignature], ppq: int, start_tick: int,
               end_tick: int, step: float = 0.0) -> list[GridLine]:
    """Bar, beat and (with ``step`` > 0) snap-step lines in [start_tick, end_tick].

    Follows every time-signature change, so the ruler numbers bars as playback counts
    them, and as scores do: a pickup bar is bar 0, its beats and steps falling where
    they fall in the full bar it completes.  A line that is both a bar and a beat is
    reported once, as the stronger kind.
    """
    sigs = sorted(time_signatures, key=lambda ts: ts.tick) or [TimeSignature(0)]
    pickup = pickup_ticks_of(sigs, ppq)
    lines: list[GridLine] = []
    bar = 0 if pickup else 1
    for i, ts in enumerate(sigs):
        seg_end = sigs[i + 1].tick if i + 1 < len(sigs) else None
        per_bar = ts.ticks_per_bar(ppq)
        per_beat = ts.ticks_per_beat(ppq)
        anchor = None
        if pickup and i == 0:  # the pickup's beats count back from the first bar line
            per_beat = sigs[1].ticks_per_beat(ppq)
            anchor = pickup - sigs[1].ticks_per_bar(ppq)
        if seg_end is not None and seg_end <= start_tick:
            bar += -(-(seg_end - ts.tick) // per_bar)
            continue
        first_bar = max(0, (start_tick - ts.tick) // per_bar)
        bar_no = bar + first_bar
        t = ts.tick + first_bar * per_bar
        last = end_tick if seg_end is None else min(end_tick, seg_end - 1)
        while t <= last:
            bar_end = t + per_bar if seg_end is None else min(t + per_bar, seg_end)
            lines.extend(_lines_in_bar(t, bar_end, per_beat, step, bar_no, start_tick, last,
                                       anchor))
            t += per_bar
            bar_no += 1
        if seg_end is None or seg_end > end_tick:
            break
        bar += -(-(seg_end - ts.tick) // per_bar)
    return lines


def _lines_in_bar(bar_tick: int, bar_end: int, per_beat: int, step: float, bar_no: int,
                  lo: int, hi: int, anchor: int | None = None) -> Iterable[GridLine]:
    """The lines of one bar; beats and steps count from ``anchor`` (the bar line, or
    where the full bar would have started for a pickup)."""
    anchor = bar_tick if anchor is None else anchor
    ticks: dict[int, str] = {}
    if step > 0:
        k = 0
        while (t := anchor + round(k * step)) < bar_end:
            if t >= bar_tick:
                ticks[t] = "step"
            k += 1
    for t in range(anchor, bar_end, per_beat):
        if t >= bar_tick:
            ticks[t] = "beat"
    ticks[bar_tick] = "bar"
    return (GridLine(t, kind, bar_no) for t, kind in sorted(ticks.items()) if lo <= t <= hi)


def melody_song(notes: Iterable[Note], ppq: int = DEFAULT_PPQ, bpm: float = 120.0,
                time_signature: tuple[int, int] = (4, 4), name: str = "Melody",
                program: int = 0) -> Song:
    """A one-track song: the common shape of a seed."""
    return Song(
        ppq=ppq,
        tracks=[Track(name=name, program=program, notes=sorted(notes, key=Note.sort_key))],
        tempo_map=TempoMap(ppq, [TempoChange(0, bpm_to_us(bpm))]),
        time_signatures=[TimeSignature(0, *time_signature)],
    )


# a melody is one line, perhaps harmonised in a second voice (thirds, sixths): its
# onsets hold fewer notes than this on average; a chord track's hold three or more
MELODY_NOTES_PER_ONSET = 2.5


def onsets(notes: Sequence[Note], ppq: int = DEFAULT_PPQ) -> int:
    """How many times ``notes`` start: notes that start within a 32nd note of the one
    before (a chord, a strum) start together."""
    starts = sorted(n.start_tick for n in notes)
    near = max(1, ppq // 8)
    return min(1, len(starts)) + sum(b - a >= near for a, b in zip(starts, starts[1:]))


def melody_track(song: Song) -> int | None:
    """Index of the track that most likely holds the melody, None when no track has
    pitched notes.  Drum tracks are never a melody.  A melody is one note at a time (or
    a line harmonised in a second voice): while such a track exists, tracks whose
    onsets average :data:`MELODY_NOTES_PER_ONSET` notes or more (chords, strums) are
    passed over.  Of the rest, the highest on average among those that start at least
    a quarter as often as the busiest (a bass is lower; a line that plays now and then
    is sparser)."""
    candidates = [(i, t, onsets(t.notes, song.ppq)) for i, t in enumerate(song.tracks)
                  if t.notes and not t.is_drum]
    if not candidates:
        return None
    lines = [c for c in candidates if len(c[1].notes) < MELODY_NOTES_PER_ONSET * c[2]]
    candidates = lines or candidates
    most = max(c[2] for c in candidates)
    candidates = [c for c in candidates if c[2] * 4 >= most]
    return max(candidates, key=lambda c: sum(n.pitch for n in c[1].notes) / len(c[1].notes))[0]
