"""onnxruntime sessions for one model, and the recurrent state rings that make
generation incremental: one step-model call per new step, never a re-run over a window.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from engine.encodings import Encoding
from engine.errors import ModelError
from engine.models.card import ModelCard
from engine.models.conditioning import Conditioned, ConditioningInput

def session_options(threads: int = 1, optimization: str = "all", sequential: bool = True):
    """onnxruntime options for one-step, small-batch inference.

    Chosen by measurement (bench/generation.py, ``--options``): with a batch of one to
    eight and matrices of a few hundred columns, one step is tens of microseconds of
    work, so a thread pool only adds wake-up latency (and the machine's other cores are
    busy with the GUI and audio); full graph optimisation fuses the step graph's small
    ops, and sequential execution avoids the parallel executor's scheduling.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = (ort.ExecutionMode.ORT_SEQUENTIAL if sequential
                           else ort.ExecutionMode.ORT_PARALLEL)
    opts.graph_optimization_level = {
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    # no spinning: a worker that spins between steps steals a core from the GUI
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def _make_session(path: Path, what: str, options=None):
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), sess_options=options or session_options(),
                                    providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{what}: onnxruntime cannot load {path.name} ({reason[:300]})") from None


# A Transformer's sequence graph costs time and memory by the square of its input's length
# (every token's attention scores over every other, masked to the window: a 24,000-token
# motet would ask about 9 GB a layer).  Its output at a token depends on the last
# ``receptive_field_steps`` tokens alone, so a longer input is run in pieces of this many
# tokens, each with that much context before it, and priming feeds only the tokens the
# states depend on: the same numbers (to float rounding) for a cost linear in length.
SEQUENCE_PIECE = 4096


def attention_context(card: Mapping[str, Any]) -> int | None:
    """How many tokens back a model's output can depend on, where its sequence graph
    attends (a Transformer, or an ensemble with one) and that reach is bounded; None
    otherwise (a graph whose cost is linear in length, or an unbounded one: an LSTM).
    ``card``: the model card's JSON."""
    hp = card.get("hyperparameters") or {}
    kinds = [card.get("architecture"), hp.get("architecture")] + \
        [m.get("architecture") for m in hp.get("member_hyperparameters") or ()
         if isinstance(m, dict)]
    rf = card.get("receptive_field_steps")
    return int(rf) if "transformer" in kinds and isinstance(rf, int) and rf > 0 else None


def logits_in_pieces(run: Callable[[np.ndarray, int], np.ndarray], tokens: np.ndarray,
                     context: int | None, start: int = 0) -> np.ndarray:
    """``run(tokens, start)`` (a sequence graph's logits, ``[batch, time, vocab]``) over
    ``tokens`` (``[batch, time]``), in pieces of :data:`SEQUENCE_PIECE` tokens, each run
    with the ``context`` tokens before it, where the input is longer than a piece and its
    context; in one run otherwise (or where ``context`` is None)."""
    n = tokens.shape[1]
    if context is None or n <= SEQUENCE_PIECE + context:
        return run(tokens, start)
    out = None
    for begin in range(0, n, SEQUENCE_PIECE):
        low, end = max(0, begin - context), min(n, begin + SEQUENCE_PIECE)
        logits = run(np.ascontiguousarray(tokens[:, low:end]), start + low)
        if out is None:
            out = np.empty((tokens.shape[0], n, logits.shape[2]), dtype=logits.dtype)
        out[:, begin:end] = logits[:, begin - low:]
    return out


def _ring_length(delay: int) -> int:
    """The power of two above ``delay``: enough slots for a state of that delay."""
    return 1 << delay.bit_length()


class StepState:
    """The recurrent state of a batch, in buffers that onnxruntime reads and writes.

    Every state has a ring of buffers, as many as the power of two above its delay
    (2 for an LSTM's, 128 for a WaveNet's delay of 64).  The output of step ``s`` goes
    to slot ``s % ring`` and the input of step ``t`` is slot ``(t - delay) % ring``: the
    value produced at step ``t - delay``, or zeros before that.  Input and output are
    never the same buffer.  Every ring divides the longest, ``slots``, so the bindings
    repeat with period ``slots``; and a short delay keeps a short ring, whose buffers
    stay in the cache (one ring length for all states cost the duet model 3-6% of each
    step).

    The buffers are numpy arrays that onnxruntime uses in place (OrtValues over their
    memory), and one IOBinding per ring phase is bound once, so a step is a write of
    the tokens, one run and a copy of the logits: no feeds to convert, no outputs to
    allocate.  Measured on the shipped-size models this saves a fifth of each step.
    A model with conditioning inputs has one bound buffer per input, ``[batch, *shape]``,
    written before each step.
    """

    __slots__ = ("t", "batch", "slots", "buffers", "tokens", "logits", "bindings", "_values",
                 "conditioning")

    def __init__(self, batch: int, slots: int, buffers: list[np.ndarray], tokens: np.ndarray,
                 logits: np.ndarray, bindings: list, values: list,
                 conditioning: Sequence[np.ndarray] = ()) -> None:
        self.t = 0
        self.batch = batch
        self.slots = slots  # the period of the bindings: the longest ring
        self.buffers = buffers  # per state: [ring, batch, *shape] float32
        self.tokens = tokens  # [batch] int32, bound as the token input
        self.logits = logits  # [batch, vocab] float32, bound as the logits output
        self.bindings = bindings  # one IOBinding per phase t % slots
        self._values = values  # the OrtValues over the buffers, kept alive with them
        self.conditioning = list(conditioning)  # per conditioning input: [batch, *shape]

    def reset(self) -> None:
        self.t = 0
        for b in self.buffers:
            b.fill(0.0)


class StepModel:
    """One usable model: its card, and onnxruntime sessions created on first use.

    Bound states are expensive to set up for a WaveNet (one IOBinding per ring phase),
    so released ones are kept, per batch size, for the next generation.
    """

    MAX_FREE_STATES = 4

    def __init__(self, info: ModelCard, options=None) -> None:
        self.info = info
        self._options = options
        self._step_session = None
        self._seq_session = None
        self._lock = threading.Lock()
        self._free: dict[int, list[StepState]] = {}
        self._rings = [_ring_length(s.delay) for s in info.states]
        self._slots = max(self._rings, default=1)
        self._conditioning = info.conditioning
        # the encoding supplies the conditioning values step by step, when it can
        encoding = info.encoding
        self._source = encoding.conditioning if isinstance(encoding, Conditioned) else None
        self._context = attention_context(info.card)  # None: the sequence graph runs whole

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def encoding(self) -> Encoding:
        return self.info.encoding

    def _lazy_session(self, attribute: str, path: Path):
        """The session kept in ``attribute``, created from ``path`` on first use (once,
        when several threads ask together)."""
        session = getattr(self, attribute)
        if session is None:
            with self._lock:
                session = getattr(self, attribute)
                if session is None:
                    session = _make_session(path, self.info.card_path.name, self._options)
                    setattr(self, attribute, session)
        return session

    def _session(self):
        return self._lazy_session("_step_session", self.info.step_path)

    def _sequence_session(self):
        if self.info.sequence_path is None:
            raise ModelError(f"{self.info.card_path.name}: the model has no sequence graph, "
                             f"so it cannot score files")
        return self._lazy_session("_seq_session", self.info.sequence_path)

    def load(self) -> "StepModel":
        """Create the sessions a generation needs now (they are otherwise created on
        first use): the step session, and the sequence session when it primes."""
        self._session()
        if self.info.sequence_state_outputs:
            self._sequence_session()
        return self

    def _new_state(self, batch: int) -> StepState:
        import onnxruntime as ort

        session = self._session()
        info, slots = self.info, self._slots
        wrap = ort.OrtValue.ortvalue_from_numpy  # shares the numpy memory on the CPU
        tokens = np.zeros(batch, dtype=np.int32)
        logits = np.zeros((batch, info.vocab_size), dtype=np.float32)
        buffers = [np.zeros((ring, batch, *s.shape), dtype=np.float32)
                   for s, ring in zip(info.states, self._rings)]
        token_value, logits_value = wrap(tokens), wrap(logits)
        ring_values = [[wrap(slot) for slot in b] for b in buffers]
        given = [np.zeros((batch, *c.shape), dtype=c.numpy_dtype) for c in info.conditioning]
        given_values = [wrap(g) for g in given]
        bindings = []
        for phase in range(slots):
            io = session.io_binding()
            io.bind_ortvalue_input(info.token_input, token_value)
            io.bind_ortvalue_output(info.logits_output, logits_value)
            for spec, value in zip(info.conditioning, given_values):
                io.bind_ortvalue_input(spec.input, value)
            for spec, values in zip(info.states, ring_values):
                io.bind_ortvalue_input(spec.input, values[(phase - spec.delay) % len(values)])
                io.bind_ortvalue_output(spec.output, values[phase % len(values)])
            bindings.append(io)
        return StepState(batch, slots, buffers, tokens, logits, bindings,
                         [token_value, logits_value, ring_values, given_values], given)

    def initial_state(self, batch: int) -> StepState:
        """A zero state for ``batch`` rows (give it back with :meth:`release`)."""
        with self._lock:
            free = self._free.get(batch)
            state = free.pop() if free else None
        if state is None:
            return self._new_state(batch)
        state.reset()
        return state

    def release(self, state: StepState) -> None:
        """Keep a state that is no longer used for a later generation."""
        with self._lock:
            free = self._free.setdefault(state.batch, [])
            if len(free) < self.MAX_FREE_STATES and all(s is not state for s in free):
                free.append(state)

    def step(self, tokens: np.ndarray, state: StepState, copy: bool = True,
             conditioning: Mapping[str, Any] | None = None) -> np.ndarray:
        """Feed one token per batch row; returns the logits [batch, vocab] for the next
        token and advances ``state`` in place.  With ``copy=False`` the logits are the
        state's own buffer, which the next step overwrites.

        A model with conditioning inputs (its card's ``step_model.conditioning``) is fed
        ``conditioning`` (per input name, a value broadcastable to ``[batch, *shape]``),
        or when that is None what its encoding supplies for this step (``state.t``), an
        input left out its default.  A model without them ignores ``conditioning``."""
        state.tokens[:] = tokens
        if self._conditioning:
            self._condition(state, conditioning)
        self._step_session.run_with_iobinding(state.bindings[state.t % state.slots])
        state.t += 1
        return state.logits.copy() if copy else state.logits

    def stepper(self, state: StepState, steps: int,
                varying: Mapping[str, Any] | None = None,
                constant: Mapping[str, Any] | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """:meth:`step` for the next ``steps`` steps of ``state`` when their conditioning
        is known beforehand: a function of one token per row that returns the logits
        (the state's own buffer, as ``step(..., copy=False)``: the next call overwrites
        it), the same numbers as :meth:`step` fed the same values.

        ``varying[name]``: ``[steps, batch or 1, *shape]``, row ``k`` fed with the
        ``k``-th call's tokens; ``constant[name]``: one value broadcastable to
        ``[batch, *shape]`` for every step; an input in neither: its default.  The
        constant values are written into the bound inputs once, here, and a call
        copies each varying input's row, so a step costs the network and three small
        copies (no per-step checks)."""
        varying, constant = dict(varying or {}), dict(constant or {})
        specs = {c.input: c for c in self._conditioning}
        unknown = sorted((set(varying) | set(constant)) - set(specs))
        if unknown:
            raise ModelError(f"{self.info.card_path.name}: the model has no conditioning "
                             f"input named {', '.join(map(str, unknown))}")
        both = sorted(set(varying) & set(constant))
        if both:
            raise ModelError(f"conditioning input '{both[0]}' is given both varying and "
                             f"constant")
        session = self._session()
        pairs = []
        for spec, buffer in zip(self._conditioning, state.conditioning):
            if spec.input in varying:
                rows = np.asarray(varying[spec.input], dtype=spec.numpy_dtype)
                if rows.ndim != 2 + len(spec.shape) or rows.shape[0] < steps \
                        or rows.shape[1] not in (1, state.batch) or rows.shape[2:] != spec.shape:
                    raise ModelError(f"conditioning input '{spec.input}' over {steps} steps "
                                     f"takes [steps, {state.batch} or 1, "
                                     f"{', '.join(map(str, spec.shape))}] values, not "
                                     f"{list(rows.shape)}")
                pairs.append((buffer, rows))
            else:
                buffer[:] = _conditioning_value(spec, constant.get(spec.input))
        tokens_in, logits, bindings, slots = state.tokens, state.logits, state.bindings, \
            state.slots
        first = state.t
        run = session.run_with_iobinding

        def step(tokens: np.ndarray) -> np.ndarray:
            k = state.t - first
            if k >= steps:
                raise ModelError(f"a stepper of {steps} steps was asked for step {k + 1}")
            tokens_in[:] = tokens
            for buffer, rows in pairs:
                buffer[:] = rows[k]
            run(bindings[state.t % slots])
            state.t += 1
            return logits

        return step

    def conditioning_at(self, step: int,
                        given: Mapping[str, Any] | None = None) -> list[np.ndarray]:
        """Per conditioning input, in the card's order, its value for the token fed at
        ``step``: from ``given`` (None: from the encoding), else the input's default."""
        values = given if given is not None else (
            self._source(step) if self._source is not None else None)
        values = values or {}
        unknown = sorted(set(values) - {c.input for c in self._conditioning})
        if unknown:
            raise ModelError(f"{self.info.card_path.name}: the model has no conditioning "
                             f"input named {', '.join(map(str, unknown))}")
        return [_conditioning_value(spec, values.get(spec.input)) for spec in self._conditioning]

    def _condition(self, state: StepState, given: Mapping[str, Any] | None) -> None:
        for buffer, value in zip(state.conditioning, self.conditioning_at(state.t, given)):
            buffer[:] = value

    def _conditioning_feeds(self, batch: int, start: int, length: int) -> dict[str, np.ndarray]:
        """The sequence graph's conditioning inputs for the tokens of steps ``start`` to
        ``start + length - 1``: per input, ``[batch, length, *shape]``."""
        if not self._conditioning:
            return {}
        span = self.info.encoding.conditioning_span(start, length) \
            if self._source is not None else None
        if span is not None:  # the encoding's values for every step at once
            return {spec.input: _over_time(spec, span.get(spec.input), batch, length)
                    for spec in self._conditioning}
        per_step = [self.conditioning_at(start + t) for t in range(length)]
        feeds = {}
        for i, spec in enumerate(self._conditioning):
            over_time = np.empty((batch, length, *spec.shape), dtype=spec.numpy_dtype)
            for t, values in enumerate(per_step):
                over_time[:, t] = values[i]
            feeds[spec.input] = over_time
        return feeds

    def tiled(self, state: StepState, batch: int) -> StepState:
        """A new state of ``batch`` rows, each a copy of ``state``'s one row."""
        if state.batch != 1:
            raise ValueError("only a state of batch 1 can be tiled")
        return self.repeated(state, batch)

    def repeated(self, state: StepState, times: int) -> StepState:
        """A new state of ``state.batch * times`` rows: each row of ``state`` ``times``
        times over, side by side (row r becomes rows ``r * times`` to
        ``r * times + times - 1``)."""
        out = self.initial_state(state.batch * times)
        for dst, src in zip(out.buffers, state.buffers):
            dst[:] = np.repeat(src, times, axis=1)  # [ring, batch, ...]
        out.t = state.t
        return out

    def prime(self, tokens: Sequence[int], batch: int = 1, *,
              stepwise: bool = False) -> tuple[np.ndarray | None, StepState]:
        """Run ``tokens`` once through the model and return the logits after the last one
        ([batch, vocab], None for no tokens) and the state, ``batch`` identical rows.

        When the card's sequence graph gives the states (``state_outputs``), that is one
        sequence-graph call; otherwise (or with ``stepwise``) one step-model call per
        token at batch 1.  Both leave the same state (tests compare them)."""
        if len(tokens) and self.info.sequence_state_outputs and not stepwise:
            return self._prime_from_sequence(tokens, batch)
        state = self.initial_state(1)
        logits = None
        one = np.zeros(1, dtype=np.int32)
        for tok in tokens:
            one[0] = tok
            logits = self.step(one, state)
        if batch != 1:
            tiled = self.tiled(state, batch)
            self.release(state)
            state = tiled
            if logits is not None:
                logits = np.repeat(logits, batch, axis=0)
        return logits, state

    def _prime_from_sequence(self, tokens: Sequence[int],
                             batch: int) -> tuple[np.ndarray, StepState]:
        """One sequence-graph call; each state's last ``delay`` values go into the ring
        slots where stepping would have left them (step s writes slot s % ring)."""
        info = self.info
        session = self._sequence_session()
        feed = np.asarray(tokens, dtype=np.int32)[None, :]
        n = feed.shape[1]
        # an attending graph's states (the last window's keys and values of each layer)
        # depend on at most the receptive field before the window: twice the field
        skip = 0 if self._context is None else max(0, n - 2 * self._context)
        feed = feed[:, skip:]
        results = session.run([info.sequence_output, *info.sequence_state_outputs],
                              {info.sequence_input: feed,
                               **self._conditioning_feeds(1, skip, feed.shape[1])})
        state = self.initial_state(batch)
        for spec, buffer, tail in zip(info.states, state.buffers, results[1:]):
            if tail.shape != (1, spec.delay, *spec.shape):
                self.release(state)
                raise ModelError(f"{info.card_path.name}: the sequence graph's output for "
                                 f"state {spec.input} has shape {list(tail.shape)}, not "
                                 f"[1, {spec.delay}, {', '.join(map(str, spec.shape))}]")
            steps = np.arange(n - spec.delay, n)
            kept = steps >= 0  # earlier entries are the zeros before the first step
            # broadcast over the batch: every row starts from the same seed
            buffer[steps[kept] % len(buffer)] = tail[0, kept][:, None]
        state.t = n
        return np.repeat(results[0][:, -1], batch, axis=0), state

    def sequence_logits(self, tokens: np.ndarray, start: int = 0) -> np.ndarray:
        """The sequence graph: tokens [batch, time] -> logits [batch, time, vocab];
        ``logits[:, t]`` predicts token t + 1.  A conditioned model is fed its encoding's
        values for the steps ``start`` (the first token's) onwards."""
        tokens = np.ascontiguousarray(np.atleast_2d(tokens), dtype=np.int32)
        return logits_in_pieces(self._sequence_run, tokens, self._context, start)

    def _sequence_run(self, tokens: np.ndarray, start: int) -> np.ndarray:
        """One sequence-graph call on ``tokens`` ([batch, time], int32)."""
        feeds = {self.info.sequence_input: tokens,
                 **self._conditioning_feeds(tokens.shape[0], start, tokens.shape[1])}
        return self._sequence_session().run([self.info.sequence_output], feeds)[0]

    def score_tokens(self, tokens: Sequence[int]) -> tuple[float, int, int]:
        """Bits of one tune's tokens under the model, as docs/model-contract.md defines
        them: ``-log2 p(token)`` summed over every token after the first.  Returns
        (bits, tokens scored, NOTE_ON tokens among them)."""
        tokens = np.asarray(tokens, dtype=np.int32)
        if tokens.ndim != 1 or len(tokens) < 2:
            return 0.0, 0, 0
        logits = self.sequence_logits(tokens[None, :-1])[0].astype(np.float64)
        top = logits.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        targets = tokens[1:]
        nats = log_z - logits[np.arange(len(targets)), targets]
        notes = self.info.encoding.count_onsets(targets)
        return float(nats.sum() / np.log(2.0)), len(targets), notes


def _over_time(spec: ConditioningInput, value: Any, batch: int, length: int) -> np.ndarray:
    """``value`` (None: the input's default), broadcast to ``[batch, length, *shape]``."""
    out = np.empty((batch, length, *spec.shape), dtype=spec.numpy_dtype)
    out[:] = spec.default_value() if value is None else np.asarray(value, spec.numpy_dtype)
    return out


def _conditioning_value(spec: ConditioningInput, value: Any) -> np.ndarray:
    """``value`` (None: the input's default) as ``spec``'s dtype, checked to broadcast
    to ``[batch, *shape]``."""
    if value is None:
        return spec.default_value()
    array = np.asarray(value, dtype=spec.numpy_dtype)
    if array.shape[1:] == spec.shape:  # [batch or 1, *shape]: fits, checked at once
        return array
    try:
        fits = np.broadcast_shapes(array.shape, (1, *spec.shape))[1:] == spec.shape
    except ValueError:
        fits = False
    if not fits:
        raise ModelError(f"conditioning input '{spec.input}' takes [batch, "
                         f"{', '.join(map(str, spec.shape))}] values, not "
                         f"{list(array.shape)}")
    return array
