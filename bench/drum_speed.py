"""The drum rows of bench/generation.py: a drum model's drums for 16 bars (768 steps of
twelve a quarter) after a real groove (tests/data/drums/swing-tiny.mid, mma's swing),
1 and 4 variations, against the numpy floor of the same matrix work; and Add Drums to
a 32-bar song (issue 24: under a third of a second on one core).

* incremental: :func:`engine.generation.jobs.drums.continue_drums` as Generate calls it
  for a drum track: style "auto" (every style weighed over the seed's last bars in one
  sequence-graph call), the seed primed once (one sequence-graph call), then one
  step-model call a step for all variations, with the conditioning, the seed's groove,
  the sampling and the decoding; the network alone (memory off) and with the motif
  memory (the default, so the row users get), and with the memory in a named style
  (no weighing of the styles).
* floor: the same matrix work in numpy, on the model's own weights read out of its
  ONNX step graph's initializers (the export folds the embeddings into the LSTM's input
  kernel: a row gathered per token and per style, a product for the position and
  onsets, the recurrent product, the gates, the logits).  Every network call the job
  makes counts, read off the model while the job runs (a wrapper records the shapes of
  its ``sequence_logits`` and ``prime`` calls; the step calls are the steps after the
  first): each step call is one numpy step at the same batch; each sequence call
  (the styles weighed: one row per style over up to 192 steps) the same arithmetic as
  numpy does a sequence best, the input products of every step at once, the recurrent
  product and the gates step by step, the logits of every step in one product; the
  priming likewise at one row, with the logits of its last step only (the one the job
  uses).  The step is checked against onnxruntime's step graph and the sequence against
  its sequence graph (``floor_vs_onnx_max_abs_diff``, ``sequence_floor_vs_onnx_max_abs_diff``).
* the job and its floor take turns, round after round (``--repeats``), in one process on
  one core, and the figures are the fastest round of each (CPU time: a busy spell on a
  shared machine only ever adds to it), the median beside it.  Nothing is cached from
  one round to the next but what the app keeps too (the onnxruntime sessions); the
  style the job keeps per seed is forgotten before every run (a cold cache, as the
  first Generate of a song: "auto" weighs every style each time).

Add Drums: ``jobs.run`` of a DRUMS request on the app's default seed with its parts
repeated to 32 bars, 1 and 4 variations, wall and CPU milliseconds, the first call in
the process (the drum model's sessions made) and the fastest of the later ones.

No Keras weights are needed, so the floor is there wherever the app runs.

    python bench/drum_speed.py [--repeats N] [--models-dir DIR] [--no-pin]

Prints the table and writes bench/results/drum_speed.json.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

if __name__ == "__main__":
    common.single_threaded()

import numpy as np  # noqa: E402

DRUM_BARS = 16
DRUM_SEED = Path(__file__).resolve().parent.parent / "tests" / "data" / "drums" / "swing-tiny.mid"
GOAL_DRUM_FLOOR_RATIO = 1.0  # drums for 16 bars x 4 variations / the numpy floor
#: a named style (the seed's own, mma's swing): no "auto" search over the styles first
NAMED_STYLE = "swing"
#: Add Drums: the default seed's first 4 bars repeated to this many bars
ADD_DRUMS_BARS = 32
GOAL_ADD_DRUMS_MS = 1000.0 / 3.0


def is_drum_card(info) -> bool:
    from engine.encodings.drums import DrumEncoding

    return isinstance(getattr(info, "encoding", None), DrumEncoding)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


class NumpyDrumStep:
    """A drum LSTM's arithmetic in numpy on the initializers of its ONNX step graph, told
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
        self.units = units
        self.token = next(a for a in gates if a.shape[0] == vocab)
        self.recurrent = next(a for a in gates if a.shape[0] == units)
        self.cond = next(a for a in gates if a.shape[0] == cond)
        self.style = next(a for a in gates if a is not self.token and a is not self.recurrent
                          and a is not self.cond)
        self.out = next(a for a in arrays if a.shape == (units, vocab)).astype(np.float32)
        self.bias = next(a for a in arrays if a.shape == (vocab,)).astype(np.float32)

    def _cell(self, z: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        zi, zf, zc, zo = np.split(z, 4, axis=1)
        c = _sigmoid(zf) * c + _sigmoid(zi) * np.tanh(zc)
        return _sigmoid(zo) * np.tanh(c), c

    def step(self, token, states, style, cond):
        """One step: logits [batch, vocab] and the new [h, c]."""
        h, c = states
        z = self.token[token] + self.style[style] + cond @ self.cond + h @ self.recurrent
        h, c = self._cell(z, c)
        return h @ self.out + self.bias, [h, c]

    def sequence(self, tokens: np.ndarray, style: np.ndarray, cond: np.ndarray,
                 last_only: bool = False) -> np.ndarray:
        """Tokens [batch, time] from zero states, ``style`` [batch] ids, ``cond`` [time,
        22] (the same for every row) or [batch, time, 22]: logits [batch, time, vocab]
        (``logits[:, t]`` after token t), or [batch, vocab] after the last token."""
        batch, time_steps = tokens.shape
        x = self.token[tokens] + self.style[style][:, None] + cond @ self.cond
        h = np.zeros((batch, self.units), np.float32)
        c = np.zeros((batch, self.units), np.float32)
        hs = None if last_only else np.empty((batch, time_steps, self.units), np.float32)
        for t in range(time_steps):
            h, c = self._cell(x[:, t] + h @ self.recurrent, c)
            if hs is not None:
                hs[:, t] = h
        return (h if hs is None else hs) @ self.out + self.bias


# ---- the job's network calls --------------------------------------------------------------
def recorded_calls(model, run) -> tuple[object, dict]:
    """(``run()``'s result, the network calls it made through ``model``): the shapes
    [rows, steps] of its sequence-graph calls (``sequence_logits``) and the tokens of
    each priming (``prime``).  The model's own methods do the work; the recording is
    taken off again after."""
    calls: dict = {"sequence": [], "prime": []}
    sequence_logits, prime = model.sequence_logits, model.prime

    def recording_sequence(tokens, *args, **kwargs):
        calls["sequence"].append(list(np.atleast_2d(np.asarray(tokens)).shape))
        return sequence_logits(tokens, *args, **kwargs)

    def recording_prime(tokens, *args, **kwargs):
        calls["prime"].append(len(tokens))
        return prime(tokens, *args, **kwargs)

    model.sequence_logits, model.prime = recording_sequence, recording_prime
    try:
        result = run()
    finally:
        del model.sequence_logits, model.prime
    return result, calls


class DrumFloor:
    """The numpy floor of a drum job's network calls (:func:`recorded_calls`) and
    ``steps`` steps at ``batch`` rows: the inputs made once, the arithmetic timed."""

    def __init__(self, step: NumpyDrumStep, info, calls: dict, batch: int, steps: int) -> None:
        rng = np.random.default_rng(0)
        vocab, units = info.encoding.vocab_size, step.units
        width = step.cond.shape[0]

        def cond(n):
            c = np.zeros((n, width), np.float32)
            c[np.arange(n), np.arange(n) % 12] = 1.0
            c[:, 12] = 1.0
            c[:, -2:] = rng.integers(0, 2, (n, 2))
            return c

        self.sequences = [(rng.integers(1, vocab, (rows, n)), np.arange(rows) % len(step.style),
                           cond(n), False) for rows, n in calls["sequence"]]
        self.sequences += [(rng.integers(1, vocab, (1, n)), np.full(1, 3), cond(n), True)
                           for n in calls["prime"]]
        self.step_calls = max(0, steps - 1)  # the priming gives the first step's logits
        self.states = [rng.standard_normal((batch, units)).astype(np.float32) * 0.5
                       for _ in range(2)]
        self.token = rng.integers(1, vocab, batch)
        self.style = np.full(batch, 3)
        self.cond = cond(1).repeat(batch, axis=0)
        self.numpy = step

    def __call__(self) -> None:
        for tokens, style, cond, last in self.sequences:
            self.numpy.sequence(tokens, style, cond, last)
        states = self.states
        for _ in range(self.step_calls):
            _, states = self.numpy.step(self.token, states, self.style, self.cond)


def floor_checks(step: NumpyDrumStep, model) -> tuple[float, float]:
    """max |logits - onnxruntime's|: one step of 4 rows on the step graph, and 3 rows of
    40 tokens in 3 styles on the sequence graph."""
    from engine.encodings.drums import DrumContext

    rng = np.random.default_rng(0)
    info, enc = model.info, model.encoding
    states = [rng.standard_normal((4, *s.shape)).astype(np.float32) * 0.5 for s in info.states]
    token = rng.integers(1, enc.vocab_size, 4).astype(np.int32)
    style = np.full((4, 1), 3, np.int32)
    position = np.zeros((4, 20), np.float32)
    position[:, [0, 12]] = 1.0
    onsets = np.ones((4, 2), np.float32)
    mine, _ = step.step(token, states, style[:, 0], np.concatenate([position, onsets], axis=1))
    feeds = {info.token_input: token, "style": style, "position": position, "onsets": onsets}
    feeds.update({s.input: a for s, a in zip(info.states, states)})
    theirs = model._session().run([info.logits_output], feeds)[0]
    step_diff = float(np.abs(mine - theirs).max())

    tokens = rng.integers(0, enc.vocab_size, (3, 40))
    styles = np.array([1, 3, 7])
    saved = enc.context
    try:
        enc.context = DrumContext(origin=5, style=styles[:, None], bars=[0, 48], bar_steps=36,
                                  onsets=rng.integers(0, 2, (60, 2)).astype(np.float32))
        span = enc.conditioning_span(0, 40)
        cond = np.concatenate([np.asarray(span["position"][0], np.float32),
                               np.asarray(span["onsets"][0], np.float32)], axis=1)
        theirs = model.sequence_logits(tokens)
    finally:
        enc.context = saved
    mine = step.sequence(tokens, styles, cond)
    return step_diff, float(np.abs(mine - theirs).max())


# ---- the figures --------------------------------------------------------------------------
def _cold(run):
    """``run`` after forgetting the styles the drum job heard in seeds (a cold cache)."""
    from engine.generation.jobs.drums import clear_seed_styles

    def cold():
        clear_seed_styles()
        return run()
    return cold


def drum_model_ms(library, info, repeats: int) -> dict:
    """Incremental (memory off and on, style auto; memory on in a named style) and floor
    figures of one drum model, 1 and 4 variations, 16 bars after the swing groove; the
    job and the floors in turn, round after round."""
    from engine.formats import load_song
    from engine.generation.jobs.drums import continue_drums
    from engine.generation.request import GenerationSettings

    song = load_song(str(DRUM_SEED))
    model = library.get(info.name)
    step = NumpyDrumStep(info)
    r: dict = {"architecture": info.architecture, "card": str(info.card_path),
               "seed": DRUM_SEED.name, "bars": DRUM_BARS, "repeats": repeats}
    r["floor_vs_onnx_max_abs_diff"], r["sequence_floor_vs_onnx_max_abs_diff"] = \
        floor_checks(step, model)

    jobs, floors = {}, {}
    for k in (1, 4):
        for memory in (False, True):
            s = GenerationSettings(model=info.name, bars=DRUM_BARS, variations=k, memory=memory)
            jobs[f"incremental_{k}{'_memory' if memory else ''}"] = \
                (lambda s=s: continue_drums(library, song, s, start_tick=song.end_tick,
                                            new_notes=None))
    named = GenerationSettings(model=info.name, bars=DRUM_BARS, variations=4)
    jobs["named_4_memory"] = lambda: continue_drums(
        library, song, named, start_tick=song.end_tick, new_notes=None,
        style_name=NAMED_STYLE)
    # each run weighs the styles afresh, as the first Generate of a song does (the job
    # keeps the style it heard in a seed: clear_seed_styles, a cold cache)
    jobs = {key: _cold(run) for key, run in jobs.items()}
    calls = {}
    for key, run in jobs.items():  # the warm-up run of each: the sessions made
        result, calls[key] = recorded_calls(model, run)
        r["steps"] = result[3]
    r["network_calls"] = {"auto": calls["incremental_4"], "named": calls["named_4_memory"]}
    for k in (1, 4):
        floors[f"floor_{k}"] = DrumFloor(step, info, calls[f"incremental_{k}"], k, r["steps"])
    floors["floor_named_4"] = DrumFloor(step, info, calls["named_4_memory"], 4, r["steps"])
    floors["floor_steps_4"] = DrumFloor(step, info, {"sequence": [], "prime": []}, 4,
                                        r["steps"] + 1)
    timed = {**jobs, **floors}
    cpu: dict[str, list[float]] = {key: [] for key in timed}
    for _ in range(repeats):
        for key, fn in timed.items():
            c0 = time.process_time()
            fn()
            cpu[key].append((time.process_time() - c0) * 1e3)
    for key, values in cpu.items():
        r[f"{key}_cpu_ms"] = round(min(values), 2)
        r[f"{key}_cpu_ms_median"] = round(statistics.median(values), 2)
    for k in (1, 4):
        floor = r[f"floor_{k}_cpu_ms"]
        r[f"incremental_over_floor_{k}"] = round(r[f"incremental_{k}_cpu_ms"] / floor, 2)
        r[f"memory_over_floor_{k}"] = round(r[f"incremental_{k}_memory_cpu_ms"] / floor, 2)
    r["named_memory_over_floor_4"] = round(r["named_4_memory_cpu_ms"]
                                           / r["floor_named_4_cpu_ms"], 2)
    r["goals_met"] = {
        f"drums x4 with the memory (the default: the row users get) <= "
        f"{GOAL_DRUM_FLOOR_RATIO:g}x floor_4 (CPU)":
            r["memory_over_floor_4"] <= GOAL_DRUM_FLOOR_RATIO,
        f"drums x4, the network alone (memory off) <= {GOAL_DRUM_FLOOR_RATIO:g}x floor_4 "
        f"(CPU)": r["incremental_over_floor_4"] <= GOAL_DRUM_FLOOR_RATIO}
    return r


def add_drums_song():
    """The app's default seed with its first 4 bars repeated to ADD_DRUMS_BARS bars."""
    from engine.formats import load_song
    from engine.resources import default_seed
    from engine.song import Note

    seed = load_song(str(default_seed()))
    span = seed.ticks_per_bar_at(0) * 4
    song = seed.copy()
    for t in song.tracks:
        t.notes = [Note(n.pitch, n.start_tick + k * span, n.duration_ticks, n.velocity,
                        n.channel) for k in range(ADD_DRUMS_BARS // 4) for n in t.notes
                   if n.start_tick < span]
    return song


def add_drums_ms(library, name: str, repeats: int) -> dict:
    """Add Drums (jobs.run, as the app's worker calls it) to the 32-bar song: the first
    call (the drum model's sessions made) and the fastest of ``repeats`` later ones,
    wall and CPU ms, 1 and 4 variations."""
    from engine.generation import jobs
    from engine.generation.request import DRUMS, GenerationRequest, GenerationSettings

    song = add_drums_song()
    out: dict = {"bars": ADD_DRUMS_BARS, "seed": "assets/default_seed.mid, bars 1-4 repeated"}
    for k in (1, 4):
        request = GenerationRequest(DRUMS, GenerationSettings(model=name, variations=k,
                                                              key=None))
        w0, c0 = time.perf_counter(), time.process_time()
        result = jobs.run(library, song, request)
        if k == 1:
            out["first_call_wall_ms"] = round((time.perf_counter() - w0) * 1e3, 1)
            out["first_call_cpu_ms"] = round((time.process_time() - c0) * 1e3, 1)
        out["steps"] = result.steps
        wall, cpu = common.wall_and_cpu_ms(lambda: jobs.run(library, song, request), repeats)
        out[f"wall_ms_{k}"] = round(min(wall), 1)
        out[f"cpu_ms_{k}"] = round(min(cpu), 1)
        out[f"wall_ms_{k}_median"] = round(statistics.median(wall), 1)
    # wall: what the user waits for (a shared machine's other processes included); CPU:
    # what one core of its own would take
    out["goal_met"] = max(out["wall_ms_1"], out["wall_ms_4"], out["first_call_wall_ms"]) \
        < GOAL_ADD_DRUMS_MS
    out["goal_met_cpu"] = max(out["cpu_ms_1"], out["cpu_ms_4"], out["first_call_cpu_ms"]) \
        < GOAL_ADD_DRUMS_MS
    return out


DRUM_COLUMNS = [("model", 12), ("K", 2), ("steps", 6), ("incr CPU", 9), ("+memory", 9),
                ("floor", 8), ("of which steps", 15), ("incr/floor", 11), ("mem/floor", 10)]


def print_drum_table(drums: dict) -> None:
    models = drums["models"]
    if not models:
        return
    print(f"\ndrums: {DRUM_BARS} bars (12 steps a quarter) after {DRUM_SEED.name}; fastest of "
          f"{drums['repeats']} rounds, CPU ms; floor: numpy on the ONNX graph's own weights, "
          f"every network call the job makes (styles weighed, priming, steps)")
    common.print_table(DRUM_COLUMNS, (
        [name, k, r["steps"], common.cell(r, f"incremental_{k}_cpu_ms", "{:.1f}"),
         common.cell(r, f"incremental_{k}_memory_cpu_ms", "{:.1f}"),
         common.cell(r, f"floor_{k}_cpu_ms", "{:.1f}"),
         common.cell(r, "floor_steps_4_cpu_ms", "{:.1f}") if k == 4 else "",
         common.cell(r, f"incremental_over_floor_{k}", "{:.2f}"),
         common.cell(r, f"memory_over_floor_{k}", "{:.2f}")]
        for name, r in models.items() for k in (1, 4)))
    for name, r in models.items():
        print(f"{name}: floor against onnxruntime, max |diff| step "
              f"{r['floor_vs_onnx_max_abs_diff']:.2g}, sequence "
              f"{r['sequence_floor_vs_onnx_max_abs_diff']:.2g}; the job's sequence calls "
              f"{r['network_calls']['auto']['sequence']}, primings "
              f"{r['network_calls']['auto']['prime']} tokens")
        print(f"{name}: x4 with the memory in style {NAMED_STYLE} (no 'auto' search): "
              f"{r['named_4_memory_cpu_ms']:.1f} ms against its floor "
              f"{r['floor_named_4_cpu_ms']:.1f} ms, {r['named_memory_over_floor_4']:.2f}x")
        for goal, ok in r["goals_met"].items():
            print(f"{name:>12}: {'met   ' if ok else 'NOT MET'} {goal}")
    add = drums.get("add_drums")
    if add:
        print(f"Add Drums, {add['bars']} bars ({add['steps']} steps, model {add['model']}): "
              f"first call {add['first_call_wall_ms']:.0f} ms wall "
              f"({add['first_call_cpu_ms']:.0f} CPU); then 1 variation "
              f"{add['wall_ms_1']:.0f} ms wall ({add['cpu_ms_1']:.0f} CPU), 4 variations "
              f"{add['wall_ms_4']:.0f} ms wall ({add['cpu_ms_4']:.0f} CPU): under "
              f"{GOAL_ADD_DRUMS_MS:.0f} ms {'met' if add['goal_met'] else 'NOT MET'} in wall "
              f"time, {'met' if add['goal_met_cpu'] else 'NOT MET'} in CPU time")


def drum_figures(library, repeats: int) -> dict:
    """Every drum card's figures, and Add Drums with the default drum model."""
    from engine.generation.jobs.drums import drum_model_names

    out = {"seed": DRUM_SEED.name, "bars": DRUM_BARS, "repeats": repeats,
           "models": {}}
    names = drum_model_names(library)
    if names:  # first: its first call is the one that makes the sessions
        out["add_drums"] = {"model": names[0], **add_drums_ms(library, names[0], repeats)}
    out["models"] = {info.name: drum_model_ms(library, info, repeats)
                     for info in library.models if is_drum_card(info)}
    return out


def main(argv: list[str] | None = None) -> int:
    from engine.models import ModelLibrary

    ap = common.parser(__doc__, models_dir=True)
    common.add_out(ap, "drum_speed")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    args = ap.parse_args(argv)
    pinned = common.pinned_unless(args.no_pin)
    library = ModelLibrary(common.model_folders(args))
    results = {"command": common.command_line("drum_speed", argv), "cpu": pinned,
               "date": time.strftime("%Y-%m-%d %H:%M"),
               "load_average_before": common.load_averages(),
               "git": common.git_state("uncommitted_changes", "engine", "bench"),
               **drum_figures(library, args.repeats)}
    results["load_average_after"] = common.load_averages()
    print_drum_table(results)
    print()
    common.write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
