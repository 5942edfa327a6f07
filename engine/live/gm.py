"""General MIDI Level 1: the 128 melodic programs, in their 16 families of eight.

Program numbers here are 0-based, as MIDI sends them (the GM list numbers them 1-128).
On the drum channel (10, ``engine.song.DRUM_CHANNEL``) a program picks a drum kit
instead; GM 1 defines only the standard kit there, and on that channel a note number
names a drum sound rather than a pitch: :data:`PERCUSSION` (GM 1's 35-81 with GM 2's
additions at 27-34 and 82-87).
"""

from __future__ import annotations

FAMILIES: tuple[str, ...] = (
    "Piano", "Chromatic Percussion", "Organ", "Guitar", "Bass", "Strings", "Ensemble",
    "Brass", "Reed", "Pipe", "Synth Lead", "Synth Pad", "Synth Effects", "Ethnic",
    "Percussive", "Sound Effects",
)

PROGRAMS: tuple[str, ...] = (
    # Piano
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet",
    # Chromatic Percussion
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone",
    "Tubular Bells", "Dulcimer",
    # Organ
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ",
    "Accordion", "Harmonica", "Tango Accordion",
    # Guitar
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)",
    "Electric Guitar (clean)", "Electric Guitar (muted)", "Overdriven Guitar",
    "Distortion Guitar", "Guitar Harmonics",
    # Bass
    "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass",
    "Slap Bass 1", "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    # Strings
    "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings",
    "Orchestral Harp", "Timpani",
    # Ensemble
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2",
    "Choir Aahs", "Voice Oohs", "Synth Voice", "Orchestra Hit",
    # Brass
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section",
    "Synth Brass 1", "Synth Brass 2",
    # Reed
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn",
    "Bassoon", "Clarinet",
    # Pipe
    "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle",
    "Ocarina",
    # Synth Lead
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)",
    "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    # Synth Pad
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)",
    "Pad 5 (bowed)", "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)",
    # Synth Effects
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)",
    "FX 5 (brightness)", "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)",
    # Ethnic
    "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    # Percussive
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom",
    "Synth Drum", "Reverse Cymbal",
    # Sound Effects
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring",
    "Helicopter", "Applause", "Gunshot",
)

assert len(FAMILIES) == 16 and len(PROGRAMS) == 128  # noqa: S101 - the table's shape


PERCUSSION_LOW = 27  # the first note of the percussion map (GM 2's "High Q")
PERCUSSION: tuple[str, ...] = (
    # 27-34: GM 2 additions
    "High Q", "Slap", "Scratch Push", "Scratch Pull", "Sticks", "Square Click",
    "Metronome Click", "Metronome Bell",
    # 35-81: GM 1
    "Acoustic Bass Drum", "Bass Drum 1", "Side Stick", "Acoustic Snare", "Hand Clap",
    "Electric Snare", "Low Floor Tom", "Closed Hi-Hat", "High Floor Tom", "Pedal Hi-Hat",
    "Low Tom", "Open Hi-Hat", "Low-Mid Tom", "Hi-Mid Tom", "Crash Cymbal 1", "High Tom",
    "Ride Cymbal 1", "Chinese Cymbal", "Ride Bell", "Tambourine", "Splash Cymbal", "Cowbell",
    "Crash Cymbal 2", "Vibraslap", "Ride Cymbal 2", "Hi Bongo", "Low Bongo", "Mute Hi Conga",
    "Open Hi Conga", "Low Conga", "High Timbale", "Low Timbale", "High Agogo", "Low Agogo",
    "Cabasa", "Maracas", "Short Whistle", "Long Whistle", "Short Guiro", "Long Guiro",
    "Claves", "Hi Wood Block", "Low Wood Block", "Mute Cuica", "Open Cuica", "Mute Triangle",
    "Open Triangle",
    # 82-87: GM 2 additions
    "Shaker", "Jingle Bell", "Belltree", "Castanets", "Mute Surdo", "Open Surdo",
)
PERCUSSION_HIGH = PERCUSSION_LOW + len(PERCUSSION) - 1  # 87 ("Open Surdo")

assert len(PERCUSSION) == 61  # noqa: S101 - notes 27-87


def program_name(program: int) -> str:
    """"Violin" for 40; raises ValueError outside 0-127."""
    if not 0 <= program <= 127:
        raise ValueError(f"General MIDI program {program} is outside 0-127")
    return PROGRAMS[program]


def family_of(program: int) -> str:
    """"Strings" for 40."""
    program_name(program)
    return FAMILIES[program // 8]


def programs_by_family() -> list[tuple[str, list[tuple[int, str]]]]:
    """[(family, [(program, name), ...8]), ...16], in GM order."""
    return [(family, [(p, PROGRAMS[p]) for p in range(8 * i, 8 * i + 8)])
            for i, family in enumerate(FAMILIES)]


def percussion_name(note: int) -> str | None:
    """"Acoustic Snare" for 38 on the drum channel; ``None`` for a note 0-127 outside the
    percussion map (27-87: no GM drum sounds there); raises ValueError outside 0-127."""
    if not 0 <= note <= 127:
        raise ValueError(f"MIDI note {note} is outside 0-127")
    if PERCUSSION_LOW <= note <= PERCUSSION_HIGH:
        return PERCUSSION[note - PERCUSSION_LOW]
    return None


__all__ = ["FAMILIES", "PROGRAMS", "program_name", "family_of", "programs_by_family",
           "PERCUSSION", "PERCUSSION_LOW", "PERCUSSION_HIGH", "percussion_name"]
