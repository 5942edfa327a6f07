"""Drum grooves rendered by Debian's ``mma`` (Musical MIDI Accompaniment, GPL-2+): the
drum models' corpus.

Every ``DefGroove`` of mma's standard library (``/usr/share/mma/lib/stdlib``; its
intro, fill, sustained and ending variants are grooves of their own there) is rendered
over a chord chart to a standard MIDI file with its drum (channel 10), bass and chord
tracks, and labelled with the style family of its groove file (:data:`FAMILIES`).  The
split goes BY GROOVE FILE (``zlib.crc32(file) % 10``: 0 test, 1 validation, else
train), so no style file's variants straddle train and test.

The rendered files live in ``training/cache/grooves`` (ignored by git) with an
``index.json``; mma is needed only to render (``scripts/training-deps.sh``
installs it), never at run time.  ``python -m training grooves`` renders (niced, in
parallel, resumable: a file already rendered is kept).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

from engine.errors import ContinuoError

MMA_LIBRARY = Path("/usr/share/mma/lib/stdlib")
CACHE_DIR = Path(__file__).resolve().parents[1] / "cache" / "grooves"
LICENCE = ("mma's groove library (Debian package mma, Musical MIDI Accompaniment by Bob van "
           "der Poel): GPL-2+; the rendered MIDI files are derived from it")
SPLIT_RULE = "by groove file: zlib.crc32(file name) % 10: 0 test, 1 validation, else train"

# the style family of each groove file of the standard library (files not listed are left
# out: the metronomes, 'none' and the arpeggio files, which have no drums)
FAMILIES: dict[str, tuple[str, ...]] = {
    "rock": ("50srock", "60srock", "basicrock", "bubblerock", "rock-128", "softrock",
             "folkrock", "jazzrock", "twist"),
    "pop": ("8beat", "broadway", "showtune", "desert"),
    "swing": ("swing", "68swing", "easyswing", "fastswing", "bigband", "jive", "foxtrot",
              "quickstep", "charleston", "dixie", "softshoe", "ragtime"),
    "jazz": ("bebop", "jazzcombo", "jazzguitar", "mellowjazz", "modernjazz", "nitejazz",
             "slowjazz", "descendingjazz", "evansish", "folkyjazz", "gypsyjazz", "jazz-54"),
    "blues": ("blues", "blues128", "blues68", "fastblues", "slowblues", "countryblues",
              "boggiewoggie"),
    "shuffle": ("shuffleboggie",),
    "bossa": ("bossanova",),
    "latin": ("afro-cuban", "beguine", "bolero", "slowbolero", "chacha", "cubanguitar",
              "lfusion", "mambo", "merengue", "salsa", "son"),
    "rhumba": ("rhumba", "jazzrhumba"),
    "samba": ("samba",),
    "tango": ("tango", "lighttango"),
    "waltz": ("broadwaywaltz", "countrywaltz", "fastjazzwaltz", "fastwaltz",
              "frenchwaltz", "jazzwaltz", "latinwaltz", "modernjazzwaltz", "rockwaltz",
              "vienesewaltz", "waltz"),
    "country": ("bluegrass", "countryswing", "hillcountry", "slowcountry", "westernswing"),
    "funk": ("bvfunk", "strut"),
    "ballad": ("ballad", "ballad128", "ballad68", "folkballad", "guitarballad", "pianoballad",
               "popballad", "rb-ballad", "rockballad", "stringballad", "lullaby",
               "slowbroadway"),
    "march": ("68march", "bwmarch", "dixiemarch", "march"),
    "folk": ("folk", "bluefolk", "zydeco"),
    "gospel": ("spiritual", "slowspiritual", "popspiritual", "hymn"),
    "soul": ("dsoul", "rb"),
    "disco": ("boneym",),
    "dance": ("trance",),
    "ska": ("ska",),
    "calypso": ("calypso",),
    "polka": ("polka",),
}
FAMILY_OF = {stem: family for family, stems in FAMILIES.items() for stem in stems}

# chord charts, a chord a bar: major, jazz and minor
CHARTS = (("C", "Am", "F", "G7", "C", "F", "G7", "C"),
          ("Dm7", "G7", "Cmaj7", "A7", "Dm7", "G7", "C6", "C6"),
          ("Am", "Dm", "E7", "Am", "F", "G", "E7", "Am"))
TEMPOS = (84, 108, 132)
SHORT = re.compile(r"(intro|end|fill|break)", re.IGNORECASE)
# a Sus or Plus variant adds sustained or arpeggiated pitched parts over its groove's own
# drums: rendered, it would only repeat them
SAME_DRUMS = re.compile(r"(sus|plus)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Groove:
    """One groove of a style file, as rendered: ``bars`` of the chart at ``tempo``."""

    name: str  # mma's DefGroove name
    file: str  # the groove file's stem
    family: str
    split: str
    bars: int
    chart: int
    tempo: int

    @property
    def midi_name(self) -> str:
        return f"{self.file}--{self.name}.mid"


def split_of_file(stem: str) -> str:
    r = zlib.crc32(stem.encode("utf-8")) % 10
    return "test" if r == 0 else "validation" if r == 1 else "train"


def groove_names(path: Path) -> list[str]:
    """The ``DefGroove`` names a style file defines, in order."""
    out = []
    for line in path.read_text(encoding="latin-1").splitlines():
        m = re.match(r"\s*defgroove\s+(\S+)", line, re.IGNORECASE)
        if m and m.group(1) not in out:
            out.append(m.group(1))
    return out


def library_grooves(library: Path = MMA_LIBRARY) -> list[Groove]:
    """Every groove of the library's style files that :data:`FAMILIES` names but their
    Sus and Plus variants (:data:`SAME_DRUMS`): the main ones over 8 bars, intros,
    fills and endings over 4."""
    if not library.is_dir():
        raise ContinuoError(f"{library}: mma's groove library is not installed "
                            f"(apt-get install mma, or bash scripts/training-deps.sh)")
    out = []
    for path in sorted(library.glob("*.mma")):
        family = FAMILY_OF.get(path.stem)
        if family is None:
            continue
        for name in groove_names(path):
            if SAME_DRUMS.search(name):
                continue
            h = zlib.crc32(f"{path.stem}/{name}".encode())
            out.append(Groove(name, path.stem, family, split_of_file(path.stem),
                              4 if SHORT.search(name) else 8, h % len(CHARTS),
                              TEMPOS[h // 7 % len(TEMPOS)]))
    return out


def chart_text(groove: Groove) -> str:
    chords = CHARTS[groove.chart]
    lines = [f"Tempo {groove.tempo}", f"Groove {groove.name}"]
    lines += [f"{i + 1} {chords[i % len(chords)]}" for i in range(groove.bars)]
    return "\n".join(lines) + "\n"


def render(groove: Groove, out_dir: Path, timeout: float = 60.0) -> str | None:
    """Render one groove with mma into ``out_dir``; None when done, else why not."""
    target = out_dir / groove.midi_name
    if target.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "chart.mma"
        source.write_text(chart_text(groove), encoding="utf-8")
        midi = Path(tmp) / "out.mid"
        try:
            done = subprocess.run(["nice", "-n", "10", "mma", str(source), "-f", str(midi)],
                                  capture_output=True, text=True, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            return f"{groove.file}/{groove.name}: mma took over {timeout:g} s"
        if done.returncode != 0 or not midi.exists():
            said = (done.stdout + done.stderr).strip().splitlines()
            return f"{groove.file}/{groove.name}: {said[-1] if said else 'mma failed'}"
        shutil.copyfile(midi, target.with_suffix(".tmp"))
        os.replace(target.with_suffix(".tmp"), target)
    return None


def render_all(out_dir: Path = CACHE_DIR, workers: int = 2, limit: int | None = None,
               say: Callable[[str], None] = print) -> dict:
    """Render every groove (those already there are kept) and write ``index.json``:
    the grooves rendered, with family and split, and what failed."""
    if shutil.which("mma") is None:
        raise ContinuoError("mma is not installed (apt-get install mma, or bash "
                            "scripts/training-deps.sh)")
    out_dir.mkdir(parents=True, exist_ok=True)
    grooves = library_grooves()[:limit]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        problems = [p for p in pool.map(lambda g: render(g, out_dir), grooves) if p]
    done = [g for g in grooves if (out_dir / g.midi_name).exists()]
    index = {"licence": LICENCE, "split_rule": SPLIT_RULE,
             "grooves": [asdict(g) for g in done], "failed": problems}
    tmp = out_dir / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=1), encoding="utf-8")
    os.replace(tmp, out_dir / "index.json")
    say(f"grooves: {len(done)} rendered of {len(grooves)} ({len(problems)} failed) "
        f"from {len({g.file for g in done})} style files in {out_dir}")
    for split in ("train", "validation", "test"):
        part = [g for g in done if g.split == split]
        say(f"  {split}: {len(part)} grooves, {len({g.file for g in part})} files")
    return index


def read_index(cache: Path = CACHE_DIR) -> list[Groove]:
    """The rendered grooves an earlier :func:`render_all` listed."""
    path = cache / "index.json"
    if not path.exists():
        raise ContinuoError(f"{path}: no rendered grooves; run python -m training grooves")
    return [Groove(**g) for g in json.loads(path.read_text(encoding="utf-8"))["grooves"]]


def human_drum_files(folder: Path) -> list[Path]:
    """MIDI files of a folder (e.g. tests/data/external) that hold a drum track on
    channel 10: the second, human-written test set (none of it is trained on)."""
    import mido

    out = []
    for path in sorted(folder.glob("*.mid")):
        try:
            mid = mido.MidiFile(str(path))
        except Exception:  # noqa: BLE001  a file mido cannot read is no drum track
            continue
        if any(m.type == "note_on" and m.channel == 9 and m.velocity > 0
               for t in mid.tracks for m in t):
            out.append(path)
    return out


def families_in(grooves: Iterable[Groove]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for g in grooves:
        counts[g.family] = counts.get(g.family, 0) + 1
    return dict(sorted(counts.items()))
