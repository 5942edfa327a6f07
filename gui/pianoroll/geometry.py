"""Time and pitch <-> pixels for the piano roll, with snapping and zoom.  No Qt here.

All of the view's coordinate maths lives in :class:`RollGeometry`, so that it can be
tested with round trips and every widget (grid, keyboard, ruler, velocity lane) agrees
on where a tick or a pitch is.  Coordinates are viewport pixels: ``x = 0`` is the left
edge of the visible grid, ``y = 0`` its top; the scroll offsets are content pixels.
Pitch 127 is the top row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Snap choices as the menu shows them, and how many of each fit in a quarter note.
SNAP_PER_QUARTER: dict[str, float] = {
    "1/4": 1, "1/8": 2, "1/16": 4, "1/8T": 3, "1/16T": 6, "off": 0,
}
SNAP_CHOICES: tuple[str, ...] = tuple(SNAP_PER_QUARTER)

# The length a click on the grid draws, in quarter notes ("snap": one snap step).  The
# keys 3-7 choose the plain lengths, as in MuseScore's note input (3 a 16th, 5 a quarter).
NOTE_LENGTH_QUARTERS: dict[str, float] = {
    "1/1": 4, "1/2.": 3, "1/2": 2, "1/4.": 1.5, "1/4": 1, "1/8.": 0.75, "1/8": 0.5,
    "1/8T": 1 / 3, "1/16": 0.25, "1/16T": 1 / 6, "snap": 0,
}
NOTE_LENGTHS: tuple[str, ...] = tuple(NOTE_LENGTH_QUARTERS)
NOTE_LENGTH_KEYS: dict[str, str] = {"3": "1/16", "4": "1/8", "5": "1/4", "6": "1/2", "7": "1/1"}
DEFAULT_NOTE_LENGTH = "1/4"
NOTE_LENGTH_NAMES: dict[str, str] = {
    "1/1": "whole", "1/2.": "dotted half", "1/2": "half", "1/4.": "dotted quarter",
    "1/4": "quarter", "1/8.": "dotted eighth", "1/8": "eighth", "1/8T": "eighth triplet",
    "1/16": "sixteenth", "1/16T": "sixteenth triplet", "snap": "one snap step",
}


def note_length_ticks(length: str, ppq: int) -> int:
    """Ticks of a drawn note of ``length`` (0 for "snap": the caller's snap step)."""
    try:
        quarters = NOTE_LENGTH_QUARTERS[length]
    except KeyError:
        raise ValueError(f"note length {length!r} is not one of "
                         f"{', '.join(NOTE_LENGTHS)}") from None
    return round(quarters * ppq)

MIN_PX_PER_TICK = 0.0005  # a 4/4 bar at 480 ppq in about a pixel: a whole song at once
MAX_PX_PER_TICK = 2.0  # a tick over two pixels: single-tick editing
MIN_ROW_HEIGHT = 3.0
MAX_ROW_HEIGHT = 48.0
PITCHES = 128


def snap_step_ticks(snap: str, ppq: int) -> float:
    """Length of one snap step in ticks (0 when snapping is off).

    A float, because triplet steps need not be whole ticks at every resolution.
    """
    try:
        per_quarter = SNAP_PER_QUARTER[snap]
    except KeyError:
        raise ValueError(f"snap {snap!r} is not one of {', '.join(SNAP_CHOICES)}") from None
    return ppq / per_quarter if per_quarter else 0.0


def snap_tick(tick: float, step: float, mode: str = "round") -> int:
    """``tick`` moved to the grid of ``step`` ticks ('round', 'floor' or 'ceil').

    With ``step == 0`` (snap off) the tick is only rounded to a whole tick.
    """
    if step <= 0:
        return int(round(tick))
    fn = {"round": round, "floor": math.floor, "ceil": math.ceil}[mode]
    # a tiny tolerance so that a tick already on a triplet line stays there
    k = fn(tick / step + (1e-9 if mode == "floor" else -1e-9 if mode == "ceil" else 0))
    return int(round(k * step))


@dataclass(slots=True)
class RollGeometry:
    """The mapping between (tick, pitch) and viewport pixels, and its zoom and scroll."""

    ppq: int = 480
    px_per_tick: float = 80 / 480  # a quarter note is 80 px by default
    row_height: float = 12.0
    scroll_x: float = 0.0  # content pixels scrolled off the left
    scroll_y: float = 0.0  # content pixels scrolled off the top

    # ---- time ------------------------------------------------------------------------
    def tick_to_x(self, tick: float) -> float:
        return tick * self.px_per_tick - self.scroll_x

    def x_to_tick(self, x: float) -> float:
        return (x + self.scroll_x) / self.px_per_tick

    def tick_at(self, x: float) -> int:
        """The whole tick under pixel ``x`` (never negative)."""
        return max(0, math.floor(self.x_to_tick(x) + 1e-9))

    def ticks_for_pixels(self, dx: float) -> float:
        return dx / self.px_per_tick

    def pixels_for_ticks(self, ticks: float) -> float:
        return ticks * self.px_per_tick

    # ---- pitch -----------------------------------------------------------------------
    def pitch_to_y(self, pitch: int) -> float:
        """Top edge of ``pitch``'s row."""
        return (PITCHES - 1 - pitch) * self.row_height - self.scroll_y

    def y_to_pitch(self, y: float) -> int:
        """The pitch whose row holds pixel ``y`` (may fall outside 0-127)."""
        return PITCHES - 1 - math.floor((y + self.scroll_y) / self.row_height + 1e-9)

    def pitch_at(self, y: float) -> int:
        """As :meth:`y_to_pitch`, clamped to 0-127 for gestures that leave the grid."""
        return min(PITCHES - 1, max(0, self.y_to_pitch(y)))

    def pitches_for_pixels(self, dy: float) -> int:
        """Rows moved by a vertical drag of ``dy`` pixels (down is negative pitch)."""
        return -round(dy / self.row_height)

    # ---- rectangles and ranges -------------------------------------------------------
    def note_rect(self, start_tick: int, duration_ticks: int, pitch: int
                  ) -> tuple[float, float, float, float]:
        """(x, y, width, height) of a note; at least one pixel wide so it never vanishes."""
        x = self.tick_to_x(start_tick)
        return (x, self.pitch_to_y(pitch),
                max(1.0, self.pixels_for_ticks(duration_ticks)), self.row_height)

    def visible_ticks(self, width: float) -> tuple[int, int]:
        """[start, end) ticks visible in a viewport ``width`` pixels wide."""
        return self.tick_at(0), math.ceil(self.x_to_tick(width)) + 1

    def visible_pitches(self, height: float) -> tuple[int, int]:
        """(lowest, highest) pitches with a row at least partly visible."""
        return max(0, self.y_to_pitch(height)), min(PITCHES - 1, self.y_to_pitch(0))

    def content_height(self) -> float:
        return PITCHES * self.row_height

    def rect_to_range(self, x0: float, y0: float, x1: float, y1: float
                      ) -> tuple[int, int, int, int]:
        """Pixel rectangle (any corner order) -> (start_tick, end_tick, low, high)."""
        left, right = sorted((x0, x1))
        top, bottom = sorted((y0, y1))
        return (self.tick_at(left), max(self.tick_at(left) + 1, math.ceil(self.x_to_tick(right))),
                self.pitch_at(bottom), self.pitch_at(top))

    # ---- zoom and scroll -------------------------------------------------------------
    def zoom_x(self, factor: float, anchor_x: float = 0.0) -> None:
        """Zoom time by ``factor`` keeping the tick under ``anchor_x`` where it is."""
        tick = self.x_to_tick(anchor_x)
        self.px_per_tick = min(MAX_PX_PER_TICK, max(MIN_PX_PER_TICK, self.px_per_tick * factor))
        self.scroll_x = max(0.0, tick * self.px_per_tick - anchor_x)

    def zoom_y(self, factor: float, anchor_y: float = 0.0) -> None:
        """Zoom pitch by ``factor`` keeping the content under ``anchor_y`` where it is."""
        rows = (anchor_y + self.scroll_y) / self.row_height
        self.row_height = min(MAX_ROW_HEIGHT, max(MIN_ROW_HEIGHT, self.row_height * factor))
        self.scroll_y = max(0.0, rows * self.row_height - anchor_y)

    def center_on_pitch(self, pitch: float, height: float) -> None:
        """Scroll so that ``pitch`` sits in the middle of a viewport ``height`` high."""
        top = (PITCHES - 1 - pitch + 0.5) * self.row_height - height / 2
        self.scroll_y = min(max(0.0, top), max(0.0, self.content_height() - height))
