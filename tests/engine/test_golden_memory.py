"""Byte-for-byte guard for the generation-core refactor (issue 22): what every shipped model
writes through the CLI as users get it, motif memory on, for every job: melody and
polyphonic continuation, a style, harmonise, melody and polyphonic fill, and ``score`` with
and without ``--fill``.  Recorded before the refactor began, in a commit of its own; a change
that is meant to change what a model plays updates this table in its own commit and says why.

``python tests/engine/test_golden_memory.py`` prints the table to paste below."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
MELODY = DATA / "golden_seed.mid"  # the first default seed
CHORALE = DATA / "golden_chorale.mid"  # BWV 66.6 from music21's corpus, written by `convert`
# name -> what `score` printed (JSON), for the score rows: the bits are sums of network
# outputs, whose last digits move with the processor (onnxruntime picks its kernels by
# the CPU's instruction set), so these rows compare numbers to a millionth, not bytes
SCORES = DATA / "golden_memory_scores.json"

# name -> (command, options, input); STYLE is a folder holding music21's essenFolksong/erk5.abc
COMMANDS = {
    "lstm continues": ("generate", "--model lstm --bars 4 --variations 2 --rng-seed 7 --temperature 0.9", MELODY),
    "wavenet continues": ("generate", "--model wavenet --bars 4 --variations 2 --rng-seed 7 --temperature 0.9", MELODY),
    "duet continues": ("generate", "--model duet --bars 4 --variations 2 --rng-seed 7 --temperature 0.9", MELODY),
    "duet continues in key and range": ("generate", "--model duet --bars 3 --variations 1 --rng-seed 11 --key D --min-pitch 60 --max-pitch 79 --top-p 0.9", MELODY),
    "lstm continues in a style": ("generate", "--model lstm --bars 4 --variations 2 --rng-seed 7 --temperature 0.9 --style STYLE", MELODY),
    "poly-lstm continues parts": ("generate", "--model poly-lstm --bars 2 --variations 2 --rng-seed 7", CHORALE),
    "poly-wavenet continues parts": ("generate", "--model poly-wavenet --bars 2 --variations 2 --rng-seed 7", CHORALE),
    "poly-wavenet continues a melody": ("generate", "--model poly-wavenet --bars 2 --variations 1 --rng-seed 5", MELODY),
    "poly-lstm harmonises": ("harmonise", "--model poly-lstm --variations 2 --rng-seed 7", MELODY),
    "poly-wavenet harmonises": ("harmonise", "--model poly-wavenet --variations 1 --rng-seed 7", MELODY),
    "poly-wavenet harmonises a chorale alone": ("harmonise", "--model poly-wavenet --alone --variations 1 --rng-seed 3", CHORALE),
    "lstm-fill fills": ("fill", "--model lstm-fill --from 2 --to 3 --variations 2 --rng-seed 7", MELODY),
    "wavenet-fill fills": ("fill", "--model wavenet-fill --from 2 --to 3 --variations 2 --rng-seed 7", MELODY),
    "transformer-fill fills": ("fill", "--model transformer-fill --from 2 --to 3 --variations 2 --rng-seed 7", MELODY),
    "poly-lstm fills parts": ("fill", "--model poly-lstm --from 3 --to 4 --variations 1 --rng-seed 7", CHORALE),
    "poly-wavenet fills parts": ("fill", "--model poly-wavenet --from 3 --to 4 --variations 2 --rng-seed 7", CHORALE),
    "lstm scores": ("score", "--model lstm", MELODY),
    "wavenet scores": ("score", "--model wavenet", MELODY),
    "duet scores": ("score", "--model duet", MELODY),
    "duet scores a chorale": ("score", "--model duet", CHORALE),
    "lstm scores in a style": ("score", "--model lstm --style STYLE", MELODY),
    "lstm scores bars": ("score", "--model lstm --fill 2:3", MELODY),
    "lstm-fill scores": ("score", "--model lstm-fill", MELODY),
    "lstm-fill scores a gap": ("score", "--model lstm-fill --fill 2:3", MELODY),
    "wavenet-fill scores a gap": ("score", "--model wavenet-fill --fill 2:3", MELODY),
    "poly-lstm scores": ("score", "--model poly-lstm", CHORALE),
    "poly-wavenet scores": ("score", "--model poly-wavenet", CHORALE),
    "poly-wavenet scores a gap": ("score", "--model poly-wavenet --fill 3:4", CHORALE),
}

# name -> sha256 of each output file (generate, harmonise, fill)
HASHES = {
    'lstm continues': ['cf8750ad8d100ba651927f1968c0b60348f81712b37846935e3d410ff34cb8e6', '13412eab2ce176fe9b57e913ee785117a4cf8f665ca3cd1457e476cb62ffa62d'],
    'wavenet continues': ['9d632bbf153c4ae91ce65ff3cd5ef052badaa8bacd03c41833eb3822c08da791', '8521580459e352f7772e92dee866b872932b43ffc8f53ccf12ce79966fbf47ae'],
    'duet continues': ['cf8750ad8d100ba651927f1968c0b60348f81712b37846935e3d410ff34cb8e6', '85f8cdf4bf7fd0dfec11d70b20a91a1c3ac8e95876a7f6468bce9b63583e371c'],
    'duet continues in key and range': ['7c661ae88d4e4154ce914f915a46b3c44a29ee490f1f2788f0c99a405030043b'],
    'lstm continues in a style': ['cf8750ad8d100ba651927f1968c0b60348f81712b37846935e3d410ff34cb8e6', '85f8cdf4bf7fd0dfec11d70b20a91a1c3ac8e95876a7f6468bce9b63583e371c'],
    'poly-lstm continues parts': ['2627869aef44d366e8cea334ed8e8ec274c1dfa93b9009fdf1c0767fd71db3db', 'c4e19b0881bd86b626b442598294b07996dba630448482d73f3d515c84dbb9cc'],
    'poly-wavenet continues parts': ['d980dc90959da204c7c82fa0310999236a79c39ebcd4b7c886e5273289fc3edc', '19879dec8a987a88dee0434263224d63d92db890638d1e0ba5c3ff8c2934bf53'],
    'poly-wavenet continues a melody': ['301b6a0336c3e84a247f0f67d3ab79a674ee94fe78f8f701dab7d478900e5383'],
    'poly-lstm harmonises': ['ef3c97f18285a4fd0552266dd1a9b2371204539bd7be44913452d1849e3a35d4', '48be19fb27cfe8a4f7d7597b0f051313f9169d3db0d21c31800c9d378cb9e742'],
    'poly-wavenet harmonises': ['a6c1e292f73f2780af117e86489f3b3259c269248a7aaf3670b13e434360758a'],
    'poly-wavenet harmonises a chorale alone': ['6f6d2200bb0260c139b3012c680d5941891e93610e889ebed8d11d6042885e37'],
    'lstm-fill fills': ['fd16ba23d129bb32d0fd5bd5d6e7b52c1a4e94a51941963646cc84a22802b7dd', 'e542651fd7c88fd8cc9464410a5aa72107248b946b3caf3453856018a66259c8'],  # issue 27: the phrase copy (engine/generation/phrase.py)
    'wavenet-fill fills': ['7e5e85f3584c4c2ed6fd051cd80a09a1174391400a972dd1d89709189094ffe8', 'ba167686a962d1bef60c6bfd903996dd5656f5b17a674f13d4206fabac42a4ca'],  # issue 27: the phrase copy (engine/generation/phrase.py)
    'transformer-fill fills': ['31169a5105cf692589040197802e4c29277c721247cc2a734f47cea47d02359d', '917b9eb9e7c19bfbcd13217ee5c15f1b87c3372cd90d343131304c0523aefbbd'],  # issue 27: the phrase copy (engine/generation/phrase.py)
    'poly-lstm fills parts': ['56ddf1346604554782de1c0020994f8c2df9ca519ea782d8e78558456d0cb035'],
    'poly-wavenet fills parts': ['6f0f37e37123bd20c02b9a7bf0211b782fa1706e4c8513ac6b29b55603d39392', '93a2709d78430d2062d59241f712815076833cc401695a33e89c27e09e32673e'],
}


def _outputs(command: str, options: str, source: Path, work: Path) -> list[bytes]:
    style = work / "style"
    if not style.exists():
        style.mkdir()
        import music21

        shutil.copy(Path(music21.__file__).parent / "corpus" / "essenFolksong" / "erk5.abc", style)
    opts = options.replace("STYLE", str(style)).split()
    source = source.relative_to(ROOT)  # score prints the path it was given
    out = work / "out.mid"
    if command == "score":
        args = ["score", *opts, str(source)]
    elif command == "harmonise":
        args = ["harmonise", *opts, str(source), "-o", str(out)]
    else:
        args = [command, *opts, "--seed", str(source), "-o", str(out)]
    # the style is saved in a home of this case's own, not the session's, where the
    # GUI's tests would list it
    home = {**os.environ, "XDG_DATA_HOME": str(work / "data"),
            "XDG_CONFIG_HOME": str(work / "config")}
    # a style is built on first use and loaded from its saved file after; the recorded
    # bytes are the saved style's (the first use differed in the fifth decimal of the bits)
    for _ in range(2 if "--style" in opts else 1):
        proc = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT,
                              capture_output=True, timeout=600, env=home)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    if command == "score":
        if "--style" in opts:  # where the style folder and its saved file lie is this run's
            text = proc.stdout.decode()
            text = text.replace(str(style), "STYLE")
            text = re.sub(r'"saved": "[^"]*"', '"saved": "SAVED"', text)
            return [text.encode()]
        return [proc.stdout]
    k = int(opts[opts.index("--variations") + 1])
    paths = [out] if k == 1 else [out.with_name(f"out-{i + 1}.mid") for i in range(k)]
    data = [p.read_bytes() for p in paths]
    for p in paths:
        p.unlink()
    return data


def hashes(name: str, work: Path) -> list[str]:
    command, options, source = COMMANDS[name]
    return [hashlib.sha256(b).hexdigest() for b in _outputs(command, options, source, work)]


def score_report(name: str, work: Path) -> dict:
    command, options, source = COMMANDS[name]
    return json.loads(_outputs(command, options, source, work)[0])


def _same(got, want, where: str = "") -> None:
    """``got`` is ``want``: the same keys, strings and whole numbers, and every float
    within a millionth of it (relative)."""
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-9), where
    elif isinstance(want, dict):
        assert sorted(got) == sorted(want), where
        for key in want:
            _same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            _same(g, w, f"{where}[{i}]")
    else:
        assert got == want, where


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_job_writes_the_recorded_bytes_with_the_memory_on(tmp_path, name):
    if COMMANDS[name][0] == "score":
        _same(score_report(name, tmp_path), json.loads(SCORES.read_text())[name], name)
    else:
        assert hashes(name, tmp_path) == HASHES[name]


if __name__ == "__main__":  # prints the table to paste above, and writes SCORES
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        reports = {}
        for case in COMMANDS:
            if COMMANDS[case][0] == "score":
                reports[case] = score_report(case, Path(folder))
            else:
                print(f"    {case!r}: {hashes(case, Path(folder))!r},")
        SCORES.write_text(json.dumps(reports, indent=1) + "\n")

