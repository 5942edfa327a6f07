"""The drum rows of bench/generation.py: a drum model's drums for 16 bars (768 steps of
twelve a quarter) after a real groove (tests/data/drums/swing-tiny.mid, mma's swing),
1 and 4 variations, against the numpy floor of the same matrix work.

* incremental: :func:`engine.generation.jobs.drums.continue_drums` as Generate calls it
  for a drum track (style "auto": every style weighed over the seed first; prime the
  seed once, then one step-model call a step for all variations; conditioning, the
  seed's groove, sampling and decoding included), the network alone (memory off) and
  with the motif memory (the default, so the row users get), and with the memory in a
  named style (no search over the styles);
* floor: one step's arithmetic in numpy on the model's own weights, read out of its
  ONNX step graph's initializers (the export folds the embeddings into the LSTM's
  input kernel: a row gathered per token and per style, a product for the position
  and onsets, the recurrent product, the gates, the logits), times 768, at the same
  batch; checked against onnxruntime on one step (``floor_vs_onnx_max_abs_diff``).

No Keras weights are needed, so the floor is there wherever the app runs.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from bench import common

DRUM_BARS = 16
DRUM_SEED = Path(__file__).resolve().parent.parent / "tests" / "data" / "drums" / "swing-tiny.mid"
GOAL_DRUM_FLOOR_RATIO = 1.0  # drums for 16 bars x 4 variations / the numpy floor
#: a named style (the seed's own, mma's swing): no "auto" search over the styles first
NAMED_STYLE = "swing"


def is_drum_card(info) -> bool:
    from engine.encodings.drums import DrumEncoding

    return isinstance(getattr(info, "encoding", None), DrumEncoding)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


class NumpyDrumStep:
    """A drum LSTM's step in numpy on the initializers of its ONNX step graph, told
    apart by their shapes: [vocab, 4u] per token, [styles, 4u] per style, [20 + 2, 4u]
    for the position and onsets, [u, 4u] recurrent, [u, vocab] and [vocab] the logits."""

    def __init__(self, info) -> None:
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(info.step_path)).graph
        arrays = [numpy_helper.to_array(i) for i in graph.initializer]
        units = int(info.states[0].shape[0])
        vocab = info.encoding.vocab_size
        cond = sum(int(np.prod(c.shape)) for c in info.conditioning if c.dtype == "float32")
        gates = [a.astype(np.float32) for a in arrays if a.ndim == 2 and a.shape[1] == 4 * units]
        self.token = next(a for a in gates if a.shape[0] == vocab)
        self.recurrent = next(a for a in gates if a.shape[0] == units)
        self.cond = next(a for a in gates if a.shape[0] == cond)
        self.style = next(a for a in gates if a is not self.token and a is not self.recurrent
                          and a is not self.cond)
        self.out = next(a for a in arrays if a.shape == (units, vocab)).astype(np.float32)
        self.bias = next(a for a in arrays if a.shape == (vocab,)).astype(np.float32)

    def step(self, token, states, style, cond):
        h, c = states
        z = self.token[token] + self.style[style] + cond @ self.cond + h @ self.recurrent
        zi, zf, zc, zo = np.split(z, 4, axis=1)
        c = _sigmoid(zf) * c + _sigmoid(zi) * np.tanh(zc)
        h = _sigmoid(zo) * np.tanh(c)
        return h @ self.out + self.bias, [h, c]


def drum_floor_ms(step: NumpyDrumStep, model, batch: int, steps: int,
                  repeats: int) -> tuple[float, float]:
    """(median CPU ms of ``steps`` numpy steps at ``batch``, max |logits -
    onnxruntime's| on one step)."""
    rng = np.random.default_rng(0)
    info = model.info
    states = [rng.standard_normal((batch, *s.shape)).astype(np.float32) * 0.5
              for s in info.states]
    token = rng.integers(1, info.encoding.vocab_size, batch).astype(np.int32)
    style = np.full((batch, 1), 3, np.int32)
    position = np.zeros((batch, 20), np.float32)
    position[:, [0, 12]] = 1.0
    onsets = np.ones((batch, 2), np.float32)
    cond = np.concatenate([position, onsets], axis=1)
    mine, _ = step.step(token, states, style[:, 0], cond)
    feeds = {info.token_input: token, "style": style, "position": position, "onsets": onsets}
    feeds.update({s.input: a for s, a in zip(info.states, states)})
    theirs = model._session().run([info.logits_output], feeds)[0]
    diff = float(np.abs(mine - theirs).max())

    def run():
        st = states
        for _ in range(steps):
            _, st = step.step(token, st, style[:, 0], cond)

    run()
    _, cpu = common.wall_and_cpu_ms(run, repeats)
    return statistics.median(cpu), diff


def drum_model_ms(library, info, repeats: int) -> dict:
    """Incremental (memory off and on) and floor figures of one drum model, 1 and 4
    variations, 16 bars after the swing groove."""
    from engine.formats import load_song
    from engine.generation.jobs.drums import continue_drums
    from engine.generation.request import GenerationSettings

    song = load_song(str(DRUM_SEED))
    model = library.get(info.name)
    r: dict = {"architecture": info.architecture, "card": str(info.card_path),
               "seed": DRUM_SEED.name, "bars": DRUM_BARS}
    step = NumpyDrumStep(info)
    for k in (1, 4):
        for memory in (False, True):
            s = GenerationSettings(model=info.name, bars=DRUM_BARS, variations=k, memory=memory)

            def run():
                return continue_drums(library, song, s, start_tick=song.end_tick,
                                      new_notes=None)

            r["steps"] = run()[3]  # warm-up: the session made
            wall, cpu = common.wall_and_cpu_ms(run, repeats)
            key = f"incremental_{k}{'_memory' if memory else ''}"
            r[f"{key}_ms"] = round(statistics.median(wall), 2)
            r[f"{key}_cpu_ms"] = round(statistics.median(cpu), 2)
        ms, diff = drum_floor_ms(step, model, k, r["steps"], repeats)
        r[f"floor_{k}_cpu_ms"] = round(ms, 2)
        r["floor_vs_onnx_max_abs_diff"] = diff
        r[f"incremental_over_floor_{k}"] = round(r[f"incremental_{k}_cpu_ms"] / ms, 2)
        r[f"memory_over_floor_{k}"] = round(r[f"incremental_{k}_memory_cpu_ms"] / ms, 2)
    # style "auto" (the default) first weighs every style over the seed's last bars, 26
    # rows of up to 192 steps in one sequence-graph call: a named style does not
    named = GenerationSettings(model=info.name, bars=DRUM_BARS, variations=4)
    _, cpu = common.wall_and_cpu_ms(lambda: continue_drums(
        library, song, named, start_tick=song.end_tick, new_notes=None,
        style_name=NAMED_STYLE), repeats)
    r["named_4_memory_cpu_ms"] = round(statistics.median(cpu), 2)
    r["named_memory_over_floor_4"] = round(r["named_4_memory_cpu_ms"] / r["floor_4_cpu_ms"], 2)
    r["goals_met"] = {
        f"drums x4 with the memory (the default: the row users get) <= "
        f"{GOAL_DRUM_FLOOR_RATIO:g}x floor_4 (CPU)":
            r["memory_over_floor_4"] <= GOAL_DRUM_FLOOR_RATIO,
        f"drums x4, the network alone (memory off) <= {GOAL_DRUM_FLOOR_RATIO:g}x floor_4 "
        f"(CPU)": r["incremental_over_floor_4"] <= GOAL_DRUM_FLOOR_RATIO}
    return r


DRUM_COLUMNS = [("model", 12), ("K", 2), ("steps", 6), ("incr CPU", 9), ("+memory", 9),
                ("floor", 8), ("incr/floor", 11), ("mem/floor", 10)]


def print_drum_table(drums: dict) -> None:
    models = drums["models"]
    if not models:
        return
    print(f"\ndrums: {DRUM_BARS} bars (12 steps a quarter) after {DRUM_SEED.name}; median CPU "
          f"ms; floor: numpy on the ONNX graph's own weights")
    common.print_table(DRUM_COLUMNS, (
        [name, k, r["steps"], common.cell(r, f"incremental_{k}_cpu_ms", "{:.1f}"),
         common.cell(r, f"incremental_{k}_memory_cpu_ms", "{:.1f}"),
         common.cell(r, f"floor_{k}_cpu_ms", "{:.1f}"),
         common.cell(r, f"incremental_over_floor_{k}", "{:.2f}"),
         common.cell(r, f"memory_over_floor_{k}", "{:.2f}")]
        for name, r in models.items() for k in (1, 4)))
    for name, r in models.items():
        print(f"{name}: floor against onnxruntime, max |diff| {r['floor_vs_onnx_max_abs_diff']:.2g}")
        print(f"{name}: x4 with the memory in style {NAMED_STYLE} (no 'auto' search): "
              f"{r['named_4_memory_cpu_ms']:.1f} ms, {r['named_memory_over_floor_4']:.2f}x")
        for goal, ok in r["goals_met"].items():
            print(f"{name:>12}: {'met   ' if ok else 'NOT MET'} {goal}")


def drum_figures(library, repeats: int) -> dict:
    """Every drum card's figures."""
    return {"seed": DRUM_SEED.name, "bars": DRUM_BARS, "repeats": repeats,
            "models": {info.name: drum_model_ms(library, info, repeats)
                       for info in library.models if is_drum_card(info)}}
