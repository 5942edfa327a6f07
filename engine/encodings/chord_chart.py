"""Chord charts as people type them on a command line: ``"C | Am | F G7 | C"``.

Bars are separated by ``|``; the chords within a bar split it evenly (``F G7`` in 4/4:
F on beats 1-2, G7 on beats 3-4); ``%`` repeats the bar before.  :func:`parse_chart`
reads a chart into bars of :class:`~engine.encodings.chords.ChordSymbol` and says in a
sentence which bar and which symbol it could not read; :func:`chart_to_chords` lays the
bars on a song's bars from a given bar on, as the song's chord track
(:class:`engine.song.Chord`: each chord lasts until the next, the last to the end).
"""

from __future__ import annotations

from typing import Sequence

from engine.encodings.chords import ChordSymbol, parse_chord
from engine.errors import EncodingError
from engine.song import Chord, Song

#: the most bars a chart may have, and the most chords in one bar
MAX_CHART_BARS = 4096
MAX_CHORDS_PER_BAR = 16
REPEAT_BAR = "%"


def parse_chart(text: str) -> list[list[ChordSymbol]]:
    """The bars of a chart, each a list of chords that split it evenly; an
    EncodingError naming the bar (from 1) and the symbol it could not read."""
    if not isinstance(text, str) or not text.strip():
        raise EncodingError("the chord chart is empty: write chords with bars separated "
                            "by '|', such as \"C | Am | F G7 | C\"")
    cells = text.strip().strip("|").split("|")
    if len(cells) > MAX_CHART_BARS:
        raise EncodingError(f"the chord chart has {len(cells)} bars; at most "
                            f"{MAX_CHART_BARS} are read")
    bars: list[list[ChordSymbol]] = []
    for number, cell in enumerate(cells, start=1):
        words = cell.split()
        if not words:
            raise EncodingError(f"bar {number} of the chord chart is empty: give it a chord, "
                                f"or '%' to repeat the bar before")
        if words == [REPEAT_BAR]:
            if not bars:
                raise EncodingError("bar 1 of the chord chart is '%', but there is no bar "
                                    "before it to repeat")
            bars.append(list(bars[-1]))
            continue
        if len(words) > MAX_CHORDS_PER_BAR:
            raise EncodingError(f"bar {number} of the chord chart has {len(words)} chords; "
                                f"at most {MAX_CHORDS_PER_BAR} fit in a bar")
        bar = []
        for word in words:
            try:
                bar.append(parse_chord(word))
            except EncodingError as e:
                raise EncodingError(f"bar {number} of the chord chart: {e}") from None
        bars.append(bar)
    return bars


def chart_to_chords(bars: Sequence[Sequence[ChordSymbol]], song: Song,
                    from_tick: int) -> list[Chord]:
    """The chart's chords on ``song``'s bars, its first bar the bar ``from_tick`` falls
    in (each bar's chords splitting that bar's length evenly, on whole ticks); a chord
    that repeats the one before it is left out (it lasts on)."""
    first_bar = song.bar_beat_at(max(0, int(from_tick)))[0]
    out: list[Chord] = []
    previous = None
    for i, bar in enumerate(bars):
        start = song.bar_start_tick(first_bar + i)
        end = song.bar_start_tick(first_bar + i + 1)
        for j, symbol in enumerate(bar):
            tick = start + (end - start) * j // len(bar)
            text = str(symbol)
            if text != previous:
                out.append(Chord(tick, text))
                previous = text
    return out


def with_chart(song: Song, bars: Sequence[Sequence[ChordSymbol]], from_tick: int) -> Song:
    """A copy of ``song`` whose chord track is the chart's from the bar ``from_tick``
    falls in (the song's own chords before that bar kept)."""
    chords = chart_to_chords(bars, song, from_tick)
    out = song.copy()
    start = chords[0].tick if chords else int(from_tick)
    out.chords = [c for c in song.chords if c.tick < start] + chords
    return out
