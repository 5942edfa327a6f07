"""Where the training music comes from: one module per source, each reading its pieces
into :class:`engine.song.Song` objects with fixed ids, and the split rule every source
shares.

- :mod:`training.datasets.splits`: a piece's split from its id (crc32 % 20) and the
  order of ids;
- :mod:`training.datasets.folk`: music21's ABC folk collections (the Essen collection
  the melody models train on, O'Neill's 1850 as the other tradition);
- :mod:`training.datasets.partmusic`: music21's multi-part works, parsed once into a
  cache of notes.

:mod:`training.corpus` turns any of them into tokens of an encoding and caches them."""
