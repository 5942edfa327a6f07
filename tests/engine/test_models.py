"""Model cards checked against real exported ONNX files (the tiny models of
tests/conftest.py), and real onnxruntime sessions stepping them."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.errors import ModelError
from engine.models import ModelLibrary, read_onnx_signature, session_options


@pytest.fixture
def models_copy(tiny_models_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny models that a test may damage."""
    dest = tmp_path / "models"
    shutil.copytree(tiny_models_dir, dest)
    return dest


def _edit_card(folder: Path, name: str, edit) -> None:
    path = folder / f"{name}.json"
    card = json.loads(path.read_text())
    edit(card)
    path.write_text(json.dumps(card))


def _rehash(folder: Path, name: str, file: str) -> None:
    digest = hashlib.sha256((folder / file).read_bytes()).hexdigest()
    _edit_card(folder, name, lambda c: c["sha256"].__setitem__(file, digest))


def _problem_for(library: ModelLibrary, card: str) -> str:
    lines = [p for p in library.problems if p.startswith(f"{card}:")]
    assert len(lines) == 1, library.problems
    return lines[0]


def _assert_still_steps(library: ModelLibrary, name: str) -> None:
    model = library.get(name)
    logits, state = model.prime([20, 0, 0, 1], batch=2)
    assert logits.shape == (2, model.encoding.vocab_size)
    assert np.isfinite(model.step(np.array([22, 23], np.int32), state)).all()


def test_library_lists_both_tiny_models(tiny_models_dir):
    library = ModelLibrary([tiny_models_dir])
    assert library.problems == []
    assert library.names == ["lstm", "wavenet"]
    lstm, wavenet = library.models
    assert lstm.architecture == "lstm" and lstm.receptive_field_steps is None
    assert wavenet.architecture == "wavenet" and wavenet.receptive_field_steps == 33
    assert lstm.encoding.vocab_size == 38 and lstm.card_path == tiny_models_dir / "lstm.json"
    assert [s.delay for s in wavenet.states] == [1, 1, 2, 4, 8, 16]


def test_a_missing_folder_has_no_models(tmp_path):
    library = ModelLibrary([tmp_path / "nowhere"])
    assert library.models == [] and library.problems == []


@pytest.mark.parametrize("name", ["lstm", "wavenet"])
def test_step_model_matches_sequence_model(tiny_models_dir, name):
    """The ring buffers by delay reproduce the causal sequence graph exactly,
    also past the WaveNet's receptive field (33 steps)."""
    model = ModelLibrary([tiny_models_dir]).get(name)
    tokens = np.random.default_rng(5).integers(0, 38, size=(3, 80)).astype(np.int32)
    expected = model.sequence_logits(tokens)
    state = model.initial_state(3)
    stepped = np.stack([model.step(tokens[:, t], state) for t in range(80)], axis=1)
    assert np.abs(stepped - expected).max() <= 1e-4


def test_priming_at_batch_one_then_tiling_equals_a_full_batch(tiny_models_dir):
    model = ModelLibrary([tiny_models_dir]).get("wavenet")
    seed = [20, 0, 1, 25, 0, 27, 0, 0, 1, 30]
    logits, state = model.prime(seed, batch=3)
    expected_state = model.initial_state(3)
    for tok in seed:
        expected = model.step(np.full(3, tok, np.int32), expected_state)
    assert np.allclose(logits, expected, atol=1e-6)
    nxt = np.array([2, 5, 9], np.int32)
    assert np.allclose(model.step(nxt, state), model.step(nxt, expected_state), atol=1e-6)


@pytest.mark.parametrize("name", ["lstm", "wavenet"])
def test_a_repeated_state_steps_as_its_rows_would(tiny_models_dir, name):
    """Rows that went apart, then each repeated: every copy steps as its row would."""
    model = ModelLibrary([tiny_models_dir]).get(name)
    _, state = model.prime([20, 0, 1, 25, 0, 27], batch=2)
    for toks in ([3, 9], [0, 0], [30, 12]):
        model.step(np.array(toks, np.int32), state)
    copies = model.repeated(state, 3)
    assert copies.batch == 6 and copies.t == state.t
    nxt = np.array([5, 22], np.int32)
    after = model.step(np.repeat(nxt, 3), copies)
    expected = model.step(nxt, state)
    assert np.allclose(after, np.repeat(expected, 3, axis=0), atol=1e-6)
    assert np.abs(expected[0] - expected[1]).max() > 1e-3  # the rows did differ


@pytest.mark.parametrize("name", ["lstm", "wavenet"])
@pytest.mark.parametrize("length", [1, 5, 16, 17, 40, 90])
def test_priming_from_the_sequence_graph_leaves_the_state_stepping_would(
        tiny_models_dir, name, length):
    """One sequence-graph call fills the rings as one step call per seed token does:
    seeds shorter and longer than the WaveNet's largest delay (16) and its receptive
    field (33); the next 40 steps of 3 rows agree."""
    model = ModelLibrary([tiny_models_dir]).get(name)
    assert len(model.info.sequence_state_outputs) == len(model.info.states)
    seed = np.random.default_rng(length).integers(2, 38, size=length).tolist()
    fast_logits, fast = model.prime(seed, batch=3)
    slow_logits, slow = model.prime(seed, batch=3, stepwise=True)
    assert fast.t == slow.t == length
    assert np.abs(fast_logits - slow_logits).max() <= 1e-5
    rng = np.random.default_rng(7)
    for _ in range(40):
        tokens = rng.integers(0, 38, size=3).astype(np.int32)
        assert np.abs(model.step(tokens, fast) - model.step(tokens, slow)).max() <= 1e-5


def test_a_card_without_state_outputs_primes_step_by_step(models_copy):
    _edit_card(models_copy, "wavenet", lambda c: c["sequence_model"].pop("state_outputs"))
    model = ModelLibrary([models_copy]).get("wavenet")
    assert model.info.sequence_state_outputs == ()
    logits, state = model.prime([20, 0, 1, 25], batch=2)
    assert state.t == 4 and logits.shape == (2, 38)


@pytest.mark.parametrize("edit, words", [
    (lambda tails: tails.pop(), "one output per state"),
    (lambda tails: tails.__setitem__(2, "present_9_tail"), "no output named 'present_9_tail'"),
    (lambda tails: tails.__setitem__(1, "present_2_tail"),
     "has shape [N, 2, 8], the card expects [N, 1, 8]"),
])
def test_a_card_whose_state_outputs_disagree_is_refused(models_copy, edit, words):
    _edit_card(models_copy, "wavenet", lambda c: edit(c["sequence_model"]["state_outputs"]))
    library = ModelLibrary([models_copy])
    assert library.names == ["lstm"]
    assert words in _problem_for(library, "wavenet.json")
    _assert_still_steps(library, "lstm")


def test_a_card_whose_state_shape_disagrees_is_refused(models_copy):
    _edit_card(models_copy, "lstm",
               lambda c: c["step_model"]["states"][0].__setitem__("shape", [17]))
    library = ModelLibrary([models_copy])
    assert library.names == ["wavenet"]
    problem = _problem_for(library, "lstm.json")
    assert "h_0" in problem and "[N, 16]" in problem and "[N, 17]" in problem
    with pytest.raises(ModelError, match="no model named 'lstm'"):
        library.get("lstm")
    _assert_still_steps(library, "wavenet")


def test_a_card_naming_an_input_the_graph_lacks_is_refused(models_copy):
    _edit_card(models_copy, "wavenet",
               lambda c: c["step_model"].__setitem__("token_input", "note"))
    library = ModelLibrary([models_copy])
    problem = _problem_for(library, "wavenet.json")
    assert "no input named 'note'" in problem and "wavenet.onnx" in problem
    _assert_still_steps(library, "lstm")


def test_a_card_whose_vocabulary_disagrees_with_the_logits_is_refused(models_copy):
    def widen(card):
        card["encoding"]["max_pitch"] = 84
        card["encoding"]["vocab_size"] = 39

    _edit_card(models_copy, "lstm", widen)
    library = ModelLibrary([models_copy])
    problem = _problem_for(library, "lstm.json")
    assert "logits" in problem and "39" in problem
    _assert_still_steps(library, "wavenet")


def test_a_card_with_another_encoding_version_is_refused(models_copy):
    _edit_card(models_copy, "lstm", lambda c: c["encoding"].__setitem__("version", 2))
    library = ModelLibrary([models_copy])
    assert "melody-16th v2" in _problem_for(library, "lstm.json")


def test_a_truncated_onnx_file_is_refused_by_its_hash(models_copy):
    path = models_copy / "wavenet.onnx"
    path.write_bytes(path.read_bytes()[:5000])
    library = ModelLibrary([models_copy])
    problem = _problem_for(library, "wavenet.json")
    assert "wavenet.onnx is damaged" in problem and "sha256" in problem
    _assert_still_steps(library, "lstm")


def test_a_truncated_onnx_file_with_a_matching_hash_is_refused_as_damaged(models_copy):
    path = models_copy / "wavenet.onnx"
    path.write_bytes(path.read_bytes()[:5000])
    _rehash(models_copy, "wavenet", "wavenet.onnx")
    library = ModelLibrary([models_copy])
    problem = _problem_for(library, "wavenet.json")
    assert problem.startswith("wavenet.json: the ONNX file wavenet.onnx is damaged (")
    _assert_still_steps(library, "lstm")


def test_a_missing_sequence_file_is_refused(models_copy):
    (models_copy / "lstm.seq.onnx").unlink()
    library = ModelLibrary([models_copy])
    assert "lstm.seq.onnx is missing" in _problem_for(library, "lstm.json")


def test_a_graph_needing_custom_operators_is_refused(models_copy):
    onnx = pytest.importorskip("onnx")
    path = models_copy / "lstm.onnx"
    proto = onnx.load(str(path))
    proto.opset_import.append(onnx.helper.make_opsetid("org.example.custom", 1))
    path.write_bytes(proto.SerializeToString())
    _rehash(models_copy, "lstm", "lstm.onnx")
    library = ModelLibrary([models_copy])
    assert "custom operators (org.example.custom)" in _problem_for(library, "lstm.json")


def test_json_that_is_not_a_card_and_broken_json_are_listed(models_copy):
    (models_copy / "notes.json").write_text('{"hello": 1}')
    (models_copy / "broken.json").write_text('{"format": ')
    library = ModelLibrary([models_copy])
    assert library.names == ["lstm", "wavenet"]
    assert "not a Continuo model card" in _problem_for(library, "notes.json")
    assert "not valid JSON" in _problem_for(library, "broken.json")


def test_the_first_folder_wins_a_name_clash(tiny_models_dir, models_copy):
    _edit_card(models_copy, "lstm", lambda c: c.__setitem__("description", "the copy"))
    library = ModelLibrary([tiny_models_dir, models_copy])
    assert library.info("lstm").card_path.parent == tiny_models_dir
    assert sum("already found" in p for p in library.problems) == 2


def test_refresh_sees_a_new_card_and_keeps_loaded_sessions(tiny_models_dir, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    for f in ("lstm.json", "lstm.onnx", "lstm.seq.onnx"):
        shutil.copy(tiny_models_dir / f, folder / f)
    library = ModelLibrary([folder])
    first = library.get("lstm")
    for f in ("wavenet.json", "wavenet.onnx", "wavenet.seq.onnx"):
        shutil.copy(tiny_models_dir / f, folder / f)
    library.refresh()
    assert library.names == ["lstm", "wavenet"]
    assert library.get("lstm") is first


def test_unknown_model_names_the_known_ones(tiny_models_dir):
    with pytest.raises(ModelError, match=r"no model named 'gru' \(models: lstm, wavenet\)"):
        ModelLibrary([tiny_models_dir]).get("gru")


def test_read_onnx_signature_refuses_garbage():
    with pytest.raises(ValueError):
        read_onnx_signature(b"\x0a\xff\xff\xff\xff\x0f")  # a field longer than the data
    with pytest.raises(ValueError):
        read_onnx_signature(b"")  # no graph


def test_session_options_are_single_threaded_and_sequential():
    import onnxruntime as ort

    opts = session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1
    assert opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_score_tokens_agrees_with_stepping_the_step_model(tiny_models_dir):
    """Bits from the sequence graph == bits from the step graph's own softmax."""
    model = ModelLibrary([tiny_models_dir]).get("lstm")
    tokens = [20, 0, 1, 25, 0, 0, 27, 1, 30, 0, 1]
    bits, scored, notes = model.score_tokens(tokens)
    state = model.initial_state(1)
    expected = 0.0
    for prev, nxt in zip(tokens, tokens[1:]):
        z = model.step(np.array([prev], np.int32), state)[0].astype(np.float64)
        p = np.exp(z - z.max())
        expected -= np.log2(p[nxt] / p.sum())
    assert scored == 10 and notes == 3
    assert bits == pytest.approx(expected, abs=1e-3)


def test_a_graph_onnxruntime_cannot_load_is_refused_on_first_use(models_copy):
    """The signature looks right, so the card is listed; the session fails to build,
    and from then on the model is refused with onnxruntime's reason."""
    onnx = pytest.importorskip("onnx")
    path = models_copy / "lstm.onnx"
    proto = onnx.load(str(path))
    next(n for n in proto.graph.node if n.op_type == "Tanh").op_type = "NoSuchOperator"
    path.write_bytes(proto.SerializeToString())
    _rehash(models_copy, "lstm", "lstm.onnx")
    library = ModelLibrary([models_copy])
    assert library.names == ["lstm", "wavenet"]
    with pytest.raises(ModelError, match=r"^lstm.json: onnxruntime cannot load lstm.onnx \("):
        library.get("lstm")
    assert library.names == ["wavenet"]
    assert "onnxruntime cannot load" in _problem_for(library, "lstm.json")
    _assert_still_steps(library, "wavenet")


def test_the_user_models_folder_comes_from_the_environment(monkeypatch, tmp_path):
    from engine.models import REPO_MODELS_DIR, user_models_dir

    monkeypatch.setenv("CONTINUO_MODELS_DIR", str(tmp_path / "mine"))
    assert user_models_dir() == tmp_path / "mine"
    assert ModelLibrary().folders == [REPO_MODELS_DIR, tmp_path / "mine"]
    monkeypatch.delenv("CONTINUO_MODELS_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert user_models_dir() == tmp_path / "data" / "continuo" / "models"
