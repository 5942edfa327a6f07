"""The Transformer (training/architectures/transformer.py): trained a little on a toy
corpus, exported, and run in onnxruntime through the engine's StepModel.

The toy tunes are a random bar (16 steps of the melody encoding) played five times.
The window is shorter
than the tunes, so the key/value cache fills, shifts and drops its oldest slots while
the tests step.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.encodings import DEFAULT_ENCODING
from engine.encodings.melody import HOLD, NOTE_OFF
from engine.models.card import read_card
from engine.models.step_model import StepModel

TOL = 1e-4
BAR = 16
WINDOW = 24  # shorter than a tune: the cache rolls
REPEATS = 5  # tunes of 81 tokens, more than three windows
SIZES = {"d_model": 32, "layers": 2, "heads": 4, "ff": 64, "window": WINDOW, "dropout": 0.0}
RECEPTIVE_FIELD = SIZES["layers"] * (WINDOW - 1) + 1  # 47 steps


def _toy_tunes(n: int, seed: int) -> list[np.ndarray]:
    """``n`` tunes of one random bar five times: NOTE_ONs of C major, HOLDs, NOTE_OFFs."""
    rng = np.random.default_rng(seed)
    enc = DEFAULT_ENCODING
    pitches = [p for p in range(60, 73) if p % 12 in (0, 2, 4, 5, 7, 9, 11)]
    tunes = []
    for _ in range(n):
        bar = []
        while len(bar) < BAR:
            length = int(rng.choice([1, 2, 2, 4]))
            bar += [enc.note_on(int(rng.choice(pitches)))] + [HOLD] * (length - 1)
        tunes.append(np.array(bar[:BAR] * REPEATS + [NOTE_OFF], np.int32))
    return tunes


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(models folder, Keras model, validation tunes, training history) after a few
    epochs on the toy corpus, exported as ``python -m training train`` exports."""
    import keras

    from training.export import export_model
    from training.models import default_hyperparameters
    from training.train import train_model

    keras.utils.set_random_seed(5)
    hp = default_hyperparameters("transformer") | SIZES
    train, val = _toy_tunes(64, 1), _toy_tunes(16, 2)
    result = train_model(hp, train, val, epochs=3, batch_size=16, max_len=128,
                         learning_rate=3e-3, patience=3, verbose=0)
    out = tmp_path_factory.mktemp("transformer")
    export_model(result.model, hp, out, "transformer", save_keras_weights=True,
                 description="toy transformer for tests")
    return out, result.model, val, result.history


def test_registered_with_its_window_as_receptive_field():
    from training.architectures import get, names

    assert "transformer" in names(trainable=True)
    arch = get("transformer")
    hp = arch.hyperparameters(38, window=64)
    assert arch.receptive_field(hp) == hp["layers"] * 63 + 1  # each layer 63 steps further
    assert arch.parse_size("window", "128") == 128  # --set window=128
    specs = arch.state_specs(hp)
    assert [s.input for s in specs] == ["filled"] + [
        f"{kv}_{i}" for i in range(hp["layers"]) for kv in "kv"]
    assert all(s.delay == 1 for s in specs)
    head_dim = hp["d_model"] // hp["heads"]
    assert specs[0].shape == (64,) and specs[1].shape == (hp["heads"], 64, head_dim)


def test_the_card_declares_the_cache_and_the_engine_accepts_it(trained):
    out = trained[0]
    card = json.loads((out / "transformer.json").read_text())
    assert card["architecture"] == "transformer"
    assert card["receptive_field_steps"] == RECEPTIVE_FIELD
    states = card["step_model"]["states"]
    assert states[0] == {"input": "filled", "output": "filled_out", "shape": [WINDOW],
                         "delay": 1}
    assert {tuple(s["shape"]) for s in states[1:]} == {(4, WINDOW, 8)}
    info = read_card(out / "transformer.json")  # checks both graphs against the card
    assert len(info.states) == 1 + 2 * SIZES["layers"]


def test_stepping_the_onnx_step_graph_gives_the_sequence_graphs_logits(trained):
    """Through the engine's StepModel (bound state rings, one call a token), over
    tokens three windows long, both graphs and Keras agree within 1e-4."""
    out, keras_model, val, _ = trained
    model = StepModel(read_card(out / "transformer.json"))
    tokens = np.stack([val[0][:72], val[1][:72]]).astype(np.int32)
    state = model.initial_state(2)
    stepped = np.stack([model.step(tokens[:, t], state) for t in range(tokens.shape[1])], 1)
    model.release(state)
    whole = model.sequence_logits(tokens)
    reference = np.asarray(keras_model(tokens, training=False))
    assert stepped.shape == whole.shape == (2, 72, DEFAULT_ENCODING.vocab_size)
    assert np.abs(stepped - whole).max() <= TOL
    assert np.abs(whole - reference).max() <= TOL
    # the card's receptive field is the model's: the logits after step t do not change
    # with the tokens before t - RECEPTIVE_FIELD + 1, and do with the one just inside
    changed = tokens.copy()
    changed[:, 10] = (changed[:, 10] + 1) % DEFAULT_ENCODING.vocab_size
    again = model.sequence_logits(changed)
    edge = 10 + RECEPTIVE_FIELD
    assert np.abs(again[:, edge:] - whole[:, edge:]).max() <= TOL
    assert np.abs(again[:, edge - 1] - whole[:, edge - 1]).max() > TOL


@pytest.mark.parametrize("length", [5, WINDOW + 13])
def test_priming_from_the_sequence_graph_leaves_the_stepped_cache(trained, length):
    """The sequence graph's tails (one call) and the step graph token by token leave the
    same cache, before and after it fills, and the steps after agree."""
    out, _, val, _ = trained
    model = StepModel(read_card(out / "transformer.json"))
    seed, more = val[3][:length], val[3][length:length + 8]
    fast_logits, fast = model.prime(seed, batch=2)
    slow_logits, slow = model.prime(seed, batch=2, stepwise=True)
    assert fast.t == slow.t == length
    assert np.abs(fast_logits - slow_logits).max() <= TOL
    for token in more:
        feed = np.full(2, token, np.int32)
        assert np.abs(model.step(feed, fast) - model.step(feed, slow)).max() <= TOL


def test_training_lowers_the_validation_loss(trained):
    """Three epochs of real Keras training (Adam through the windowed attention and
    the relative biases): the validation loss falls, and the biases moved off their
    ALiBi start."""
    out, keras_model, _, history = trained
    losses = history["val_loss"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    from training.architectures.transformer import alibi_slopes

    start = -alibi_slopes(SIZES["heads"])[:, None] * np.arange(WINDOW)[None, :]
    moved = np.asarray(keras_model.get_layer("attention_0").relative) - start
    assert np.abs(moved).max() > 1e-3


def test_the_bench_floor_does_the_step_graphs_work(trained):
    """bench/transformer_floor.py's numpy step, the floor bench/generation.py holds the
    step to, gives the ONNX step's logits within 1e-4: token by token over three
    windows (its ring filling, then rolling over the oldest slots), and from the step
    graph's own states read half-filled and full."""
    from bench.transformer_floor import TransformerNumpyStep

    out, keras_model, val, _ = trained
    model = StepModel(read_card(out / "transformer.json"))
    floor = TransformerNumpyStep(keras_model, model.info.card["hyperparameters"])
    tokens = np.stack([val[4][:72], val[5][:72]]).astype(np.int32)
    state, ring = model.initial_state(2), floor.initial(2)
    worst = 0.0
    for t in range(tokens.shape[1]):
        if t in (10, 60):  # the graph's states as the numpy ring: the next steps agree
            graph_states = [b[(state.t - 1) % len(b)].copy() for b in state.buffers]
            assert (graph_states[0][0].sum() == WINDOW) == (t >= WINDOW)
            ring = floor.from_graph_states(graph_states)
        mine, theirs = floor.step(tokens[:, t], ring), model.step(tokens[:, t], state)
        worst = max(worst, float(np.abs(mine - theirs).max()))
    model.release(state)
    assert worst <= TOL
    # an empty ring's first step is the sequence graph's first position
    assert np.abs(floor.step(tokens[:, 0], floor.initial(2))
                  - model.sequence_logits(tokens[:, :1])[:, 0]).max() <= TOL
