"""Fuzzing of every reader of user files (MIDI, ABC, MusicXML, kern, model cards)."""
