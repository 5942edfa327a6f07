"""Which note is under the mouse, and which notes a rubber band holds.

Hit-testing turns the pixel into a (tick, pitch) through :class:`RollGeometry` once and
then asks the document's note index for the few notes at that place; it never walks
every note doing pixel maths.  The selection itself lives in the document as a set of
ids (notes carry no flags); these helpers only compute new sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from gui.document import SongDocument
from gui.pianoroll.geometry import RollGeometry

EDGE_PX = 5.0  # how close to a note's right end counts as grabbing the edge
OUTSIDE_EDGE_PX = 2.0  # ... and how far past it: more, and a note just after wins
MIN_BODY_PX = 8.0  # narrower notes are moved, not resized, when grabbed near the end


@dataclass(frozen=True, slots=True)
class Hit:
    """A note under the mouse and which part of it: the body moves, the end resizes."""

    note_id: int
    part: str  # "body" or "end" (the right edge: resize)


def hit_test(doc: SongDocument, geo: RollGeometry, x: float, y: float) -> Hit | None:
    """The note under (x, y), preferring the right edge of a note for resizing.

    Where notes overlap, a selected note wins over an unselected one, then the one
    that starts last (the one painted on top).
    """
    pitch = geo.y_to_pitch(y)
    if not 0 <= pitch <= 127:
        return None
    tick = geo.x_to_tick(x)
    reach = geo.ticks_for_pixels(EDGE_PX)
    ids = doc.notes_in_range(int(tick - reach), int(tick + reach) + 1, pitch, pitch)
    best: tuple[tuple[bool, int, int], Hit] | None = None
    for note_id in ids:
        note = doc.note(note_id)
        width = geo.pixels_for_ticks(note.duration_ticks)
        end_x = geo.tick_to_x(note.end_tick)
        start_x = geo.tick_to_x(note.start_tick)
        if width >= MIN_BODY_PX and end_x - EDGE_PX <= x <= end_x + OUTSIDE_EDGE_PX:
            part = "end"
        elif start_x <= x < max(end_x, start_x + 1):
            part = "body"
        else:
            continue
        rank = (note_id in doc.selection, part == "end", note.start_tick)
        if best is None or rank > best[0]:
            best = (rank, Hit(note_id, part))
    return best[1] if best else None


def notes_in_rect(doc: SongDocument, geo: RollGeometry, x0: float, y0: float,
                  x1: float, y1: float) -> set[int]:
    """Ids of the notes that a rubber band from (x0, y0) to (x1, y1) touches."""
    start, end, low, high = geo.rect_to_range(x0, y0, x1, y1)
    return set(doc.notes_in_range(start, end, low, high))


def toggled(selection: Iterable[int], note_id: int) -> set[int]:
    """The selection with ``note_id`` added, or removed if it was there (Ctrl-click)."""
    result = set(selection)
    result.symmetric_difference_update({note_id})
    return result


def velocity_bar_at(doc: SongDocument, geo: RollGeometry, x: float,
                    reach_px: float = 4.0) -> int | None:
    """The note whose velocity bar (drawn at its start) is nearest to ``x``, if any is close.

    Selected notes win ties, so a chord's selected note can be grabbed.
    """
    tick = geo.x_to_tick(x)
    reach = geo.ticks_for_pixels(reach_px)
    lo, hi = int(tick - reach), int(tick + reach) + 1
    best: tuple[tuple[float, bool], int] | None = None
    for note_id in doc.notes_in_range(lo, hi):
        note = doc.note(note_id)
        if not lo <= note.start_tick <= hi:
            continue
        rank = (-abs(geo.tick_to_x(note.start_tick) - x), note_id in doc.selection)
        if abs(rank[0]) <= reach_px and (best is None or rank > best[0]):
            best = (rank, note_id)
    return best[1] if best else None
