"""MusicXML ``<harmony>`` read back as the symbol a lead sheet writes: a seventh chord
with an added ninth (eleventh, thirteenth) as a ``<degree>`` opens as ``C9`` (``C11``,
``C13``), not ``C7add9``; the symbols of issue 25 and every ninth, eleventh and
thirteenth on a seventh open as themselves, written by hand the ways notation programs
write them and written by Continuo's own export."""

from __future__ import annotations

import pytest

from engine.encodings.chords import parse_chord
from engine.formats import load_song
from engine.formats.export import export_song
from engine.song import Chord, Note, Song, Track

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1">
  <part-list><score-part id="P1"><part-name>Lead</part-name></score-part></part-list>
  <part id="P1">
"""
MEASURE = """    <measure number="{number}">{attributes}
      {harmony}
      <note><pitch><step>C</step><octave>5</octave></pitch><duration>4</duration><type>whole</type></note>
    </measure>
"""
ATTRIBUTES = """
      <attributes><divisions>1</divisions><key><fifths>0</fifths></key>
        <time><beats>4</beats><beat-type>4</beat-type></time></attributes>"""


def _degree(value: int, alter: int = 0, kind: str = "add") -> str:
    return (f"<degree><degree-value>{value}</degree-value><degree-alter>{alter}"
            f"</degree-alter><degree-type>{kind}</degree-type></degree>")


def _note(tag: str, name: str) -> str:
    alter = {"b": "-1", "#": "1"}.get(name[1:], "")
    alter = f"<{tag}-alter>{alter}</{tag}-alter>" if alter else ""
    return f"<{tag}><{tag}-step>{name[0]}</{tag}-step>{alter}</{tag}>"


def _harmony(root: str, kind: str, degrees: list[str] = (), bass: str | None = None) -> str:
    bass_xml = _note("bass", bass) if bass else ""
    return (f"<harmony>{_note('root', root)}<kind>{kind}</kind>{bass_xml}"
            f"{''.join(degrees)}</harmony>")


def _read(tmp_path, harmonies: list[str]) -> list[str]:
    """The chord track of a score of one bar per harmony."""
    measures = "".join(MEASURE.format(number=i + 1, attributes=ATTRIBUTES if i == 0 else "",
                                      harmony=h) for i, h in enumerate(harmonies))
    path = tmp_path / "harmony.musicxml"
    path.write_text(HEAD + measures + "  </part>\n</score-partwise>\n")
    song = load_song(path)
    assert [c.tick for c in song.chords] == [i * 4 * song.ppq for i in range(len(harmonies))]
    return [c.symbol for c in song.chords]


# the symbols of issue 25, as MusicXML names them
ISSUE = {
    "C": _harmony("C", "major"), "Cm": _harmony("C", "minor"),
    "C7": _harmony("C", "dominant"), "Cmaj7": _harmony("C", "major-seventh"),
    "Cm7": _harmony("C", "minor-seventh"), "Cdim": _harmony("C", "diminished"),
    "Cdim7": _harmony("C", "diminished-seventh"),
    "Cm7b5": _harmony("C", "half-diminished"), "Caug": _harmony("C", "augmented"),
    "Csus2": _harmony("C", "suspended-second"), "Csus4": _harmony("C", "suspended-fourth"),
    "C6": _harmony("C", "major-sixth"), "C9": _harmony("C", "dominant-ninth"),
    "C/E": _harmony("C", "major", bass="E"),
}

# 9ths, 11ths and 13ths on sevenths: their own kind, and the seventh with <degree>s added
# (a seventh's kind and the tensions as degrees is how many programs write them)
STACKED = {
    "C9": ("dominant-ninth", "dominant", [9]),
    "Cm9": ("minor-ninth", "minor-seventh", [9]),
    "Cmaj9": ("major-ninth", "major-seventh", [9]),
    "C11": ("dominant-11th", "dominant", [9, 11]),
    "Cm11": ("minor-11th", "minor-seventh", [9, 11]),
    "C13": ("dominant-13th", "dominant", [9, 13]),
    "Cm13": ("minor-13th", "minor-seventh", [9, 13]),
    "Cmaj13": ("major-13th", "major-seventh", [9, 13]),
}


def test_the_symbols_of_the_issue_open_as_themselves(tmp_path):
    assert _read(tmp_path, list(ISSUE.values())) == list(ISSUE)


@pytest.mark.parametrize("root,bass", [("C", None), ("Bb", None), ("F#", "E")])
def test_a_ninth_eleventh_or_thirteenth_on_a_seventh_opens_as_one(tmp_path, root, bass):
    named, as_degrees, expected = [], [], []
    for symbol, (kind, seventh, tensions) in STACKED.items():
        named.append(_harmony(root, kind, bass=bass))
        as_degrees.append(_harmony(root, seventh, [_degree(t) for t in tensions], bass))
        expected.append(root + symbol[1:] + (f"/{bass}" if bass else ""))
    assert _read(tmp_path, named) == expected
    assert _read(tmp_path, as_degrees) == expected
    # the same tones as the symbol names: nothing added, nothing lost
    for text, (_, seventh, tensions) in zip(expected, STACKED.values()):
        quality = {"dominant": "7", "minor-seventh": "m7", "major-seventh": "maj7"}[seventh]
        written = parse_chord(root + quality + "".join(f"add{t}" for t in tensions))
        assert parse_chord(text).pitch_classes == written.pitch_classes | (
            {parse_chord(text).bass_pc} if bass else set())


def test_only_a_whole_stack_folds_and_altered_tensions_stay(tmp_path):
    found = _read(tmp_path, [
        _harmony("C", "dominant", [_degree(13)]),  # a thirteenth without the ninth
        _harmony("C", "minor-seventh", [_degree(11)]),  # an eleventh without the ninth
        _harmony("G", "dominant", [_degree(9, -1)]),  # b9
        _harmony("C", "dominant", [_degree(9), _degree(11, 1)]),  # 9 and #11
        _harmony("C", "major", [_degree(9)]),  # no seventh: an added ninth
        _harmony("C", "minor-11th", [_degree(13)]),  # an eleventh with a thirteenth
    ])
    assert found == ["C7add13", "Cm7add11", "G7(b9)", "C9(#11)", "Cadd9", "Cm13add11"]
    assert parse_chord("Cm13add11").pitch_classes == {0, 3, 7, 10, 2, 5, 9}


def test_ninths_typed_on_a_seventh_survive_export_and_open_as_the_lead_sheet_symbol(tmp_path):
    typed = list(ISSUE) + list(STACKED) + ["Bbm9", "Ebmaj13", "F#11/E", "C7add9", "Cm7(9)",
                                            "C7add9add13", "G7(b9)", "Cadd9"]
    expected = list(ISSUE) + list(STACKED) + ["Bbm9", "Ebmaj13", "F#11/E", "C9", "Cm9",
                                              "C13", "G7(b9)", "Cadd9"]
    song = Song(tracks=[Track("Melody", notes=[Note(60, i * 1920, 1920)
                                               for i in range(len(typed))])],
                chords=[Chord(i * 1920, s) for i, s in enumerate(typed)])
    path = tmp_path / "typed.musicxml"
    export_song(song, path)
    assert [c.symbol for c in load_song(path).chords] == expected
