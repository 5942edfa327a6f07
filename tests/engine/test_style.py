"""Styles (engine.generation.style): built from a real folder of tunes (a multi-tune ABC
file from music21's corpus and MIDI files written by the engine), saved and found
again, mixed with the shipped duet model for scoring and generating, through the API
and through ``python main.py``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.encodings import DEFAULT_ENCODING
from engine.errors import Cancelled, GenerationError, StyleError
from engine.formats import midi_file_to_song, song_to_midi_file
from engine.generation.generator import GenerationSettings, generate
from engine.generation.memory import score_tokens_with_memory
from engine.generation.style import (StyleMixer, build_style, folder_fingerprint,
                                     list_styles, load_style, resolve_style,
                                     score_tokens_with_style, style_for_folder)
from engine.models import ModelLibrary
from engine.song import Note, melody_song

music21 = pytest.importorskip("music21")
REPO = Path(__file__).resolve().parents[2]
ERK5 = Path(music21.__file__).parent / "corpus" / "essenFolksong" / "erk5.abc"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """The user's models folder, where styles are saved (CONTINUO_MODELS_DIR)."""
    folder = tmp_path_factory.mktemp("user_models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONTINUO_MODELS_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def tunes_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("my tunes")
    shutil.copy(ERK5, folder / "erk5.abc")
    (folder / "more").mkdir()
    notes = [Note(p, i * 240, 240, 90, 0) for i, p in enumerate([72, 74, 76, 77, 79, 77, 76, 74] * 4)]
    song_to_midi_file(melody_song(notes), folder / "more" / "scale.mid")
    (folder / "more" / "broken.mid").write_bytes(b"MThd no")
    return folder


@pytest.fixture(scope="module")
def style(models_dir, tunes_folder):
    return build_style(tunes_folder, DEFAULT_ENCODING)


@pytest.fixture(scope="module")
def duet():
    return ModelLibrary().get("duet")


@pytest.fixture(scope="module")
def seed_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "seed.mid"
    notes = [Note(p, i * 480, 480, 90) for i, p in enumerate([67, 67, 74, 74, 76, 76, 74])]
    song_to_midi_file(melody_song(notes), path)
    return path


def test_built_saved_and_found_again(style, tunes_folder, models_dir):
    assert style.name == tunes_folder.name and style.built_now
    assert style.tunes == 28 and style.files == 3  # 27 tunes in erk5.abc + the scale
    assert style.problems == ["more/broken.mid: the file is too short to be a MIDI file "
                              "(7 bytes)"]
    assert 4 <= style.order <= 12 and len(style.bits_by_order) == 9
    assert style.path.parent == models_dir / "styles"
    assert style.path.with_suffix(".npz").is_file()
    again = load_style(style.path)
    assert (again.name, again.order, again.fingerprint, again.tunes, again.notes) == \
        (style.name, style.order, style.fingerprint, style.tunes, style.notes)
    tune = style.tune_tokens[5]
    assert np.allclose(again.ngram.distributions(tune), style.ngram.distributions(tune))
    assert [t.tolist() for t in again.tune_tokens] == [t.tolist() for t in style.tune_tokens]
    assert [s.path for s in list_styles()] == [style.path]
    found = style_for_folder(tunes_folder, DEFAULT_ENCODING)
    assert found.path == style.path and not found.built_now


def test_a_changed_folder_is_built_again(models_dir, tunes_folder, tmp_path):
    folder = tmp_path / "changing"
    shutil.copytree(tunes_folder, folder)
    first = style_for_folder(folder, DEFAULT_ENCODING)
    notes = [Note(60 + i % 5, i * 240, 240, 90, 0) for i in range(16)]
    song_to_midi_file(melody_song(notes), folder / "new.mid")
    second = style_for_folder(folder, DEFAULT_ENCODING)
    assert second.built_now and second.path == first.path
    assert second.fingerprint != first.fingerprint and second.tunes == first.tunes + 1


def test_a_folder_without_music_and_a_damaged_style_are_clear_errors(models_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StyleError, match="empty: no music to learn from"):
        build_style(tmp_path / "empty", DEFAULT_ENCODING)
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    with pytest.raises(StyleError, match="junk.json: the saved style cannot be read"):
        load_style(junk)
    junk.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(StyleError, match="not a saved Continuo style"):
        load_style(junk)


def test_building_can_be_cancelled(models_dir, tunes_folder):
    with pytest.raises(Cancelled):
        build_style(tunes_folder, DEFAULT_ENCODING, is_cancelled=lambda: True)


def test_shares_are_fitted_once_per_network_and_kept(style, duet):
    share = style.shares_for(duet, memory=True)
    assert share.shape == (style.order * 4,) and (share > 0).all() and (share < 1).all()
    saved = load_style(style.path).shares
    assert saved["duet"] == [round(float(x), 5) for x in share]
    style.shares_for(duet, memory=False)
    assert set(load_style(style.path).shares) == {"duet", "duet (memory off)"}


def test_the_style_helps_on_its_own_music(style, duet):
    """The folder's own tunes are better predicted with their style mixed in."""
    with_style = np.array([score_tokens_with_style(duet, t, style, True)
                           for t in style.tune_tokens[:10]])
    memory_only = np.array([score_tokens_with_memory(duet, t) for t in style.tune_tokens[:10]])
    assert (with_style[:, 1:] == memory_only[:, 1:]).all()  # the same tokens and notes
    assert with_style[:, 0].sum() < 0.95 * memory_only[:, 0].sum()


def test_the_generators_mixer_gives_the_scores_probabilities(style, duet):
    tokens = style.tune_tokens[3]
    bits, _, _ = score_tokens_with_style(duet, tokens, style, memory=False)
    logits = duet.sequence_logits(tokens[None, :-1])[0]
    mixer = StyleMixer(style, duet, 1, tokens[:1], None)
    total = 0.0
    for t, target in enumerate(tokens[1:]):
        total -= mixer(logits[t][None])[0, target] / np.log(2)
        mixer.update(np.array([target]))
    assert total == pytest.approx(bits, rel=1e-9)


def test_generating_with_a_style_changes_the_notes_and_is_deterministic(style, duet,
                                                                         seed_file):
    library = ModelLibrary()
    seed = midi_file_to_song(seed_file)

    def notes(style_path):
        settings = GenerationSettings(model="duet", bars=8, variations=2, rng_seed=3,
                                      style=style_path)
        return [[(n.pitch, n.start_tick, n.duration_ticks) for n in v]
                for v in generate(library, seed, settings).variations]

    plain, styled = notes(None), notes(str(style.path))
    assert styled != plain
    assert styled == notes(str(style.path)) == notes(style.folder)


def test_a_style_is_refused_for_a_polyphonic_model_and_a_missing_folder(style, seed_file):
    library = ModelLibrary()
    with pytest.raises(GenerationError, match="a style joins a melody model"):
        generate(library, midi_file_to_song(seed_file),
                 GenerationSettings(model="poly-lstm", style=str(style.path)))
    with pytest.raises(StyleError, match="no such folder or file"):
        generate(library, None, GenerationSettings(model="duet", style="/no/such/folder"))
    with pytest.raises(GenerationError, match="a style is a folder"):
        GenerationSettings(style="").validate()


# ---- through the command line --------------------------------------------------------


def run(*args: str, models_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CONTINUO_MODELS_DIR=str(models_dir))
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_score_and_generate_with_a_style(tunes_folder, seed_file, tmp_path):
    models = tmp_path / "models"
    tune = tunes_folder / "more" / "scale.mid"
    proc = run("score", "--model", "duet", "--style", str(tunes_folder), str(tune),
               models_dir=models)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["style"]["name"] == tunes_folder.name and report["style"]["tunes"] == 28
    assert "built in" in proc.stderr and "skipped more/broken.mid" in proc.stderr
    plain = json.loads(run("score", "--model", "duet", str(tune), models_dir=models).stdout)
    assert plain["style"] == "off"
    assert report["bits_per_note"] < plain["bits_per_note"]

    outs = []
    for name, extra in (("a", ["--style", str(tunes_folder)]),
                        ("b", ["--style", str(tunes_folder)]), ("c", [])):
        out = tmp_path / f"{name}.mid"
        proc = run("generate", "--model", "duet", "--seed", str(seed_file), "--bars", "8",
                   "--rng-seed", "5", *extra, "-o", str(out), models_dir=models)
        assert proc.returncode == 0, proc.stderr
        outs.append(out.read_bytes())
    assert "saved before" in proc.stderr or extra == []
    assert outs[0] == outs[1] != outs[2]

    proc = run("score", "--model", "duet", "--style", str(tmp_path / "nothing"), str(tune),
               models_dir=models)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "nothing: a style is a folder of music or a saved style (.json); there is no " \
        "such folder or file" in proc.stderr


# ---- a damaged saved style mends itself ----------------------------------------------


def _rewrite_npz(path: Path, change) -> None:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def _flip_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))


DAMAGES = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
    "bytes flipped inside the compressed data": _flip_middle,
    "not an archive at all": lambda p: p.write_bytes(b"\x00" * 300),
    "empty": lambda p: p.write_bytes(b""),
    "an array missing": lambda p: _rewrite_npz(p, lambda a: a.pop("tokens")),
    "tokens beyond the vocabulary": lambda p: _rewrite_npz(
        p, lambda a: a.__setitem__("tokens", a["tokens"].astype(np.int64) + 10_000)),
    "deleted": lambda p: p.unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_style_is_built_again_from_its_folder(damage, tmp_path, monkeypatch):
    monkeypatch.setenv("CONTINUO_MODELS_DIR", str(tmp_path / "models"))
    folder = tmp_path / "tunes"
    folder.mkdir()
    notes = [Note(p, i * 240, 240, 90, 0) for i, p in enumerate([72, 74, 76, 79, 77, 74] * 4)]
    song_to_midi_file(melody_song(notes), folder / "a.mid")
    first = style_for_folder(folder, DEFAULT_ENCODING)
    expected = [t.tolist() for t in first.tune_tokens]
    DAMAGES[damage](first.arrays_path)
    with pytest.raises(StyleError, match=f"{first.name}: the saved style"):
        load_style(first.path).load_arrays()  # what a generation would have met
    again = style_for_folder(folder, DEFAULT_ENCODING)  # by its folder
    assert again.built_now and [t.tolist() for t in again.tune_tokens] == expected
    DAMAGES[damage](again.arrays_path)
    by_json = resolve_style(str(again.path), DEFAULT_ENCODING)  # by its JSON, as the GUI
    assert by_json.built_now and [t.tolist() for t in by_json.tune_tokens] == expected
    assert load_style(again.path).load_arrays().order == again.order  # saved mended


def test_a_damaged_style_whose_folder_is_gone_is_refused_in_one_line(tmp_path, seed_file):
    models = tmp_path / "models"
    folder = tmp_path / "gone"
    folder.mkdir()
    notes = [Note(p, i * 240, 240, 90, 0) for i, p in enumerate([72, 74, 76, 79] * 6)]
    song_to_midi_file(melody_song(notes), folder / "a.mid")
    proc = run("score", "--model", "duet", "--style", str(folder), str(folder / "a.mid"),
               models_dir=models)
    assert proc.returncode == 0, proc.stderr
    saved = next((models / "styles").glob("*.json"))
    _flip_middle(saved.with_suffix(".npz"))
    shutil.rmtree(folder)
    proc = run("generate", "--model", "duet", "--seed", str(seed_file), "--style", str(saved),
               "-o", str(tmp_path / "out.mid"), models_dir=models)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "the saved style is damaged and its folder" in proc.stderr


def test_the_fingerprint_follows_the_contents_not_the_file_times(tmp_path):
    folder = tmp_path / "tunes"
    folder.mkdir()
    path = folder / "a.mid"
    notes = [Note(p, i * 240, 240, 90, 0) for i, p in enumerate([72, 74, 76, 79])]
    song_to_midi_file(melody_song(notes), path)
    before = folder_fingerprint(folder)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # touched: the same music
    assert folder_fingerprint(folder) == before
    data = bytearray(path.read_bytes())
    data[-8] ^= 1  # the same size, other bytes
    path.write_bytes(bytes(data))
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert folder_fingerprint(folder) != before


def test_a_style_just_fitted_mixes_as_the_same_style_loaded_from_its_file(style, duet):
    """The shares are kept as they are saved (issue 22: a fresh style scored the golden
    seed 76.59612807697192 bits, the same style loaded 76.5961423019413)."""
    tokens = style.tune_tokens[2]
    fresh = load_style(style.path).load_arrays()
    fresh.shares = {}  # as if just built: fitted here, and saved
    fitted = score_tokens_with_style(duet, tokens, fresh, memory=True)
    loaded = score_tokens_with_style(duet, tokens, load_style(style.path).load_arrays(),
                                     memory=True)
    assert fitted == loaded


def test_a_saved_style_is_read_once_per_process_until_its_files_change(style):
    first = resolve_style(style.path, DEFAULT_ENCODING)
    assert resolve_style(style.path, DEFAULT_ENCODING) is first
    os.utime(style.path, ns=(1, 1))  # the file changed: read again
    again = resolve_style(style.path, DEFAULT_ENCODING)
    assert again is not first and again.shares == first.shares
