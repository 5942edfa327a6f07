"""A new encoding and a new architecture are one new file each.

In a copy of the code (engine/, training/, main.py; no models), the test writes a toy
encoding (``toy-8th``: the melody on an eighth-note grid, under its own name) as
``engine/encodings/toy.py`` and a toy architecture (``toy``: embedding, one causal
convolution over the last three tokens, logits; stepped with two queue states) as
``training/architectures/toy.py``, and changes nothing else.  Then, in subprocesses in
that copy, it builds a corpus of a few MIDI tunes with the toy encoding, trains and
exports a tiny toy model on it, re-exports it from its Keras weights, and generates with
it through ``main.py generate`` and through ``engine.generation.generator.generate``:
every new note must sit on the eighth-note grid.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

TOY_ENCODING = '''\
"""toy-8th: the melody encoding on an eighth-note grid, under its own name."""

from engine.encodings.base import register
from engine.encodings.melody import MelodyEncoding


@register
class EighthNoteMelody(MelodyEncoding):
    name, version = "toy-8th", 1

    def __init__(self, min_pitch: int = 48, max_pitch: int = 83,
                 steps_per_quarter: int = 2) -> None:
        super().__init__(min_pitch, max_pitch, steps_per_quarter)
'''

TOY_ARCHITECTURE = '''\
"""toy: embedding, one causal convolution over the last three tokens (relu), logits.

Its step model keeps the embeddings of the two tokens before the newest as two queue
states (delays 1 and 2); the convolution is one product over [t - 2, t - 1, t].
"""

from engine.models import StateSpec
from training.architectures.base import Architecture, register, sequence_tails

KERNEL = 3


@register
class Toy(Architecture):
    name = "toy"
    description = "Toy: hears the last three steps only."
    defaults = {"embed_dim": 8, "channels": 16}

    def receptive_field(self, hp):
        return KERNEL

    def build(self, hp):
        import keras
        from keras import layers

        vocab = int(hp["vocab_size"])
        tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
        x = layers.Embedding(vocab, int(hp["embed_dim"]), name="embedding")(tokens)
        x = layers.Conv1D(int(hp["channels"]), KERNEL, padding="causal", activation="relu",
                          name="conv")(x)
        return keras.Model(tokens, layers.Dense(vocab, name="logits")(x), name="toy")

    def state_specs(self, hp):
        return [StateSpec(f"past_{d}", f"present_{d}", (int(hp["embed_dim"]),), d)
                for d in range(1, KERNEL)]

    def step(self, model, hp):
        import numpy as np
        import tensorflow as tf

        table = np.asarray(model.get_layer("embedding").embeddings)
        conv = model.get_layer("conv")
        kernel = np.asarray(conv.kernel).reshape(-1, int(hp["channels"]))  # taps t-2, t-1, t
        bias = np.asarray(conv.bias)
        out = model.get_layer("logits")
        w, b = np.asarray(out.kernel), np.asarray(out.bias)

        def step(token, past_1, past_2):
            e = tf.gather(tf.constant(table), token)
            h = tf.nn.relu(tf.matmul(tf.concat([past_2, past_1, e], axis=-1),
                                     tf.constant(kernel)) + tf.constant(bias))
            return tf.matmul(h, tf.constant(w)) + tf.constant(b), e, e

        return step

    def sequence(self, model, hp):
        import keras

        full = keras.Model(model.inputs, [model.outputs[0],
                                          model.get_layer("embedding").output])
        specs = self.state_specs(hp)

        def run(tokens):
            logits, embedded = full(tokens, training=False)
            return (logits, *sequence_tails(specs, [embedded] * len(specs)))

        return run
'''

GENERATE = textwrap.dedent('''\
    import json, sys
    from engine.formats import midi_file_to_song
    from engine.generation.generator import GenerationSettings, generate
    from engine.models import ModelLibrary

    library = ModelLibrary([sys.argv[1]])
    model = library.get("toy")
    seed = midi_file_to_song(sys.argv[2])
    result = generate(library, seed, GenerationSettings(model="toy", bars=4, variations=2,
                                                        rng_seed=3))
    print(json.dumps({"architecture": model.info.architecture,
                      "encoding": model.info.encoding.name,
                      "steps_per_quarter": model.info.encoding.steps_per_quarter,
                      "ppq": seed.ppq,
                      "notes": [[[n.start_tick, n.duration_ticks] for n in v]
                                for v in result.variations]}))
''')


def _tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts}


def _write_eighth_note_tunes(folder: Path, n: int = 14) -> list[str]:
    """Random scale-wise melodies on the eighth-note grid, named so that the split has
    a test and a validation tune."""
    from engine.formats import song_to_midi_file
    from engine.song import Note, melody_song
    from training.datasets.splits import split_of

    rng = np.random.default_rng(8)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    names, k = [], 0
    while len(names) < n or not {"test", "validation"} <= {split_of(x) for x in names}:
        name = f"tune{k:03d}.mid"
        k += 1
        if len(names) >= n and split_of(name) == "train":
            continue
        notes, t = [], 0
        for _ in range(20):
            length = int(rng.choice([1, 1, 2, 4]))  # eighths
            notes.append(Note(int(rng.choice(scale)), t * 240, length * 240))
            t += length
        song_to_midi_file(melody_song(notes), folder / name)
        names.append(name)
    return names


def _run(args: list[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(cwd), PYTHONDONTWRITEBYTECODE="1", TF_CPP_MIN_LOG_LEVEL="2",
               CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _on_eighths(notes, ppq: int) -> bool:
    eighth = ppq // 2
    return all(start % eighth == 0 and duration % eighth == 0 for start, duration in notes)


def test_a_toy_encoding_and_architecture_are_one_file_each(tmp_path):
    repo = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "cache", "checkpoints", "runs")
    for folder in ("engine", "training"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=ignore)
    shutil.copy(ROOT / "main.py", repo / "main.py")
    before = _tree_digest(repo)
    (repo / "engine" / "encodings" / "toy.py").write_text(TOY_ENCODING)
    (repo / "training" / "architectures" / "toy.py").write_text(TOY_ARCHITECTURE)
    after = _tree_digest(repo)
    assert set(after) - set(before) == {"engine/encodings/toy.py",
                                        "training/architectures/toy.py"}
    assert {k: after[k] for k in before} == before  # no other file changed

    midi = tmp_path / "tunes"
    midi.mkdir()
    names = _write_eighth_note_tunes(midi)
    cache, models = tmp_path / "cache", tmp_path / "models"

    _run(["-m", "training", "corpus", "--midi-dir", str(midi), "--encoding", "toy-8th",
          "--cache-dir", str(cache), "--processes", "1"], repo)
    _run(["-m", "training", "train", "--model", "toy", "--encoding", "toy-8th",
          "--set", "channels=12", "--corpus", "midi:tunes", "--epochs", "2",
          "--batch-size", "4", "--cache-dir", str(cache), "--out-dir", str(models),
          "--checkpoint-dir", str(tmp_path / "ckpt"), "--no-eval"], repo)
    card = json.loads((models / "toy.json").read_text())
    assert card["architecture"] == "toy" and card["encoding"]["name"] == "toy-8th"
    assert card["encoding"]["steps_per_quarter"] == 2
    assert card["hyperparameters"] == {"architecture": "toy", "vocab_size": 38,
                                       "embed_dim": 8, "channels": 12}
    assert card["receptive_field_steps"] == 3
    assert [s["delay"] for s in card["step_model"]["states"]] == [1, 2]
    assert card["data"]["tunes"]["train"] + card["data"]["tunes"]["validation"] \
        + card["data"]["tunes"]["test"] == len(names)

    # re-export from the Keras weights: the same card, graphs that compute the same
    import onnxruntime as ort

    from training.export import step_onnx

    tokens = np.random.default_rng(2).integers(0, 38, (2, 30)).astype(np.int32)
    before_logits = step_onnx(ort.InferenceSession(str(models / "toy.onnx")), card, tokens)
    _run(["-m", "training", "export", "--card", str(models / "toy.json")], repo)
    again = json.loads((models / "toy.json").read_text())
    assert {k: v for k, v in again.items() if k != "sha256"} == \
        {k: v for k, v in card.items() if k != "sha256"}
    after_logits = step_onnx(ort.InferenceSession(str(models / "toy.onnx")), again, tokens)
    assert np.abs(after_logits - before_logits).max() <= 1e-6

    out = tmp_path / "out.mid"
    said = _run(["main.py", "generate", "--models-dir", str(models), "--model", "toy",
                 "--seed", str(midi / names[0]), "--bars", "4", "--rng-seed", "1",
                 "--continuation-only", "-o", str(out)], repo)
    assert "model toy" in said
    from engine.formats import midi_file_to_song

    written = midi_file_to_song(out)
    new = [(n.start_tick, n.duration_ticks) for n in written.notes()]
    assert new and _on_eighths(new, written.ppq)

    got = json.loads(_run(["-c", GENERATE, str(models), str(midi / names[0])], repo))
    assert got["architecture"] == "toy" and got["encoding"] == "toy-8th"
    assert got["steps_per_quarter"] == 2
    assert all(v and _on_eighths(v, got["ppq"]) for v in got["notes"])
