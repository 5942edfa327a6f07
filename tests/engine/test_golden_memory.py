"""Byte-for-byte guard for the generation-core refactor (issue 22): what every shipped model
writes through the CLI as users get it, motif memory on, for every job: melody and
polyphonic continuation, a style, harmonise, melody and polyphonic fill, and ``score`` with
and without ``--fill``.  Recorded before the refactor began, in a commit of its own; a change
that is meant to change what a model plays updates this table in its own commit and says why.

``python tests/engine/test_golden_memory.py`` prints the table to paste below."""

from __future__ import annotations

import hashlib
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

# name -> sha256 of each output file (generate, harmonise, fill) or of standard output (score)
HASHES = {
    'lstm continues': ['cf8750ad8d100ba651927f1968c0b60348f81712b37846935e3d410ff34cb8e6', '13412eab2ce176fe9b57e913ee785117a4cf8f665ca3cd1457e476cb62ffa62d'],
    'wavenet continues': ['9d632bbf153c4ae91ce65ff3cd5ef052badaa8bacd03c41833eb3822c08da791', '8521580459e352f7772e92dee866b872932b43ffc8f53ccf12ce79966fbf47ae'],
    'duet continues': ['cf8750ad8d100ba651927f1968c0b60348f81712b37846935e3d410ff34cb8e6', '85f8cdf4bf7fd0dfec11d70b20a91a1c3ac8e95876a7f6468bce9b63583e371c'],
    'duet continues in key and range': ['7c661ae88d4e4154ce914f915a46b3c44a29ee490f1f2788f0c99a405030043b'],
    'lstm continues in a style': ['cf8750ad8d100ba651927f1968c0b60348f81712b37846935e3d410ff34cb8e6', '85f8cdf4bf7fd0dfec11d70b20a91a1c3ac8e95876a7f6468bce9b63583e371c'],
    'poly-lstm continues parts': ['aecb6e96acd9aed3c38f9b99d46e13cfee5fadbe6bf96ea52aa54cfda4dee263', 'e0938db4ffc18b1988c8447b7f927c730c4340e133f33074c29b76ff251cb966'],
    'poly-wavenet continues parts': ['6487519bca34cee6ac8146d6a8ec608a3321cf80132b19cd595221fb0c2c7ccf', '19879dec8a987a88dee0434263224d63d92db890638d1e0ba5c3ff8c2934bf53'],
    'poly-wavenet continues a melody': ['9a4af4b0f50443083f78d970752bc0c4882c341f35c3743a6238ec9137bc1e08'],
    'poly-lstm harmonises': ['f1da014ba23319acc2de3efd65182d6d8ebba300f617bab43f07314b666fe94f', '3076d6f3076b1112ce9ee682ba6ed2a7a1ca0605c60e2d2a03f225da2fc026f8'],
    'poly-wavenet harmonises': ['da4a37f9289bea6033815684645742996a951bef4952ee463f363149216f0eec'],
    'poly-wavenet harmonises a chorale alone': ['d3a90b87f541e80d075cad8f910eb67a3c3ec96c2f93b721bba944eb42ad089f'],
    'lstm-fill fills': ['9f6077f4839fb85c013eb7977e2e993ef6a32faf26c9bfd3cdf4a0812ce8a972', '0b0da8f8890391987e3c9d4fde56442162802de26a86a0e8dae47d44d3a91b25'],
    'wavenet-fill fills': ['8a943cfdfefd836978d37d4a4bf8852e757c526184186681cf8c182d84b414a8', 'bd9a74893dadb569f36ea6fc8e59b2a43f00e790af8f9d037259547639d47656'],
    'poly-lstm fills parts': ['acb8fe8ef61e91af631e3740c124c1ba117b0985f0b522523caf50c1ea9b5f65'],
    'poly-wavenet fills parts': ['37bbaba629c95635ceae79fce005e36a79949ea62126fbcf605c8f4006e1c591', '0989f75a6722871079e5637e27915b2fc8f8a475114cdbb6cea5350f94113761'],
    'lstm scores': ['ddeb2f534f5c2598d9aa071d7f2b3f0c6ae027de0fa703f8d7a53e4e8fe4aa4f'],
    'wavenet scores': ['667c7806aba4b4742425fdf62cdab3c58e239af8ae01562ff5262c281dce08ba'],
    'duet scores': ['5cd0a65724bbb4c3297ae1912906081a3d9c0953e3303dcaf14ca144f3e378b4'],
    'duet scores a chorale': ['4f8631cfa13b099bef3b62ebaf91e1a926a14bbc3e6d81a275dcf50ca28cb55a'],
    'lstm scores in a style': ['69004b34539257389ec87641092999e8eee25c461daaf59acce8169641c5c119'],
    'lstm scores bars': ['55037c75e9e68843081be1c4e2907e34747e8ebd7e58e2fe32affc70ab87d70e'],
    'lstm-fill scores': ['4e7dc048f617960e965bbe9ba26bf4da777b98d804a51075ab94c374e042e973'],
    'lstm-fill scores a gap': ['2f1c006197a5dbe5385e7fd314cc8540ee6f54f838014595c25d3d87527fc204'],
    'wavenet-fill scores a gap': ['5d7eed76cdc7666c33b4cc9337660ae466902fbf559cb30dd03e0b7e07d1a41c'],
    'poly-lstm scores': ['f5c7c79ff6cba6392e94548801080a0d291c102a389febefd91270b9c8836e3d'],
    'poly-wavenet scores': ['71683fe32d0f1d2e327c5ce0d6101909a5717aa4a13f6864cf1358b34473f6f4'],
    'poly-wavenet scores a gap': ['7fa89711e6e4562b443e645a3760e63fdfbbf3104f00065e19959f624a749c28'],
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


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_job_writes_the_recorded_bytes_with_the_memory_on(tmp_path, name):
    assert hashes(name, tmp_path) == HASHES[name]


if __name__ == "__main__":  # prints the table to paste above
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for case in COMMANDS:
            print(f"    {case!r}: {hashes(case, Path(folder))!r},")

