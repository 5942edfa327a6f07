"""Byte-for-byte guard for refactors: the MIDI that each shipped model generates through
the CLI for a few seeds and settings, and the bits it gives a file when scoring, were
recorded (sha256 and figures) before the model layer was reorganised; the same commands
must keep giving the same bytes.  A change that is meant to change what a model plays
(new weights, a new sampler) updates this table in the same commit and says why.
Every command runs with ``--memory off``: the motif memory (on by default) is a new
way of playing; without it the network alone plays exactly as it did."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED = Path(__file__).parent / "data" / "golden_seed.mid"  # a copy of the first default seed

# (model, extra options) -> sha256 of OUT-1.mid .. OUT-k.mid, recorded at a03943c
CASES = {
    ('lstm', '--bars 4 --variations 2 --rng-seed 7 --temperature 0.9'): ['7a7f36b60c4424ba8b1f99ef98de77ba4e9c88593ceefeb957a63ff034d72ef0', '378a0097f56e78fff3aff67094e6b1428406b049529121facc83011c127f6f46'],
    ('wavenet', '--bars 4 --variations 2 --rng-seed 7 --temperature 0.9'): ['0ee89140851b2d50f1b7cb316d0f02285a44290ca4113908aa5b2fd607d9f25a', 'e20622834d022b7eb19cdcb5138a41776b33483c68ed8552db228777aeb18a6a'],
    ('duet', '--bars 4 --variations 2 --rng-seed 7 --temperature 0.9'): ['4169fe843b37506397f9d21a14ceaa9db36930b0d6c5eacaac8cf7c271eb9a72', '2e93be6e10be5ec81ffabf0f3c61bd4d60d9a251a19b1e7b331c8386d01e1541'],
    ('lstm', '--bars 2 --variations 1 --rng-seed 3 --key none --top-p 0.8'): ['386d6a25beb6ba9da7504e2a22a30e909b9969c174cd4398356ec2868c60b8e7'],
    ('wavenet', '--bars 2 --variations 1 --rng-seed 3 --key Am --temperature 0'): ['21d000554cc4f6c1f0d586ab8207521ad7a823ceb4f7ef58f3461e3c2a41cd32'],
    ('duet', '--bars 3 --variations 3 --rng-seed 11 --key D --min-pitch 60 --max-pitch 79'): ['93cee2d21c50cfa1c205ada3272eed19cd6ea47a42ba87d50cd70ac163d15e5c', 'a8b15e4974a03158f28c3bb49887aaa08025912ce957e79d8e5335141b72d695', '3fb291dcc3dd69c59f5c141ce7f1e0b643734ffaaa043e5a543dad2632f464ee'],
    ('lstm', '--no-seed --bars 2 --variations 2 --rng-seed 5 --key Em'): ['0b61876974532e6ffd8a93374444027e7a4c96ca03f792f9447bf6867628eedf', '94598c22e6ebb327fb7b7169b66b45502088f00f8f68924aca2254a68b4c00af'],
}


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def generate_hashes(model: str, options: str, out_dir: Path) -> list[str]:
    opts = options.split()
    seed = [] if "--no-seed" in opts else ["--seed", str(SEED)]
    opts = [o for o in opts if o != "--no-seed"]
    out = out_dir / f"{model}.mid"
    proc = _run(["generate", "--model", model, "--memory", "off", *seed, *opts,
                 "-o", str(out)])
    assert proc.returncode == 0, proc.stderr
    k = int(opts[opts.index("--variations") + 1])
    paths = [out] if k == 1 else [out.with_name(f"{out.stem}-{i + 1}.mid") for i in range(k)]
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


@pytest.mark.slow
@pytest.mark.parametrize("model,options", list(CASES))
def test_generated_midi_is_byte_identical_to_the_recorded_bytes(tmp_path, model, options):
    expected = CASES[(model, options)]
    assert generate_hashes(model, options, tmp_path) == expected


# bits of the golden seed under each model through `main.py score`, recorded at a03943c
SCORES = {
    'lstm': (85.39117158540019, 21),
    'wavenet': (83.97559396578114, 21),
    'duet': (83.20983962852053, 21),
}


@pytest.mark.parametrize("model", list(SCORES))
def test_score_gives_the_recorded_bits(model):
    proc = _run(["score", "--model", model, "--memory", "off", str(SEED)])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["notes"] == SCORES[model][1]
    assert report["total_bits"] == pytest.approx(SCORES[model][0], abs=1e-6)


if __name__ == "__main__":  # prints the table to paste above
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for (model, options) in CASES:
            print(f"    ({model!r}, {options!r}): {generate_hashes(model, options, Path(d))},")
    for model in SCORES:
        r = json.loads(_run(["score", "--model", model, "--memory", "off", str(SEED)]).stdout)
        print(f"    {model!r}: ({r['total_bits']!r}, {r['notes']}),")
