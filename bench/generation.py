"""How fast does Continuo continue a seed, against the naive way, the seed notebooks'
way, and the floor of the arithmetic itself?

For each model card (``models/`` by default), 16 bars of sixteenths (256 steps) after
the default seed (assets/default_seed.mid), with 1 and with 4 variations:

* incremental: :func:`engine.generation.generator.generate` as the app calls it (prime the seed
  once, then one step-model call per step for all variations; sampling, key lock and
  decoding included);
* naive: the same generation re-running the sequence model over the window at every
  step (the whole history for an LSTM, the receptive field for a WaveNet);
* notebook: the seed notebooks' way, Keras ``predict`` over the window for each new note
  on the very same weights (``training.models.load_keras_model``); it is slow, so it
  runs ``--keras-steps`` steps and is scaled to 256 (the table says so);
* +memory: the incremental way with the motif memory mixed in (the app's default;
  engine/generation/memory.py), timed interleaved with the network alone;
* floor: one step's arithmetic (embedding, matrix products, gates) in numpy on the same
  weights at the same batch, times 256: no framework, no sampling, no bookkeeping.

An ensemble (the duet) gets both from its members' weights: its floor is both members'
numpy steps, its notebook way both members' ``predict`` per note.

A Transformer (issue 27) gets the same row, from ``models/`` when one is shipped, else
from ``--transformer CARD`` (a candidate's card, e.g. training/runs/candidates/
transformer.json; without either the row is skipped with a line saying so).  Its floor
is bench/transformer_floor.py: the same matrix work for one step, its key/value cache a
ring written in place (that module says why the floor is fair), 256 steps from a ring
holding as many tokens as the seed, so that it attends to as many keys at each step as
the generation does.  Beside the row, its bare step against that floor: 256 calls of
the engine's step at batch 1 and 4 against 256 numpy steps, both on a full window,
taking turns, CPU time (goals: the step at 4 variations, and the whole generation in
CPU time, at most 1x the floor).  ``--only-transformer`` runs that row alone
(bench/results/generation_transformer.json).

Drum models (encoding ``drums-12th``) get the drum table of bench/drum_speed.py: 16
bars of drums (768 steps) after a real groove, 1 and 4 variations, against the numpy
floor of the same matrix work on the weights read out of the ONNX graph (every network
call the job makes: the styles weighed for "auto", the priming, the steps), the fastest
of ``--poly-repeats`` rounds, job and floor in turn; and Add Drums to a 32-bar song.

Polyphonic models (every card whose encoding is polyphonic, ``polyphony-16th``) get a
table of their own: 16 bars (256 steps) after the first 4 bars of a real four-part Bach
chorale (music21's ``bach/bwv66.6.mxl``), every part continued, with 1 and with 4
variations, by :func:`engine.generation.polyphony.generate_polyphony`:

* incremental: as the app calls it (one step-model call per token for the batch);
* naive: ``method="naive"``, the sequence model re-run over the window for every token
  (slow for an LSTM: ``--poly-naive-repeats`` runs, default 1);
* floor: the model's own per-token arithmetic in numpy on its Keras weights, as for
  the melodies, times the number of model calls the incremental run made: a
  polyphonic model is called once per token (the notes of a step and its STEP), not
  once per step, so the calls are the tokens of the longest variation.

Beside it, Regenerate Part of 8 bars (issue 26): the alto of the same chorale's bars
1-8 written anew with every other part kept, 4 variations, against continuing every part
of its first 4 bars by 8 bars; the two taken in turn (``--poly-repeats`` runs each),
median CPU milliseconds and their ratio (goal: at most 1); ``--only-regenerate`` runs
that table alone.

The process is pinned to one core and every library is held to one thread, so the
figures are "on one core".  ``--options`` also times the onnxruntime session options
that engine/models.py chooses against the alternatives.

``--baseline DIR`` times another checkout (an older commit: ``git worktree add
/tmp/base COMMIT``) beside this one in the same run: two worker processes
(bench/generation_worker.py), one importing each checkout's engine, take turns run by
run on the same core, every melody model at 1 and 4 variations with the memory off and
on and every polyphonic model at 1 and 4 variations (``--baseline-only-models NAME
...``: those alone), each checkout on its own model
cards (``--baseline-models DIR`` gives the older one others).  Its table gives both
checkouts' median CPU milliseconds (the steadier figure on a shared machine) and their
ratio, so that a change's speed is stated against the code before it on the same
machine at the same time; ``--only-baseline`` runs that table alone, and with
``--only-polyphonic`` it is the chosen polyphonic models' alone.

    python bench/generation.py [--models-dir DIR] [--repeats N] [--keras-steps N] [--options]
                               [--poly-repeats N] [--poly-naive-repeats N] [--only-regenerate]
                               [--baseline DIR [--baseline-models DIR] [--baseline-repeats N]
                                [--baseline-only-models NAME ...] [--only-baseline]]
                               [--transformer CARD] [--only-transformer]

Prints a table and writes bench/results/generation.json.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.drum_speed import drum_figures, is_drum_card, print_drum_table  # noqa: E402
from bench.transformer_floor import TransformerNumpyStep  # noqa: E402
from bench.common import (POLY_SEED, POLY_SEED_BARS, ROOT, cell, poly_seed,  # noqa: E402
                          print_table)

common.single_threaded("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

from engine.encodings import PARTS, capabilities_of  # noqa: E402
from engine.generation.generator import MAX_PRIME_STEPS, GenerationSettings, generate  # noqa: E402
from engine.formats import midi_file_to_song  # noqa: E402
from engine.models import ModelLibrary, StepModel, session_options  # noqa: E402

STEPS = 256
SEED = ROOT / "assets" / "default_seed.mid"
RESULTS = ROOT / "bench" / "results" / "generation.json"
GOAL_MS = 50.0
GOAL_FLOOR_RATIO = 3.0
GOAL_WAVENET_NAIVE_RATIO = 10.0
GOAL_NOTEBOOK_RATIO = 1000.0
GOAL_MEMORY_RATIO = 1.3  # with the motif memory / the network alone (CPU)
GOAL_POLY_FLOOR_RATIO_1 = 1.5  # a polyphonic model at 1 variation / its floor
GOAL_REGENERATE_RATIO = 1.0  # Regenerate Part of 8 bars / continuing every part by 8
GOAL_BASELINE_RATIO = 1.1  # a melody model's network alone / the baseline checkout's
GOAL_TRANSFORMER_FLOOR_RATIO = 1.0  # the Transformer's step / its numpy floor (issue 27)
WORKER = Path(__file__).resolve().with_name("generation_worker.py")


def timed(fn, repeats: int, clock=time.perf_counter) -> tuple[float, list[float]]:
    """Median milliseconds of ``repeats`` calls (after the caller's warm-up)."""
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append((clock() - t0) * 1e3)
    return statistics.median(times), times


def timed_both(fn, repeats: int) -> tuple[float, float, list[float]]:
    """Median wall-clock and median CPU milliseconds of ``repeats`` calls.  The process
    is pinned to one core and single-threaded, so its CPU time is what the work costs
    that core; on a shared machine the wall clock adds the time others held it."""
    wall, cpu = common.wall_and_cpu_ms(fn, repeats)
    return statistics.median(wall), statistics.median(cpu), wall


# ---------------------------------------------------------------------------------------
# the floor: one step's arithmetic in numpy, on the Keras weights
# ---------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # one ufunc, no overflow warnings


class NumpyStep:
    """A model's step function written out in numpy on its Keras weights."""

    def __init__(self, keras_model, hp: dict) -> None:
        self.arch = hp["architecture"]
        self.hp = hp
        get = keras_model.get_layer

        def w(layer, attr):
            return np.asarray(getattr(layer, attr).numpy(), dtype=np.float32)

        if int(hp.get("embed_dim", 0)) > 0:
            self.table = w(get("embedding"), "embeddings")
        else:
            self.table = None  # one-hot: x @ K is a row of K
        if self.arch in ("lstm", "seed-lstm"):
            self.layers = []
            for i in range(len(hp["units"])):
                cell = get(f"lstm_{i}").cell
                self.layers.append((w(cell, "kernel"), w(cell, "recurrent_kernel"),
                                    w(cell, "bias")))
            self.hidden = None
            if int(hp.get("dense_hidden", 0)) > 0:
                self.hidden = (w(get("hidden"), "kernel"), w(get("hidden"), "bias"))
            self.out = (w(get("logits"), "kernel"), w(get("logits"), "bias"))
        else:
            k = w(get("input_conv"), "kernel")
            self.input_conv = (k[0], k[1], w(get("input_conv"), "bias"))
            self.blocks = []
            n = len(hp["dilations"])
            for i in range(n):
                kd = w(get(f"dilated_{i}"), "kernel")
                skip = (w(get(f"skip_{i}"), "kernel")[0], w(get(f"skip_{i}"), "bias"))
                res = None
                if i < n - 1:
                    res = (w(get(f"residual_{i}"), "kernel")[0], w(get(f"residual_{i}"), "bias"))
                self.blocks.append((kd[0], kd[1], w(get(f"dilated_{i}"), "bias"), skip, res))
            self.post = (w(get("post_1"), "kernel")[0], w(get("post_1"), "bias"))
            self.out = (w(get("logits"), "kernel")[0], w(get("logits"), "bias"))

    def features(self, token: np.ndarray) -> np.ndarray:
        return self.table[token]

    def lstm_step(self, token: np.ndarray, states: list[np.ndarray]):
        new = []
        x = None
        for i, (k, r, b) in enumerate(self.layers):
            h, c = states[2 * i], states[2 * i + 1]
            if x is None:
                z = (self.table[token] @ k if self.table is not None else k[token]) + h @ r + b
            else:
                z = x @ k + h @ r + b
            zi, zf, zc, zo = np.split(z, 4, axis=1)
            c = _sigmoid(zf) * c + _sigmoid(zi) * np.tanh(zc)
            h = _sigmoid(zo) * np.tanh(c)
            new += [h, c]
            x = h
        if self.hidden is not None:
            x = np.maximum(x @ self.hidden[0] + self.hidden[1], 0.0)
        return x @ self.out[0] + self.out[1], new

    def wavenet_step(self, token: np.ndarray, states: list[np.ndarray]):
        res = int(self.hp["residual_channels"])
        e = self.table[token]
        k0, k1, b = self.input_conv
        presents = [e]
        x = states[0] @ k0 + e @ k1 + b
        skip = None
        for i, (kp, kn, bd, (ks, bs), r) in enumerate(self.blocks):
            presents.append(x)
            z = states[i + 1] @ kp + x @ kn + bd
            gated = np.tanh(z[:, :res]) * _sigmoid(z[:, res:])
            s = gated @ ks + bs
            skip = s if skip is None else skip + s
            if r is not None:
                x = x + gated @ r[0] + r[1]
        s = np.maximum(skip, 0.0)
        s = np.maximum(s @ self.post[0] + self.post[1], 0.0)
        return s @ self.out[0] + self.out[1], presents

    def step(self, token, states):
        if self.arch == "wavenet":
            return self.wavenet_step(token, states)
        return self.lstm_step(token, states)


class NumpyEnsembleStep:
    """An ensemble's step in numpy: each member's step, then ``w * a + (1 - w) * b``;
    the states are the members' in the card's order (first member's, then second's)."""

    def __init__(self, members: list[NumpyStep], weights: list[float],
                 state_counts: list[int]) -> None:
        self.members, self.weights, self.counts = members, weights, state_counts

    def step(self, token, states):
        logits, new, at = 0.0, [], 0
        for member, w, n in zip(self.members, self.weights, self.counts):
            out, st = member.step(token, states[at:at + n])
            logits = logits + w * out
            new += st
            at += n
        return logits, new


class KerasEnsemble:
    """What ``predict`` means for an ensemble in the notebooks' loop: every member's
    Keras model on the window, logits combined as the ONNX graph combines them."""

    def __init__(self, models: list, weights: list[float]) -> None:
        self.models, self.weights = models, weights

    def predict(self, x, verbose=0):
        return sum(w * m.predict(x, verbose=verbose) for m, w in zip(self.models, self.weights))


def keras_and_numpy(info, load_keras_model):
    """(Keras model, numpy step) on a card's weights, for an ensemble its members';
    (None, None) when some weights are missing."""
    hp = info.card["hyperparameters"]
    if info.architecture == "transformer":
        if "keras" not in info.card:
            return None, None
        model = load_keras_model(info.card_path)
        return model, TransformerNumpyStep(model, hp)
    if info.architecture != "ensemble":
        if "keras" not in info.card:
            return None, None
        model = load_keras_model(info.card_path)
        return model, NumpyStep(model, hp)
    cards = [info.card_path.parent / f"{m}.json" for m in hp["members"]]
    if not all(c.exists() for c in cards):
        return None, None
    members = [json.loads(c.read_text()) for c in cards]
    if not all("keras" in m and m["architecture"] != "transformer" for m in members):
        return None, None  # (a Transformer member's numpy step keeps its cache its own way)
    models = [load_keras_model(c) for c in cards]
    steps = [NumpyStep(m, card["hyperparameters"]) for m, card in zip(models, members)]
    counts = [len(card["step_model"]["states"]) for card in members]
    return (KerasEnsemble(models, hp["weights"]),
            NumpyEnsembleStep(steps, hp["weights"], counts))


def member_floor_steps(library: ModelLibrary, info, load_keras_model) -> list | None:
    """An ensemble whose numpy step cannot be one (a Transformer member keeps its cache its
    own way): each member's (numpy step, StepModel), whose floors summed are the
    ensemble's (the same matrix work, the members' logits' weighted sum aside); None when
    a member's weights are missing."""
    if info.architecture != "ensemble":
        return None
    out = []
    for name in info.card["hyperparameters"].get("members", ()):
        if name not in library.names:
            return None
        _, step = keras_and_numpy(library.info(name), load_keras_model)
        if step is None:
            return None
        out.append((step, library.get(name)))
    return out


def floor_ms(step: NumpyStep, model: StepModel, batch: int, repeats: int,
             calls: int = STEPS) -> tuple[float, float]:
    """(median ms of ``calls`` numpy steps (256 by default), max |logits -
    onnxruntime's| on one step)."""
    if isinstance(step, TransformerNumpyStep):
        return transformer_floor_ms(step, model, batch, repeats, calls)[:2]
    rng = np.random.default_rng(0)
    states = [rng.standard_normal((batch, *s.shape)).astype(np.float32) * 0.5
              for s in model.info.states]
    token = rng.integers(2, model.encoding.vocab_size, batch).astype(np.int32)
    mine, _ = step.step(token, states)
    feeds = {model.info.token_input: token}
    feeds.update({s.input: a for s, a in zip(model.info.states, states)})
    theirs = model._session().run([model.info.logits_output], feeds)[0]
    diff = float(np.abs(mine - theirs).max())

    def run():
        st = states
        for _ in range(calls):
            _, st = step.step(token, st)

    run()
    ms, _ = timed(run, repeats)
    return ms, diff


def transformer_graph_states(model: StepModel, batch: int,
                             filled: int | None = None) -> tuple[np.ndarray, list]:
    """A token and step-graph states whose last ``filled`` slots hold random keys and
    values (all of the window when None, as every step after the first ``window``
    tokens sees it)."""
    rng = np.random.default_rng(0)
    window = model.info.states[0].shape[0]
    n = window if filled is None else min(filled, window)
    states = [np.zeros((batch, window), np.float32)]
    states[0][:, window - n:] = 1.0
    states += [rng.standard_normal((batch, *s.shape)).astype(np.float32) * 0.5
               for s in model.info.states[1:]]
    return rng.integers(2, model.encoding.vocab_size, batch).astype(np.int32), states


def transformer_floor_ms(step: TransformerNumpyStep, model: StepModel, batch: int,
                         repeats: int, calls: int = STEPS,
                         filled: int | None = None) -> tuple[float, float, float]:
    """:func:`floor_ms` for a Transformer (bench/transformer_floor.py): ``calls`` numpy
    steps, its cache a ring written in place, starting with ``filled`` tokens in it
    (the seed's, so that it attends to as many keys as the generation does at every
    step; a full window when None); the logits checked against onnxruntime's step on
    the same keys and values.  (median wall ms, max |difference|, median CPU ms)."""
    token, states = transformer_graph_states(model, batch, filled)
    mine = step.step(token, step.from_graph_states(states))
    feeds = {model.info.token_input: token}
    feeds.update({s.input: a for s, a in zip(model.info.states, states)})
    theirs = model._session().run([model.info.logits_output], feeds)[0]

    def run():
        ring = step.from_graph_states(states)  # 0.1% of the run: six arrays copied
        for _ in range(calls):
            step.step(token, ring)

    run()
    ms, cpu_ms, _ = timed_both(run, repeats)
    return ms, float(np.abs(mine - theirs).max()), cpu_ms


def transformer_step_figures(step: TransformerNumpyStep, model: StepModel, batch: int,
                             repeats: int) -> dict:
    """The Transformer's step against its floor alone: 256 bare calls of the engine's
    step (``StepModel.step`` on bound states, no sampling) against 256 numpy steps, both
    on a full window, taking turns run by run; median CPU milliseconds (the steadier
    figure on a shared machine) and wall clock."""
    token, _ = transformer_graph_states(model, batch)
    state = model.initial_state(batch)
    for _ in range(model.info.states[0].shape[0]):  # fill the window
        model.step(token, state, copy=False)
    ring = step.initial(batch)
    for _ in range(step.window):
        step.step(token, ring)

    def onnx():
        for _ in range(STEPS):
            model.step(token, state, copy=False)

    def floor():
        for _ in range(STEPS):
            step.step(token, ring)

    both = interleaved_both({"step": onnx, "floor": floor}, repeats)
    model.release(state)
    return {f"step_{batch}_ms": round(both["step"][0], 2),
            f"step_{batch}_cpu_ms": round(both["step"][1], 2),
            f"step_floor_{batch}_ms": round(both["floor"][0], 2),
            f"step_floor_{batch}_cpu_ms": round(both["floor"][1], 2),
            f"step_over_floor_{batch}": round(both["step"][1] / both["floor"][1], 2)}


# ---------------------------------------------------------------------------------------
# the seed notebooks' way
# ---------------------------------------------------------------------------------------


NOTEBOOK_LSTM_WINDOW = 64


def notebook_ms(keras_model, model: StepModel, prime: list[int], variations: int,
                steps: int) -> float:
    """The notebooks' loop: for each variation in turn (they generated one melody at a
    time), Keras ``predict`` over a fixed-length window for every new note, and a draw
    from the softmax of its last position.  The window is the receptive field for a
    WaveNet and 64 steps for an LSTM, left-padded with HOLD while the melody is
    shorter; a fixed length keeps Keras from retracing its graph at every call, which
    would make this path slower still.  ``steps`` steps per variation, in
    milliseconds (not scaled)."""
    window = model.info.receptive_field_steps or NOTEBOOK_LSTM_WINDOW
    rng = np.random.default_rng(0)
    start = np.concatenate([np.zeros(window, np.int32), np.asarray(prime, np.int32)])
    keras_model.predict(start[None, -window:], verbose=0)  # warm-up: traces once
    t0 = time.perf_counter()
    for _ in range(variations):
        history = list(start)
        for _ in range(steps):
            x = np.asarray(history[-window:], dtype=np.int32)[None, :]
            logits = keras_model.predict(x, verbose=0)[0, -1].astype(np.float64)
            p = np.exp(logits - logits.max())
            history.append(int(rng.choice(len(p), p=p / p.sum())))
    return (time.perf_counter() - t0) * 1e3


# ---------------------------------------------------------------------------------------
# session options
# ---------------------------------------------------------------------------------------


OPTION_CHOICES = [
    ("1 thread, sequential, all optimisations (chosen)", dict(threads=1, optimization="all")),
    ("1 thread, sequential, extended", dict(threads=1, optimization="extended")),
    ("1 thread, sequential, basic", dict(threads=1, optimization="basic")),
    ("1 thread, sequential, no optimisation", dict(threads=1, optimization="none")),
    ("1 thread, parallel executor, all", dict(threads=1, optimization="all", sequential=False)),
    ("2 threads, sequential, all", dict(threads=2, optimization="all")),
]


def interleaved_both(fns: dict[str, Callable[[], object]],
                     repeats: int) -> dict[str, tuple[float, float]]:
    """(median wall-clock ms, median CPU ms) of each function, taking turns run by run
    (each run once first, untimed)."""
    for fn in fns.values():
        fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for label, fn in fns.items():
            w, c = common.wall_and_cpu_ms(fn, 1)
            wall[label] += w
            cpu[label] += c
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in fns}


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median ms of each function, timed round-robin so that a busy spell on a shared
    machine falls on all of them alike (each run once first, untimed), to 2 places."""
    return {k: round(v, 2) for k, v in common.interleaved(fns, repeats, warm_up=True).items()}


def options_table(folders, seed, names, repeats: int) -> dict:
    libraries = {label: ModelLibrary(folders, session_opts=session_options(**kw))
                 for label, kw in OPTION_CHOICES}
    out = {}
    for name in names:
        s = GenerationSettings(model=name, steps=STEPS, variations=4)
        out[name] = interleaved({label: (lambda lib=lib: generate(lib, seed, s))
                                 for label, lib in libraries.items()}, repeats)
    return out


def binding_table(library: ModelLibrary, repeats: int) -> dict:
    """256 bare steps at batch 4: the engine's bound states against ``session.run``
    with numpy feeds and a ring of arrays (what the engine did before)."""
    out = {}
    for info in library.models:
        model = library.get(info.name)
        tokens = np.full(4, 5, dtype=np.int32)

        def bound():
            state = model.initial_state(4)
            for _ in range(STEPS):
                model.step(tokens, state)
            model.release(state)

        names = [info.logits_output] + [s.output for s in info.states]
        session = model._session()

        def plain():
            rings = [[np.zeros((4, *s.shape), np.float32)] * s.delay for s in info.states]
            for t in range(STEPS):
                feeds = {info.token_input: tokens}
                for spec, ring in zip(info.states, rings):
                    feeds[spec.input] = ring[t % spec.delay]
                outs = session.run(names, feeds)
                for spec, ring, value in zip(info.states, rings, outs[1:]):
                    ring[t % spec.delay] = value

        out[info.name] = interleaved({"bound states (IOBinding)": bound,
                                      "session.run with numpy feeds": plain}, repeats)
    return out


def priming_table(model: StepModel, prime: list[int], repeats: int) -> dict:
    """Priming 4 variations: one sequence-graph call against one step-model call per
    seed token, for the default seed and for a seed of MAX_PRIME_STEPS steps (the
    default seed repeated; cut to the receptive field for a WaveNet, as the generator
    does)."""
    long = (prime * (MAX_PRIME_STEPS // len(prime) + 1))[:MAX_PRIME_STEPS]
    if model.info.receptive_field_steps is not None:
        long = long[-model.info.receptive_field_steps:]

    def prime_with(tokens, stepwise):
        def run():
            _, state = model.prime(tokens, 4, stepwise=stepwise)
            model.release(state)
        return run

    out = {}
    for label, tokens in ((f"default seed ({len(prime)} steps)", prime),
                          (f"long seed ({len(long)} steps)", long)):
        times = interleaved({"sequence graph": prime_with(tokens, False),
                             "step by step": prime_with(tokens, True)}, repeats)
        times["step by step / sequence graph"] = round(
            times["step by step"] / times["sequence graph"], 1)
        out[label] = times
    return out


# ---------------------------------------------------------------------------------------
# polyphonic models
# ---------------------------------------------------------------------------------------


def is_polyphonic_card(info) -> bool:
    """Whether a card's encoding is polyphonic (several parts at once)."""
    return PARTS in capabilities_of(info)


def poly_model_ms(library: ModelLibrary, info, seed, start_tick: int, args,
                  load_keras_model) -> dict:
    """Incremental, naive and floor for one polyphonic model, 1 and 4 variations."""
    from engine.generation.polyphony import generate_polyphony

    name = info.name
    model = library.get(name)
    r: dict = {"architecture": info.architecture, "card": str(info.card_path),
               "sha256": info.card.get("sha256", {}).get(info.step_path.name),
               "seed_parts": sum(1 for t in seed.tracks if t.notes)}
    step = None
    if load_keras_model is not None:
        _, step = keras_and_numpy(info, load_keras_model)
    members = None if step is not None or load_keras_model is None \
        else member_floor_steps(library, info, load_keras_model)
    if members:
        r["floor_note"] = ("the members' floors summed (each member's numpy step at the same "
                           "batch and calls; floor_vs_onnx_max_abs_diff: the worst member's)")
    for k in (1, 4):
        s = GenerationSettings(model=name, steps=STEPS, variations=k, memory=False)

        def run(method="incremental"):
            return generate_polyphony(library, seed, s, start_tick=start_tick, method=method)

        first = run()  # warm-up: creates the session; the same tokens every run (rng seed 0)
        lengths = [len(row) for row in first.tokens]
        # the batch steps together: one call per token of the longest variation
        calls = max(lengths)
        r[f"tokens_{k}"] = sum(lengths)
        r[f"model_calls_{k}"] = calls
        r[f"new_notes_{k}"] = sum(len(v) for v in first.variations)
        ms, cpu_ms, all_ms = timed_both(run, args.poly_repeats)
        r[f"incremental_{k}_ms"] = round(ms, 2)
        r[f"incremental_{k}_cpu_ms"] = round(cpu_ms, 2)
        r[f"incremental_{k}_runs_ms"] = [round(t, 2) for t in all_ms]
        r[f"incremental_{k}_ms_per_call"] = round(ms / calls, 4)
        if args.poly_naive_repeats > 0:  # 0: the naive way is not run (it is slow)
            ms, _ = timed(lambda: run("naive"), args.poly_naive_repeats)
            r[f"naive_{k}_ms"] = round(ms, 1)
            r[f"naive_over_incremental_{k}"] = round(r[f"naive_{k}_ms"]
                                                     / r[f"incremental_{k}_ms"], 1)
        if step is not None:
            ms, diff = floor_ms(step, model, k, args.poly_repeats, calls=calls)
            r[f"floor_{k}_ms"] = round(ms, 2)
            r["floor_vs_onnx_max_abs_diff"] = diff
            r[f"incremental_over_floor_{k}"] = round(r[f"incremental_{k}_ms"] / ms, 2)
        elif members:
            floors = [floor_ms(st, mm, k, args.poly_repeats, calls=calls) for st, mm in members]
            ms = sum(f[0] for f in floors)
            r[f"floor_{k}_ms"] = round(ms, 2)
            r["floor_vs_onnx_max_abs_diff"] = max(f[1] for f in floors)
            r[f"incremental_over_floor_{k}"] = round(r[f"incremental_{k}_ms"] / ms, 2)
    goals = {}
    if "incremental_over_floor_4" in r:
        goals["incremental_4 <= 3x floor_4"] = r["incremental_over_floor_4"] <= GOAL_FLOOR_RATIO
    if "incremental_over_floor_1" in r:
        goals[f"incremental_1 <= {GOAL_POLY_FLOOR_RATIO_1:g}x floor_1"] = \
            r["incremental_over_floor_1"] <= GOAL_POLY_FLOOR_RATIO_1
    r["goals_met"] = goals
    return r


def regenerate_ms(library: ModelLibrary, name: str, repeats: int) -> dict:
    """Regenerate Part of 8 bars (the alto of :data:`POLY_SEED`'s bars 1-8, every other
    part kept) against continuing every part of its first 4 bars by 8 bars, 4
    variations each, taken in turn (every other run the other first): median CPU ms."""
    from music21 import common as corpus

    from engine.formats.scores import score_file_to_song
    from engine.generation import jobs
    from engine.generation.fill import bar_range_ticks
    from engine.generation.polyphony import generate_polyphony
    from engine.generation.request import REGENERATE, GenerationRequest

    song = score_file_to_song(Path(corpus.getCorpusFilePath()) / POLY_SEED)
    seed, start = poly_seed()
    alto = [i for i, t in enumerate(song.tracks) if t.notes][1]
    request = GenerationRequest(REGENERATE, GenerationSettings(model=name, variations=4,
                                                               memory=False),
                                alto, *bar_range_ticks(song, 1, 8))
    again = GenerationSettings(model=name, bars=8, variations=4, memory=False)
    runs = {"regenerate_8": lambda: jobs.run(library, song, request),
            "continue_8": lambda: generate_polyphony(library, seed, again, start_tick=start)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():  # warm-up
        fn()
    for i in range(repeats):
        for label in (list(runs) if i % 2 == 0 else list(runs)[::-1]):
            times[label] += common.wall_and_cpu_ms(runs[label], 1)[1]
    r = {f"{k}_cpu_ms": round(statistics.median(v), 2) for k, v in times.items()}
    r["regenerate_over_continue_8"] = round(r["regenerate_8_cpu_ms"] /
                                            r["continue_8_cpu_ms"], 3)
    r["goals_met"] = {f"regenerate_8 <= {GOAL_REGENERATE_RATIO:g}x continue_8":
                      r["regenerate_over_continue_8"] <= GOAL_REGENERATE_RATIO}
    return r


def print_regenerate_table(poly: dict) -> None:
    print(f"\nRegenerate Part of 8 bars (the alto of {POLY_SEED}'s bars 1-8, every other part "
          f"kept) against continuing every part of bars 1-4 by 8 bars; 4 variations; "
          f"median CPU ms of {poly['repeats']} runs each, taken in turn")
    print_table([("model", 12), ("regenerate", 11), ("continue", 9), ("ratio", 6)], (
        [name, cell(r, "regenerate_8_cpu_ms", "{:.2f}"), cell(r, "continue_8_cpu_ms", "{:.2f}"),
         cell(r, "regenerate_over_continue_8", "{:.3f}")]
        for name, r in poly["regenerate"].items()))
    print_goals(poly["regenerate"], 12)


POLY_COLUMNS = [("model", 12), ("K", 2), ("tokens", 7), ("calls", 6), ("incremental", 12),
                ("(CPU)", 8), ("ms/call", 8), ("naive", 10), ("floor", 8), ("incr/floor", 11),
                ("naive/incr", 11)]


def print_poly_table(poly: dict) -> None:
    print(f"\npolyphonic: {STEPS} steps (16 bars of 4/4) after the first {POLY_SEED_BARS} bars "
          f"of {POLY_SEED} ({poly['seed_parts']} parts), every part continued; median ms")
    print_table(POLY_COLUMNS, (
        [name, k, cell(r, f"tokens_{k}", "{}"), cell(r, f"model_calls_{k}", "{}"),
         cell(r, f"incremental_{k}_ms", "{:.2f}"), cell(r, f"incremental_{k}_cpu_ms", "{:.2f}"),
         cell(r, f"incremental_{k}_ms_per_call", "{:.3f}"), cell(r, f"naive_{k}_ms"),
         cell(r, f"floor_{k}_ms", "{:.2f}"), cell(r, f"incremental_over_floor_{k}", "{:.2f}"),
         cell(r, f"naive_over_incremental_{k}")]
        for name, r in poly["models"].items() for k in (1, 4)))
    print("tokens: all variations' tokens; calls: model calls (one per token of the longest "
          "variation, the batch steps together); floor: numpy arithmetic per call x calls "
          f"(- without Keras weights); naive: {poly['naive_repeats']} run(s)")
    print_goals(poly["models"], 12)


def print_goals(models: dict, width: int) -> None:
    for name, r in models.items():
        for goal, ok in r["goals_met"].items():
            print(f"{name:>{width}}: {'met   ' if ok else 'NOT MET'} {goal}")


# ---------------------------------------------------------------------------------------
# --baseline: another checkout beside this one
# ---------------------------------------------------------------------------------------


class Worker:
    """bench/generation_worker.py on one checkout's engine and model cards."""

    def __init__(self, checkout: Path, models_dir: Path) -> None:
        self.checkout = checkout
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(checkout), str(models_dir), str(SEED)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(checkout))

    def ask(self, **question) -> dict:
        self.proc.stdin.write(json.dumps(question) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the timing worker on {self.checkout} stopped")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def git_commit(checkout: Path) -> str | None:
    """The checkout's commit, "+changes" when its tracked files differ from it."""
    def git(*a):
        return subprocess.run(["git", "-C", str(checkout), *a], capture_output=True,
                              text=True, check=True).stdout.strip()
    try:
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short", "HEAD") + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def baseline_cases(mine: dict, theirs: dict,
                   only: list[str] | None = None) -> list[tuple[str, int, bool, bool]]:
    """(model, variations, memory, polyphonic) for every model both checkouts have (of
    ``only``, when given)."""
    cases = []
    for poly, kind in ((False, "melody"), (True, "polyphonic")):
        for name in [n for n in mine[kind] if n in theirs[kind] and (not only or n in only)]:
            cases += [(name, k, memory, poly) for k in (1, 4) for memory in (False, True)]
    return cases


def baseline_case(workers: dict[str, Worker], case, repeats: int) -> dict:
    """Both checkouts' medians for one case, taking turns run by run."""
    name, k, memory, poly = case
    ask = dict(op="time", model=name, variations=k, memory=memory, poly=poly)
    cpu: dict[str, list[float]] = {label: [] for label in workers}
    wall: dict[str, list[float]] = {label: [] for label in workers}
    row: dict = {"model": name, "variations": k, "memory": memory, "polyphonic": poly}
    for _ in range(repeats):
        for label, worker in workers.items():
            reply = worker.ask(**ask)
            if "error" in reply:
                row[f"{label}_error"] = reply["error"]
                return row
            cpu[label].append(reply["cpu_ms"])
            wall[label].append(reply["wall_ms"])
    for label in workers:
        row[f"{label}_cpu_ms"] = round(statistics.median(cpu[label]), 2)
        row[f"{label}_min_cpu_ms"] = round(min(cpu[label]), 2)
        row[f"{label}_ms"] = round(statistics.median(wall[label]), 2)
    row["this_over_baseline"] = round(row["this_cpu_ms"] / row["baseline_cpu_ms"], 3)
    row["this_over_baseline_min"] = round(row["this_min_cpu_ms"] / row["baseline_min_cpu_ms"], 3)
    return row


def baseline_goals(rows: list[dict]) -> dict[str, bool]:
    """Within this run: each melody model's network alone against the baseline's, the
    memory against the network alone (this checkout), polyphony at 1 variation."""
    goals = {}
    by = {(r["model"], r["variations"], r["memory"]): r for r in rows if "this_cpu_ms" in r}
    for (name, k, memory), r in by.items():
        if r["polyphonic"]:
            continue
        if not memory:
            goals[f"{name} x{k} network alone <= {GOAL_BASELINE_RATIO:g}x baseline"] = \
                r["this_over_baseline"] <= GOAL_BASELINE_RATIO
        elif (name, k, False) in by:
            ratio = r["this_cpu_ms"] / by[(name, k, False)]["this_cpu_ms"]
            r["memory_over_network"] = round(ratio, 3)
            goals[f"{name} x{k} +memory <= {GOAL_MEMORY_RATIO:g}x network alone"] = \
                ratio <= GOAL_MEMORY_RATIO
    return goals


def baseline_figures(args, models_dir: Path) -> dict:
    """This checkout and ``args.baseline`` timed in turn (see the module)."""
    base = Path(args.baseline).resolve()
    base_models = Path(args.baseline_models).resolve() if args.baseline_models else base / "models"
    workers = {"this": Worker(ROOT, models_dir), "baseline": Worker(base, base_models)}
    try:
        listed = {label: w.ask(op="models") for label, w in workers.items()}
        rows = [baseline_case(workers, case, args.baseline_repeats)
                for case in baseline_cases(listed["this"], listed["baseline"],
                                           args.baseline_only_models)]
    finally:
        for w in workers.values():
            w.close()
    return {"baseline": str(base), "baseline_commit": git_commit(base),
            "baseline_models": str(base_models), "this_commit": git_commit(ROOT),
            "this_models": str(models_dir), "repeats": args.baseline_repeats,
            "clock": "CPU time of each worker process (median), pinned to the same core",
            "rows": rows, "goals_met": baseline_goals(rows)}


BASELINE_COLUMNS = [("model", 12), ("K", 2), ("memory", 7), ("this", 9), ("baseline", 9),
                    ("this/base", 10), ("(of mins)", 10), ("mem/net", 8)]


def print_baseline_table(b: dict) -> None:
    print(f"\nthis checkout ({b['this_commit']}) against {b['baseline']} "
          f"({b['baseline_commit']}), in turn on one core; median CPU ms of "
          f"{b['repeats']} runs, 256 steps (polyphonic: after 4 bars of {POLY_SEED})")
    print_table(BASELINE_COLUMNS, (
        [r["model"], r["variations"], "on" if r["memory"] else "off",
         cell(r, "this_cpu_ms", "{:.1f}"), cell(r, "baseline_cpu_ms", "{:.1f}"),
         cell(r, "this_over_baseline", "{:.2f}"), cell(r, "this_over_baseline_min", "{:.2f}"),
         cell(r, "memory_over_network", "{:.2f}")]
        for r in b["rows"]))
    for r in b["rows"]:
        for label in ("this", "baseline"):
            if f"{label}_error" in r:
                print(f"{r['model']} x{r['variations']}: {label} failed: {r[label + '_error']}")
    for goal, ok in b["goals_met"].items():
        print(f"{'met   ' if ok else 'NOT MET'} {goal}")


# ---------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------


def arguments(argv: list[str] | None) -> argparse.Namespace:
    ap = common.parser(__doc__, models_dir=True)
    ap.add_argument("--repeats", type=int, default=15, help="timed runs per figure (median)")
    ap.add_argument("--naive-repeats", type=int, default=1)
    ap.add_argument("--keras-steps", type=int, default=16,
                    help="steps of the notebook way actually run (scaled to 256)")
    ap.add_argument("--options", action="store_true", help="also time session options")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    ap.add_argument("--poly-repeats", type=int, default=5,
                    help="timed runs per polyphonic figure (median)")
    ap.add_argument("--poly-naive-repeats", type=int, default=1,
                    help="runs of the polyphonic naive way (slow; 0: not run)")
    ap.add_argument("--only-polyphonic", action="store_true",
                    help="only the polyphonic table (bench/results/generation_polyphonic.json)")
    ap.add_argument("--models", nargs="+", metavar="NAME",
                    help="with --only-polyphonic: only these models")
    ap.add_argument("--only-regenerate", action="store_true",
                    help="only the table of Regenerate Part against continuing")
    ap.add_argument("--baseline", metavar="DIR",
                    help="another checkout (an older commit) timed beside this one")
    ap.add_argument("--baseline-models", metavar="DIR",
                    help="the baseline's model folder (default: DIR/models)")
    ap.add_argument("--baseline-repeats", type=int, default=7,
                    help="runs per checkout per baseline figure (median)")
    ap.add_argument("--baseline-only-models", metavar="NAME", nargs="+",
                    help="the baseline table for these models alone")
    ap.add_argument("--only-baseline", action="store_true",
                    help="with --baseline: only the baseline table")
    ap.add_argument("--transformer", metavar="CARD",
                    help="a Transformer's card for its row while models/ ships none "
                         "(e.g. training/runs/candidates/transformer.json)")
    ap.add_argument("--only-transformer", action="store_true",
                    help="only the Transformer's row (bench/results/generation_transformer.json)")
    common.add_out(ap, "generation")
    args = ap.parse_args(argv)
    if args.only_baseline and not args.baseline:
        ap.error("--only-baseline needs --baseline DIR")
    return args


def keras_loader():
    """``training``'s Keras loader with TensorFlow held to one thread, or None (with a line
    on stderr) where TensorFlow is not installed: the app never needs it."""
    try:
        import tensorflow as tf  # noqa: F401

        from training.models import load_keras_model
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except Exception as e:  # TensorFlow is optional: the app never needs it
        print(f"TensorFlow not available ({e}); no notebook and floor figures",
              file=sys.stderr)
        return None
    return load_keras_model


def melody_model_ms(library: ModelLibrary, info, seed, args, load_keras_model) -> dict:
    """Incremental (alone and with the motif memory), naive, priming, floor and notebook
    figures of one melody model, 1 and 4 variations."""
    name = info.name
    model = library.get(name)
    r: dict = {"architecture": info.architecture, "card": str(info.card_path),
               "sha256": info.card.get("sha256", {}).get(info.step_path.name)}
    for k in (1, 4):
        # the network alone (--memory off), as every figure before the motif memory
        s = GenerationSettings(model=name, steps=STEPS, variations=k, memory=False)
        generate(library, seed, s)  # warm-up: creates the session
        ms, cpu_ms, all_ms = timed_both(lambda: generate(library, seed, s), args.repeats)
        r[f"incremental_{k}_ms"] = round(ms, 2)
        r[f"incremental_{k}_cpu_ms"] = round(cpu_ms, 2)
        r[f"incremental_{k}_runs_ms"] = [round(t, 2) for t in all_ms]
        # the app's default: the motif memory mixed in at every step
        sm = GenerationSettings(model=name, steps=STEPS, variations=k, memory=True)
        generate(library, seed, sm)
        both = interleaved_both({"off": lambda: generate(library, seed, s),
                                 "on": lambda: generate(library, seed, sm)}, args.repeats)
        r[f"incremental_{k}_memory_ms"] = round(both["on"][0], 2)
        r[f"memory_overhead_{k}_ms"] = round(both["on"][0] - both["off"][0], 2)
        r[f"incremental_{k}_memory_cpu_ms"] = round(both["on"][1], 2)
        r[f"memory_over_network_{k}"] = round(both["on"][1] / both["off"][1], 2)
        ms, _ = timed(lambda: generate(library, seed, s, method="naive"), args.naive_repeats)
        r[f"naive_{k}_ms"] = round(ms, 1)
    enc = model.encoding
    prime = enc.encode_notes(seed.tracks[0].notes, seed.ppq).tokens
    r["prime_steps"] = len(prime)
    if info.sequence_state_outputs:
        r["priming_4_ms"] = priming_table(model, list(prime), args.repeats)
    keras_model = step = None
    if load_keras_model is not None:
        keras_model, step = keras_and_numpy(info, load_keras_model)
    if step is not None:
        for k in (1, 4):
            if isinstance(step, TransformerNumpyStep):  # as many keys as the generation's
                ms, diff, cpu_ms = transformer_floor_ms(step, model, k, args.repeats,
                                                        filled=len(prime))
                r[f"floor_{k}_cpu_ms"] = round(cpu_ms, 2)
            else:
                ms, diff = floor_ms(step, model, k, args.repeats)
            r[f"floor_{k}_ms"] = round(ms, 2)
            r["floor_vs_onnx_max_abs_diff"] = diff
            raw = notebook_ms(keras_model, model, prime, k, args.keras_steps)
            r[f"notebook_{k}_ms"] = round(raw * STEPS / args.keras_steps, 0)
            r["notebook_steps_run"] = args.keras_steps
            if isinstance(step, TransformerNumpyStep):
                r.update(transformer_step_figures(step, model, k, args.repeats))
    for k in (1, 4):
        inc = r[f"incremental_{k}_ms"]
        r[f"naive_over_incremental_{k}"] = round(r[f"naive_{k}_ms"] / inc, 1)
        if f"floor_{k}_ms" in r:
            r[f"incremental_over_floor_{k}"] = round(inc / r[f"floor_{k}_ms"], 2)
        if f"floor_{k}_cpu_ms" in r:  # a Transformer: in CPU time, steadier
            r[f"incremental_over_floor_{k}_cpu"] = round(
                r[f"incremental_{k}_cpu_ms"] / r[f"floor_{k}_cpu_ms"], 2)
        if f"notebook_{k}_ms" in r:
            r[f"notebook_over_incremental_{k}"] = round(r[f"notebook_{k}_ms"] / inc, 0)
    r["goals_met"] = melody_goals(r, info.architecture)
    return r


def melody_goals(r: dict, architecture: str) -> dict[str, bool]:
    goals = {"incremental_4_ms <= 50 (wall clock)": r["incremental_4_ms"] <= GOAL_MS,
             "incremental_4_cpu_ms <= 50 (CPU time)": r["incremental_4_cpu_ms"] <= GOAL_MS}
    for k in (1, 4):
        if f"memory_over_network_{k}" in r:
            goals[f"+memory <= {GOAL_MEMORY_RATIO:g}x the network alone, {k} variation(s) "
                  f"(CPU)"] = r[f"memory_over_network_{k}"] <= GOAL_MEMORY_RATIO
    if "incremental_over_floor_4" in r:
        goals["incremental_4 <= 3x floor_4"] = r["incremental_over_floor_4"] <= GOAL_FLOOR_RATIO
    if "step_over_floor_4" in r:  # the Transformer (issue 27): its step, and all of it
        goals[f"step_4 <= {GOAL_TRANSFORMER_FLOOR_RATIO:g}x its numpy floor (CPU)"] = \
            r["step_over_floor_4"] <= GOAL_TRANSFORMER_FLOOR_RATIO
        goals[f"incremental_4 <= {GOAL_TRANSFORMER_FLOOR_RATIO:g}x its numpy floor (CPU)"] = \
            r["incremental_over_floor_4_cpu"] <= GOAL_TRANSFORMER_FLOOR_RATIO
    if architecture == "wavenet":
        worst = min(r["naive_over_incremental_1"], r["naive_over_incremental_4"])
        goals["naive >= 10x incremental (1 and 4)"] = worst >= GOAL_WAVENET_NAIVE_RATIO
    if "notebook_over_incremental_1" in r:
        for k in (1, 4):
            goals[f"notebook >= 1000x incremental ({k} variation{'s' if k > 1 else ''})"] = \
                r[f"notebook_over_incremental_{k}"] >= GOAL_NOTEBOOK_RATIO
    return goals


def polyphonic_figures(library: ModelLibrary, polyphonic: list, args,
                       load_keras_model) -> dict | None:
    """The polyphonic table's figures, or None (with a line on stderr) without the chorale."""
    try:
        pseed, pstart = poly_seed()
    except Exception as e:  # music21 (and its corpus) is needed for the chorale
        print(f"no polyphonic figures: the seed {POLY_SEED} cannot be read ({e})",
              file=sys.stderr)
        return None
    return {"seed": f"{POLY_SEED}, first {POLY_SEED_BARS} bars", "steps": STEPS,
            "seed_parts": sum(1 for t in pseed.tracks if t.notes),
            "repeats": args.poly_repeats, "naive_repeats": args.poly_naive_repeats,
            "models": {info.name: poly_model_ms(library, info, pseed, pstart, args,
                                                load_keras_model)
                       for info in polyphonic},
            "regenerate": {info.name: regenerate_ms(library, info.name, args.poly_repeats)
                           for info in polyphonic}}


MELODY_COLUMNS = [("model", 10), ("K", 2), ("incremental", 12), ("(CPU)", 8), ("+memory", 8),
                  ("mem/net", 8), ("naive", 10), ("notebook*", 11), ("floor", 8), ("incr/floor", 11),
                  ("naive/incr", 11), ("nb/incr", 9)]


def print_melody_table(results: dict, args) -> None:
    print(f"\n256 steps (16 bars of 4/4) after {SEED.name}; median ms; {results['cpu']}; load "
          f"average {results['load_average_before'][0]} before, "
          f"{results['load_average_after'][0]} after, on {results['cpus']} CPUs")
    print_table(MELODY_COLUMNS, (
        [name, k, cell(r, f"incremental_{k}_ms", "{:.2f}"),
         cell(r, f"incremental_{k}_cpu_ms", "{:.2f}"),
         cell(r, f"incremental_{k}_memory_ms", "{:.2f}"),
         cell(r, f"memory_over_network_{k}", "{:.2f}"), cell(r, f"naive_{k}_ms"),
         cell(r, f"notebook_{k}_ms", "{:.0f}"), cell(r, f"floor_{k}_ms", "{:.2f}"),
         cell(r, f"incremental_over_floor_{k}", "{:.2f}"), cell(r, f"naive_over_incremental_{k}"),
         cell(r, f"notebook_over_incremental_{k}", "{:.0f}")]
        for name, r in results["models"].items() for k in (1, 4)))
    print("incremental: the network alone (--memory off); +memory: with the motif memory "
          "(the default), timed interleaved with it; mem/net: their ratio in CPU time")
    if any("notebook_steps_run" in r for r in results["models"].values()):
        print(f"* notebook: Keras predict over a fixed window per note (the receptive field, "
              f"or {NOTEBOOK_LSTM_WINDOW} steps for an LSTM), one variation at a time as the "
              f"notebooks did; {args.keras_steps} steps per variation run and scaled to {STEPS}")
    print_transformer_steps(results["models"])
    print_goals(results["models"], 10)


def print_transformer_steps(models: dict) -> None:
    """The Transformer's bare step against its numpy floor (its row's extra figures)."""
    for name, r in models.items():
        for k in (1, 4):
            if f"step_over_floor_{k}" in r:
                print(f"{name}: 256 bare steps at batch {k} on a full window, CPU ms: "
                      f"step {r[f'step_{k}_cpu_ms']:.2f}, numpy floor "
                      f"{r[f'step_floor_{k}_cpu_ms']:.2f} (step/floor "
                      f"{r[f'step_over_floor_{k}']:.2f}; wall {r[f'step_{k}_ms']:.2f} vs "
                      f"{r[f'step_floor_{k}_ms']:.2f}); the whole generation / the floor "
                      f"from the seed's {r['prime_steps']} tokens, CPU ms: "
                      f"{r[f'incremental_{k}_cpu_ms']:.2f} / {r[f'floor_{k}_cpu_ms']:.2f} = "
                      f"{r[f'incremental_over_floor_{k}_cpu']:.2f}")


def print_other_tables(results: dict) -> None:
    """Priming, and with ``--options`` the session options and the bare step loop."""
    primed = {n: r["priming_4_ms"] for n, r in results["models"].items() if "priming_4_ms" in r}
    if primed:
        print("\npriming 4 variations, median ms: one sequence-graph call vs one step call "
              "per seed token")
        for name, table in primed.items():
            for label, t in table.items():
                print(f"{name:>10} {label:>26}: {t['sequence graph']:7.2f} vs "
                      f"{t['step by step']:7.2f}  ({t['step by step / sequence graph']}x)")
    if "polyphonic" in results:
        print_poly_table(results["polyphonic"])
        print_regenerate_table(results["polyphonic"])
    if "session_options_4_variations_ms" in results:
        for title, key in (("session options, 256 steps x 4 variations, median ms",
                            "session_options_4_variations_ms"),
                           ("256 bare steps at batch 4, median ms", "step_loop_256_batch_4")):
            print(f"\n{title}")
            for name, table in results[key].items():
                for label, ms in table.items():
                    print(f"{name:>10} {ms:8.2f}  {label}")


def is_transformer_card(info) -> bool:
    return info.architecture == "transformer"


def transformer_library(args, folders: list[Path], links: Path) -> ModelLibrary:
    """The model library, with ``--transformer CARD`` in it when the folders hold no
    Transformer: its card, graphs and Keras weights linked into ``links`` (not the
    card's folder, whose other cards would come too).  Says on stdout when the
    Transformer's row is skipped, and why."""
    library = ModelLibrary(folders)
    shipped = [i.name for i in library.models if is_transformer_card(i)]
    if shipped:
        if args.transformer:
            print(f"--transformer {args.transformer} not used: {', '.join(shipped)} "
                  f"in {', '.join(map(str, folders))} is a Transformer")
        return library
    if not args.transformer:
        print(f"no Transformer row: {', '.join(map(str, folders))} ship no Transformer card "
              f"and no --transformer CARD was given")
        return library
    card_path = Path(args.transformer).resolve()
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        names = [card_path.name, *card["files"].values()]
        names += [card["keras"]["weights"]] if "keras" in card else []
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        print(f"no Transformer row: {args.transformer} cannot be read ({e})")
        return library
    for name in names:
        (links / name).parent.mkdir(parents=True, exist_ok=True)
        (links / name).symlink_to(card_path.parent / name)
    library = ModelLibrary([*folders, links])
    if not any(is_transformer_card(i) for i in library.models):
        print(f"no Transformer row: {args.transformer} is not a usable Transformer card")
    return library


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    pinned = common.pinned_unless(args.no_pin)
    folders = common.model_folders(args)
    links = tempfile.TemporaryDirectory(prefix="continuo-transformer-")
    library = transformer_library(args, folders, Path(links.name))
    for problem in library.problems:
        print(f"refused: {problem}", file=sys.stderr)
    if not library.models:
        print(f"no usable model cards in {', '.join(map(str, folders))}", file=sys.stderr)
        return 1
    if args.only_baseline:
        return only_baseline(args, folders[0], pinned)
    if args.only_regenerate:
        return only_regenerate(args, library, pinned)
    if args.only_polyphonic:
        return only_polyphonic(args, library, pinned)
    seed = midi_file_to_song(SEED)
    load_keras_model = keras_loader()
    if args.only_transformer:
        return only_transformer(args, library, seed, pinned, load_keras_model)
    results = {"steps": STEPS, "seed": SEED.name, "cpu": pinned,
               "machine": platform.platform(), "processor": platform.processor(),
               "python": platform.python_version(),
               "onnxruntime": __import__("onnxruntime").__version__,
               "numpy": np.__version__, "date": time.strftime("%Y-%m-%d %H:%M"),
               "command": common.command_line("generation", argv),
               "load_average_before": common.load_averages(),
               "cpus": os.cpu_count(), "transformer_card": args.transformer,
               "models": {}}
    melodic = [info for info in library.models
               if not is_polyphonic_card(info) and not is_drum_card(info)]
    polyphonic = [info for info in library.models if is_polyphonic_card(info)]
    for info in melodic:
        results["models"][info.name] = melody_model_ms(library, info, seed, args,
                                                       load_keras_model)
    if args.options:
        results["session_options_4_variations_ms"] = options_table(
            folders, seed, [m.name for m in melodic], args.repeats)
        results["step_loop_256_batch_4"] = binding_table(library, args.repeats)
    poly = polyphonic_figures(library, polyphonic, args, load_keras_model) if polyphonic else None
    if poly is not None:
        results["polyphonic"] = poly
    results["drums"] = drum_figures(library, args.poly_repeats)
    if args.baseline:
        results["baseline"] = baseline_figures(args, folders[0])
    results["load_average_after"] = common.load_averages()
    print_melody_table(results, args)
    print_other_tables(results)
    print_drum_table(results["drums"])
    if "baseline" in results:
        print_baseline_table(results["baseline"])
    out = Path(args.out)
    print()
    common.write_json(out, results)
    return 0


def write_alone(args, results: dict, file_name: str) -> None:
    """Write a table run alone (``--only-...``) to ``--out``, or, where that is left at
    bench/results/generation.json (the whole bench's file), to ``file_name`` beside it."""
    out = Path(args.out)
    if out == common.RESULTS_DIR / "generation.json":
        out = out.with_name(file_name)
    print()
    common.write_json(out, results)


def only_regenerate(args, library: ModelLibrary, pinned: str) -> int:
    """``--only-regenerate``: the table of Regenerate Part against continuing alone,
    written to bench/results/generation_regenerate.json unless ``--out`` says where."""
    results = {"command": common.command_line("generation", None), "cpu": pinned,
               "machine": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M"),
               "load_average_before": common.load_averages(),
               "polyphonic": {"repeats": args.poly_repeats, "regenerate": {
                   info.name: regenerate_ms(library, info.name, args.poly_repeats)
                   for info in library.models if is_polyphonic_card(info)}}}
    results["load_average_after"] = common.load_averages()
    print_regenerate_table(results["polyphonic"])
    write_alone(args, results, "generation_regenerate.json")
    return 0


def only_polyphonic(args, library: ModelLibrary, pinned: str) -> int:
    """``--only-polyphonic``: the polyphonic table alone (``--models`` narrows it), with
    ``--baseline`` the same models timed against that checkout too, written to
    bench/results/generation_polyphonic.json unless ``--out`` says where."""
    chosen = [info for info in library.models if is_polyphonic_card(info)
              and (not args.models or info.name in args.models)]
    results = {"command": common.command_line("generation", None), "cpu": pinned,
               "machine": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M"),
               "load_average_before": common.load_averages()}
    poly = polyphonic_figures(library, chosen, args, keras_loader())
    if poly is None:
        return 1
    results["polyphonic"] = poly
    if args.baseline:  # the chosen models against the older checkout, in turn
        args.baseline_only_models = args.baseline_only_models or [i.name for i in chosen]
        results["baseline"] = baseline_figures(args, common.model_folders(args)[0])
    results["load_average_after"] = common.load_averages()
    print_poly_table(poly)
    print_regenerate_table(poly)
    if "baseline" in results:
        print_baseline_table(results["baseline"])
    write_alone(args, results, "generation_polyphonic.json")
    return 0


def only_transformer(args, library: ModelLibrary, seed, pinned: str, load_keras_model) -> int:
    """``--only-transformer``: the Transformer's melody row (and its bare step against
    its floor) alone, written to bench/results/generation_transformer.json unless
    ``--out`` says where."""
    results = {"steps": STEPS, "seed": SEED.name, "cpu": pinned,
               "machine": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M"),
               "onnxruntime": __import__("onnxruntime").__version__,
               "numpy": np.__version__,
               "command": common.command_line("generation", None),
               "load_average_before": common.load_averages(), "cpus": os.cpu_count(),
               "transformer_card": args.transformer,
               "models": {info.name: melody_model_ms(library, info, seed, args,
                                                     load_keras_model)
                          for info in library.models if is_transformer_card(info)}}
    results["load_average_after"] = common.load_averages()
    if not results["models"]:
        return 1
    print_melody_table(results, args)
    write_alone(args, results, "generation_transformer.json")
    return 0


def only_baseline(args, models_dir: Path, pinned: str) -> int:
    """``--only-baseline``: the baseline table alone, written to ``--out``."""
    results = {"cpu": pinned, "date": time.strftime("%Y-%m-%d %H:%M"),
               "command": common.command_line("generation", None),
               "load_average_before": common.load_averages(), "cpus": os.cpu_count(),
               "baseline": baseline_figures(args, models_dir)}
    results["load_average_after"] = common.load_averages()
    print_baseline_table(results["baseline"])
    print()
    common.write_json(Path(args.out), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
