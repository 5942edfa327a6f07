"""Errors a user can cause, each with a sentence a person understands.

Every problem that a user's file, setting or model folder can cause is raised as a
subclass of :class:`ContinuoError`.  The message names the file (where there is one)
and says what is wrong, so the GUI and the CLI can show it as it is.
"""

from __future__ import annotations


class ContinuoError(Exception):
    """Base class of every error that a user can cause."""


class MidiFileError(ContinuoError):
    """A MIDI file that cannot be read or written."""


class ScoreFileError(ContinuoError):
    """An ABC, MusicXML or kern file that cannot be read."""


class SongError(ContinuoError):
    """A note, track or song that breaks the rules of the note model."""


class EncodingError(ContinuoError):
    """A melody that the encoding cannot represent (empty, out of range, ...)."""


class ModelError(ContinuoError):
    """A model card or ONNX file that is missing, unreadable or inconsistent."""


class GenerationError(ContinuoError):
    """Generation settings that are out of range, or a seed that cannot be used."""


class LimitError(ContinuoError):
    """An input larger than Continuo is willing to handle."""


class PortError(ContinuoError):
    """A MIDI port that cannot be opened, or that went away."""


class Cancelled(ContinuoError):
    """The person cancelled work that was under way (reading a folder, building a style)."""


class StyleError(ContinuoError):
    """A style folder with no music Continuo can learn from, or a saved style that
    cannot be used."""
