"""The part-music helpers the GUI imported from here; they are
:mod:`engine.generation.parts_song`'s now (the command is :mod:`engine.cli.harmonise`).
Kept only until gui/ imports the new module."""

from engine.generation.parts_song import (  # noqa: F401
    MELODY_DEFAULT, POLYPHONIC_DEFAULTS, default_model, is_polyphonic_name, song_with_parts)
