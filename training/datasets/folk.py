"""music21's ABC folk collections: the Essen Folksong Collection (``essenFolksong``,
the melody models' corpus) and O'Neill's 1850 (``oneills1850``, another tradition,
never trained on).

A tune's id is ``<ABC file name>#<index of the tune in the file, from 0>``, the index in
music21's order (by reference number)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from engine.errors import ContinuoError

_HANDLER_CACHE: dict[str, list] = {}


def tune_handlers(path: str) -> list:
    """The file's tunes as music21 ABC handlers, in music21's Opus order (by reference
    number); cached per process because consecutive chunks come from the same file."""
    if path not in _HANDLER_CACHE:
        from music21 import abcFormat

        _HANDLER_CACHE.clear()
        af = abcFormat.ABCFile()
        af.open(path)
        handler = af.read()
        af.close()
        if handler.definesReferenceNumbers():
            parts = [h for _, h in sorted(handler.splitByReferenceNumber().items(),
                                          key=lambda kv: (kv[0] is None, kv[0] or 0))]
        else:
            parts = [handler]
        _HANDLER_CACHE[path] = parts
    return _HANDLER_CACHE[path]


def collection_files(collection: str) -> list[Path]:
    """The ABC files of one of music21's collections, sorted."""
    from music21 import corpus

    files = sorted({Path(p) for p in corpus.getPaths(fileExtensions=("abc",))
                    if f"/{collection}/" in Path(p).as_posix()})
    if not files:
        raise ContinuoError(f"music21's corpus has no ABC files in the collection '{collection}'")
    return files


def read_abc_songs(path: str, i0: int, i1: int | None) -> Iterator[tuple]:
    """Tunes [i0, i1) of one ABC file (``i1`` None: to the end) as
    (id, Song, None), or (id, None, reason) for a tune music21 cannot read ("parse") or
    that has no notes ("no_notes"); a file that cannot be read at all gives "parse" for
    every tune that was expected of it."""
    from music21.abcFormat import translate

    from engine.formats import music21_score_to_song

    name = Path(path).name
    try:
        handlers = tune_handlers(path)
    except Exception:  # the whole file is unreadable: every tune we expected fails
        for i in range(i0, i1 or i0 + 1):
            yield f"{name}#{i}", None, "parse"
        return
    for i in range(i0, len(handlers) if i1 is None else min(i1, len(handlers))):
        tune_id = f"{name}#{i}"
        try:
            score = translate.abcToStreamScore(handlers[i])
            song = music21_score_to_song(score, what=tune_id)
        except ContinuoError as e:
            yield tune_id, None, "no_notes" if "no notes" in str(e) else "parse"
            continue
        except Exception:
            yield tune_id, None, "parse"
            continue
        yield tune_id, song, None
