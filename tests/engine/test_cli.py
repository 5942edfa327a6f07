"""``python main.py generate`` and ``score`` run as a user runs them: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.encodings import DEFAULT_ENCODING
from engine.formats import midi_file_to_song, song_to_midi_file
from engine.models import ModelLibrary
from engine.song import Note, melody_song

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models"

TWO_TUNES_ABC = """X:1
T:First
M:4/4
L:1/8
K:G
GABc d2 B2 | c2 A2 B2 G2 | GABc d2 g2 | f2 d2 g4 |]

X:2
T:Second
M:3/4
L:1/4
K:Dm
D F A | d2 c | B A G | A3 | F E D | E2 C | D3 |]
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def seed_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "seed.mid"
    notes = [Note(p, i * 480, 480, 100 if i % 4 == 0 else 70)
             for i, p in enumerate([67, 67, 74, 74, 76, 76, 74, 72, 72, 71, 71, 69, 69, 67])]
    song_to_midi_file(melody_song(notes, bpm=90, time_signature=(4, 4)), path)
    return path


def assert_one_line_error(proc: subprocess.CompletedProcess, *phrases: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def test_generate_writes_the_seed_and_its_continuation(tiny_models_dir, seed_file, tmp_path):
    out = tmp_path / "out.mid"
    proc = run("generate", "--models-dir", str(tiny_models_dir), "--model", "wavenet",
               "--seed", str(seed_file), "--bars", "2", "--key", "G", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    song = midi_file_to_song(out)
    seed = midi_file_to_song(seed_file)
    assert song.tempo_map == seed.tempo_map
    notes = song.tracks[0].sorted_notes()
    assert notes[:14] == seed.tracks[0].sorted_notes()
    new = notes[14:]
    assert new and all(14 * 480 <= n.start_tick < 22 * 480 for n in new)


def test_generate_variations_one_file_each_and_byte_identical_reruns(tiny_models_dir,
                                                                     seed_file, tmp_path):
    args = ["generate", "--models-dir", str(tiny_models_dir), "--seed", str(seed_file),
            "--variations", "3", "--rng-seed", "5", "--temperature", "1.2", "--top-p", "0.95"]
    assert run(*args, "-o", str(tmp_path / "a.mid")).returncode == 0
    assert run(*args, "-o", str(tmp_path / "b.mid")).returncode == 0
    a = [(tmp_path / f"a-{i}.mid").read_bytes() for i in (1, 2, 3)]
    b = [(tmp_path / f"b-{i}.mid").read_bytes() for i in (1, 2, 3)]
    assert a == b and len(set(a)) == 3
    assert not (tmp_path / "a.mid").exists()


def test_generate_without_a_seed(tiny_models_dir, tmp_path):
    out = tmp_path / "new.mid"
    proc = run("generate", "--models-dir", str(tiny_models_dir), "--key", "Am", "--bars", "1",
               "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "tonic of Am" in proc.stderr
    notes = midi_file_to_song(out).tracks[0].sorted_notes()
    assert notes[0].start_tick == 0 and notes[0].pitch % 12 == 9


@pytest.mark.parametrize("args,phrases", [
    (["--seed", "{tmp}/missing.mid"], ["missing.mid", "no such"]),
    (["--seed", "{tmp}/garbage.mid"], ["garbage.mid", "not a MIDI file"]),
    (["--model", "gru"], ["no model named 'gru'"]),
    (["--bars", "40"], ["bars must be between 1 and 32"]),
    (["--bars", "many"], ["--bars", "invalid int value"]),
    (["--temperature", "2.5"], ["temperature must be between 0 and 2"]),
    (["--top-p", "0"], ["top-p must be above 0"]),
    (["--variations", "0"], ["variations must be between 1 and 8"]),
    (["--key", "Q#"], ["'Q#' is not a key"]),
    (["--frobnicate"], ["unrecognized arguments: --frobnicate"]),
])
def test_generate_mistakes_are_one_line_and_a_failure(tiny_models_dir, tmp_path, args, phrases):
    (tmp_path / "garbage.mid").write_bytes(b"this is not a midi file at all")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = run("generate", "--models-dir", str(tiny_models_dir), *args,
               "-o", str(tmp_path / "o.mid"))
    assert_one_line_error(proc, *phrases)
    assert not (tmp_path / "o.mid").exists()


def test_a_refused_model_says_why(tiny_models_dir, tmp_path):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(tiny_models_dir, folder)
    onnx_file = folder / "lstm.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:1000])
    proc = run("generate", "--models-dir", str(folder), "--model", "lstm",
               "-o", str(tmp_path / "o.mid"))
    assert_one_line_error(proc, "model 'lstm' was refused", "lstm.onnx is damaged")


def test_score_multi_tune_abc_tune_by_tune(tiny_models_dir, tmp_path):
    abc = tmp_path / "two.abc"
    abc.write_text(TWO_TUNES_ABC)
    proc = run("score", "--models-dir", str(tiny_models_dir), "--model", "lstm",
               "--per-tune", str(abc))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    tunes = report["files"][0]["tunes"]
    assert [t["title"] for t in tunes] == ["First", "Second"]
    # every note after a tune's first is scored: 19 - 1 and 15 - 1
    assert [t["notes"] for t in tunes] == [18, 14]
    assert report["notes"] == 32
    assert report["total_bits"] == pytest.approx(sum(t["bits"] for t in tunes))
    assert report["bits_per_note"] == pytest.approx(report["total_bits"] / 32)
    # a random model is about as good as a uniform guess over 38 tokens (5.2 bits)
    assert 2 < report["total_bits"] / report["tokens"] < 8


def test_score_a_midi_file_matches_the_library(tiny_models_dir, seed_file):
    proc = run("score", "--models-dir", str(tiny_models_dir), "--model", "wavenet",
               "--memory", "off", str(seed_file))  # the network alone, as the library
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    song = midi_file_to_song(seed_file)
    tokens = DEFAULT_ENCODING.encode_notes(song.tracks[0].notes, song.ppq, closing_off=True).tokens
    bits, scored, notes = ModelLibrary([tiny_models_dir]).get("wavenet").score_tokens(tokens)
    assert report["notes"] == notes == 13 and report["tokens"] == scored
    assert report["total_bits"] == pytest.approx(bits, rel=1e-9)


def test_score_mistakes_are_one_line(tiny_models_dir, tmp_path):
    assert_one_line_error(run("score", "--models-dir", str(tiny_models_dir), "--model", "x",
                              str(tmp_path / "a.mid")), "no model named 'x'")
    assert_one_line_error(run("score", "--models-dir", str(tiny_models_dir),
                              str(tmp_path / "nothing.abc")), "nothing.abc", "no such file")


# ---- the shipped models ---------------------------------------------------------------


def _shipped_cards() -> list[Path]:
    return sorted(SHIPPED.glob("*.json")) if SHIPPED.is_dir() else []


@pytest.mark.slow
@pytest.mark.parametrize("card", _shipped_cards() or [None],
                         ids=lambda c: c.stem if c else "none")
def test_score_reproduces_the_cards_test_split_bits_per_note(card, tmp_path):
    """The test split (from training's corpus cache, the tokens training scored) written
    as one MIDI file per tune and scored by ``score`` gives the card's figure."""
    if card is None:
        pytest.skip("models/ holds no model cards yet")
    info = json.loads(card.read_text())
    expected = (info.get("metrics") or {}).get("test", {}).get("bits_per_note")
    if expected is None:
        pytest.skip(f"{card.name} has no test-split bits per note yet")
    if info.get("encoding", {}).get("name", "").startswith("drums"):
        pytest.skip(f"{card.name} is scored on the held-out grooves (bits per drum hit): "
                    f"python -m training drum-memory-sweep --score test")
    if info.get("encoding", {}).get("polyphonic"):
        pytest.skip(f"{card.name} is scored on the part-music corpus's test split: "
                    f"python -m training partmusic --paths test | xargs -d '\\n' "
                    f"python main.py score --model {info['name']}")
    corpus_mod = pytest.importorskip("training.corpus")
    corpus = corpus_mod.load_corpus(corpus_mod.TRAIN_COLLECTION)
    if corpus is None:
        pytest.skip("training's corpus cache (training/cache) has not been built here")
    files = []
    for k, tokens in enumerate(corpus.split("test")):
        notes = DEFAULT_ENCODING.decode([int(t) for t in tokens], 480)
        path = tmp_path / f"test-{k:04d}.mid"
        song_to_midi_file(melody_song(notes), path)
        files.append(str(path))
    proc = run("score", "--model", info["name"], "--memory", "off", *files)  # the network alone
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["notes"] == info["metrics"]["test"]["notes"]
    assert abs(report["bits_per_note"] - expected) <= 0.01, (report["bits_per_note"], expected)


def test_the_round_trip_to_midi_keeps_training_tokens():
    """What the check above relies on: tokens -> MIDI -> the engine's encoding gives the
    same tokens, for tunes in C major and in A minor."""
    for tokens in ([2 + 60 - 48, 0, 1, 2 + 64 - 48, 0, 0, 0, 2 + 67 - 48, 2 + 72 - 48, 0, 1],
                   [2 + 57 - 48, 0, 2 + 60 - 48, 2 + 64 - 48, 0, 1, 0, 2 + 57 - 48, 0, 0, 1]):
        notes = DEFAULT_ENCODING.decode(tokens, 480)
        again = DEFAULT_ENCODING.encode_notes(notes, 480, closing_off=True).tokens
        assert again == tokens


def test_the_cli_reads_exactly_the_suffixes_of_the_formats_table(tmp_path, monkeypatch, capsys):
    """``generate --seed`` and ``score`` hand a file to a reader exactly when its suffix is
    in engine.formats.READERS; any other is one sentence that lists those suffixes."""
    import argparse
    from types import SimpleNamespace

    from engine import cli, formats
    from engine.cli import common, score
    from engine.formats import READERS

    class Reached(Exception):
        pass

    def reader(path, *args, **kwargs):
        raise Reached(path)

    monkeypatch.setattr(formats, "load_song", reader)
    monkeypatch.setattr(formats, "list_score_tunes", reader)
    model = SimpleNamespace(name="lstm", encoding=DEFAULT_ENCODING,
                            info=SimpleNamespace(jobs=("continue",)))
    monkeypatch.setattr(score, "model_library",
                        lambda args: SimpleNamespace(get=lambda name: model))
    parser = argparse.ArgumentParser()
    cli.add_subcommands(parser.add_subparsers())
    suffixes = [*READERS, *(s.upper() for s in READERS), ".wav", ".txt", ".bak", ""]
    for command in (["generate", "-o", str(tmp_path / "o.mid"), "--seed"], ["score"]):
        accepted = set()
        for suffix in suffixes:
            path = tmp_path / f"song{suffix}"
            path.write_bytes(b"")
            args = parser.parse_args([*command, str(path)])
            try:
                assert args.handler(args) == common.EXIT_ERROR
            except Reached:
                accepted.add(suffix.lower())
                continue
            err = capsys.readouterr().err
            assert f"song{suffix}: Continuo reads files ending in " \
                   f"{', '.join(READERS)}; this file is none of them" in err, err
        assert accepted == set(READERS), command


def test_the_gui_imports_nothing_from_the_cli():
    """The command line is a room of its own (engine/cli/): the GUI takes what it shares
    with it from the engine (engine.generation.parts_song and the like), never from it."""
    import ast

    found = []
    for path in sorted((REPO / "gui").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            if any(n == "engine.cli" or n.startswith("engine.cli.") for n in names):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not found, found
