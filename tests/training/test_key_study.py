"""The key-estimator study (training/studies/key_study.py) on the first tunes of a real Essen file."""

import json

import numpy as np
import pytest

from engine.encodings import DEFAULT_ENCODING
from engine.encodings.keys import Key
from engine.song import Note
from training.cli import main as training_main
from training import corpus as C
from training.studies import key_study as K


@pytest.fixture(scope="module")
def tunes():
    return K.parse_tunes(C.collection_files(C.TRAIN_COLLECTION)[:1], limit=80,
                         show_progress=False)


def test_header_keys():
    assert K.header_key("G") == Key(7)
    assert K.header_key("Dm") == Key(2, True)
    assert K.header_key("H") == Key(11) and K.header_key("Es") == Key(3)
    assert K.header_key(None) is None and K.header_key("none") is None


def test_mode_on_a_minor_tune():
    a_minor = [Note(p, i * 480, 480) for i, p in enumerate([69, 71, 72, 74, 76, 72, 69, 64, 69])]
    assert K.mode_on(9, a_minor) == Key(9, True)
    assert K.mode_on(0, a_minor[2:]) in (Key(0), Key(0, True))


def test_scale_puts_a_dorian_tune_on_the_white_keys():
    d_dorian = [Note(p, i * 480, 480) for i, p in enumerate([62, 64, 65, 67, 69, 71, 72, 74, 62])]
    assert K.scale_key(d_dorian).shift_to_c == 0
    g_major = [Note(p + 7, n.start_tick, n.duration_ticks) for n, p in
               zip(d_dorian, [60, 62, 64, 65, 67, 69, 71, 72, 60])]
    assert K.scale_key(g_major) == Key(7)


def test_parsed_tunes_keep_what_the_corpus_keeps(tunes):
    assert tunes and {"test", "train"} <= {t["split"] for t in tunes}
    for t in tunes[:10]:
        notes = K._notes(t)
        assert K.ESTIMATORS["today"][1](t, notes) == DEFAULT_ENCODING.encode_tune(
            notes, t["ppq"]).key
        assert t["header"] is not None


def test_study_writes_its_table(tunes, tmp_path):
    cache, out = tmp_path / "tunes.json", tmp_path / "key-estimator.json"
    cache.write_text(json.dumps(tunes))
    assert training_main(["key-study", "--tunes-cache", str(cache), "--orders", "2", "3", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = result["estimators"]
    assert list(rows) == list(K.ESTIMATORS)
    assert rows["today"]["tokens_differ_all"] == 0 and rows["today"]["key_differs_all"] == 0
    assert 0 < rows["final-note"]["tokens_differ_all"] < 1
    for r in rows.values():
        assert r["kn"]["order"] in (2, 3)
        assert np.isfinite(r["kn"]["test"]) and 1 < r["lstm"] < 10
    assert 1 < rows["today"]["lstm_any_key"] < 10 and "any key" in K.table(result)
    assert result["common_tunes"] <= result["tunes"] == len(tunes)
    assert "--orders 2 3 --tunes-cache" in result["command"] and result["parse_seconds"] is None


def test_write_corpora_for_training(tunes, tmp_path):
    paths = K.write_corpora(tunes, ["today", "scale"], tmp_path)
    today = C.load_corpus(C.TRAIN_COLLECTION, tmp_path / "today")
    scale = C.load_corpus(C.TRAIN_COLLECTION, tmp_path / "scale")
    assert set(paths) == {"today", "scale"} and today.ids == scale.ids
    assert today.splits == scale.splits and len(today.ids) <= len(tunes)
    by_id = {t["id"]: t for t in tunes}
    for i, tokens in zip(today.ids[:10], today.tunes[:10]):
        t = by_id[i]
        assert np.array_equal(tokens, DEFAULT_ENCODING.encode_tune(K._notes(t), t["ppq"]).tokens)
    assert any(not np.array_equal(a, b) for a, b in zip(today.tunes, scale.tunes))
    with pytest.raises(Exception):
        K.write_corpora(tunes, ["no-such"], tmp_path)


def test_score_runs_into_the_study_file(tunes, tmp_path):
    cache, out = tmp_path / "tunes.json", tmp_path / "key-estimator.json"
    cache.write_text(json.dumps(tunes))
    out.write_text(json.dumps({"estimators": {}}))
    card = str(C.CACHE_DIR.parent.parent / "models" / "lstm.json")
    assert training_main(["key-study", "--tunes-cache", str(cache), "--out", str(out), "--score-runs",
                   f"today={card}", f"scale={card}", f"today@again={card}",
                   f"scale@again={card}"]) == 0
    result = json.loads(out.read_text())
    assert result["estimators"] == {}
    runs = result["network_trial"]["runs"]
    assert list(runs) == ["today", "scale", "today@again", "scale@again"]
    assert runs["today@again"]["estimator"] == "today"
    # the same network: any key is the same data, so the very same figure
    assert runs["today"]["test_any_key"] == runs["scale"]["test_any_key"]
    assert runs["today@again"]["test_any_key_vs_today_95"] == [0.0, 0.0]
    assert runs["scale@again"]["test_any_key_vs_today@again_95"] == [0.0, 0.0]
    assert runs["scale@again"]["test_vs_today@again_95"] == runs["scale"]["test_vs_today_95"]
    assert 1 < runs["today"]["test"] < 10 and 1 < runs["scale"]["validation"] < 10
    assert runs["today"]["training"]["epochs"] and "--score-runs" in \
        result["network_trial"]["commands"][0]
