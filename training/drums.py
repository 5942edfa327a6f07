"""Drum models: the grooves corpus as tokens and conditioning, training the
``drums-lstm`` architecture, its export (the two ONNX graphs with the conditioning
inputs, and the card), the Kneser-Ney baseline of the same encoding, and the figures.

``python -m training grooves`` renders mma's grooves (training/datasets/grooves.py);
``python -m training drums --minutes M`` trains, exports to ``models/drums-lstm.*`` and
scores: bits per drum hit (and per step) on the held-out groove files, with the style
unknown (as ``main.py score`` reads a MIDI file) and given, beside the Kneser-Ney
n-gram's, and on the second test set (drum tracks of MIDI files Debian ships that mma's
pattern engine did not make: tests/data/external's pflib and mid2seq files).
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from engine.encodings.drums import (CONDITIONING, KIT, LEVELS, DrumEncoding, is_drum_track,
                                    style_id)
from engine.formats.midi import midi_file_to_song
from engine.models.card import make_card, write_card
from engine.song import Song
from training.datasets import grooves as G

NAME = "drums-lstm"
WINDOW = 192  # tokens a training window reads (4 bars of 4/4)
STYLE_DROPOUT = 0.25  # share of windows that train the "style unknown" case
ONSET_DROPOUT = 0.2  # share of windows that hear no other parts (drums alone)
MIN_COMBO_COUNT = 2  # a hit set joins the vocabulary when the training grooves play it this often
HUMAN_SET = ("pflib", "mid2seq")  # tests/data/external files not made by mma's pattern engine


@dataclass
class Example:
    """One song's drum tokens and conditioning rows (row t: what token t is fed with)."""

    name: str
    family: str
    tokens: np.ndarray  # int32 [N]
    style: np.ndarray  # int32 [N, 1]
    position: np.ndarray  # float32 [N, 20]
    onsets: np.ndarray  # float32 [N, 2]


def song_hits(song: Song, enc: DrumEncoding) -> list[dict[int, int]]:
    """A song's drum hits per step (piece -> level), as the vocabulary is built from."""
    notes = [n for t in song.tracks if is_drum_track(t) for n in t.notes]
    from engine.encodings.base import EncodingReport

    end = max((enc.tick_to_step(n.start_tick, song.ppq) for n in notes), default=-1) + 1
    return enc.step_hits(notes, song.ppq, 0, end, EncodingReport())


def build_vocabulary(songs: Sequence[Song]) -> DrumEncoding:
    """REST, every single hit at every level, and every hit set the songs play at least
    :data:`MIN_COMBO_COUNT` times, most played first."""
    probe = DrumEncoding([[]])
    counts: dict[tuple, int] = {}
    for song in songs:
        for row in song_hits(song, probe):
            if len(row) > 1:
                key = tuple(sorted(row.items()))
                counts[key] = counts.get(key, 0) + 1
    singles = [((p, v),) for p in range(len(KIT)) for v in range(len(LEVELS))]
    sets = [c for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            if n >= MIN_COMBO_COUNT]
    return DrumEncoding([()] + singles + sets)


def example(song: Song, enc: DrumEncoding, name: str, family: str,
            style_known: bool = True) -> Example | None:
    """A song as an example: its tokens (which set the encoding's context: its bars and
    the other parts' onsets) and the conditioning rows the model is fed with."""
    enc.context.style = style_id(family) if style_known and family else 0
    tokens = enc.song_to_tokens(song)
    if not tokens or len(tokens) < 2:
        return None
    rows = enc.conditioning_rows(len(tokens))
    return Example(name, family, np.asarray(tokens, np.int32), rows["style"],
                   rows["position"], rows["onsets"])


def load_grooves(cache: Path = G.CACHE_DIR) -> dict[str, list[tuple[G.Groove, Song]]]:
    """The rendered grooves read as songs, by split."""
    out: dict[str, list] = {"train": [], "validation": [], "test": []}
    for g in G.read_index(cache):
        out[g.split].append((g, midi_file_to_song(cache / g.midi_name)))
    return out


def human_songs(folder: Path) -> list[tuple[str, Song]]:
    """The second test set: drum tracks of Debian's MIDI files not rendered by mma's
    pattern engine (:data:`HUMAN_SET` in the name)."""
    out = []
    for path in G.human_drum_files(folder):
        if any(k in path.name for k in HUMAN_SET):
            out.append((path.name, midi_file_to_song(path)))
    return out


# ---- training windows ------------------------------------------------------------------


def windows(examples: Sequence[Example], rng: np.random.Generator, length: int = WINDOW):
    """Training arrays: inputs (tokens, style, position, onsets) [B, length], targets and
    weights (0 on padding); a window every half window, some without the style or the
    other parts."""
    parts: dict[str, list] = {k: [] for k in ("tokens", "style", "position", "onsets",
                                                "targets", "weights")}
    for ex in examples:
        n = len(ex.tokens) - 1
        for a in range(0, max(1, n - length // 2), length // 2):
            b = min(n, a + length)
            pad = length - (b - a)

            def padded(x, fill=0):
                return np.concatenate([x, np.full((pad, *x.shape[1:]), fill, x.dtype)])
            style = padded(ex.style[a:b]).copy()
            onsets = padded(ex.onsets[a:b]).copy()
            if rng.random() < STYLE_DROPOUT:
                style[:] = 0
            if rng.random() < ONSET_DROPOUT:
                onsets[:] = 0
            parts["tokens"].append(padded(ex.tokens[a:b]))
            parts["style"].append(style)
            parts["position"].append(padded(ex.position[a:b]))
            parts["onsets"].append(onsets)
            parts["targets"].append(padded(ex.tokens[a + 1:b + 1]))
            parts["weights"].append(np.concatenate([np.ones(b - a, np.float32),
                                                    np.zeros(pad, np.float32)]))
    return {k: np.stack(v) for k, v in parts.items()}


def train_model(model, train: Sequence[Example], validation: Sequence[Example], minutes: float,
                seed: int = 0, say: Callable[[str], None] = print) -> dict:
    """Adam on windows of the training grooves until ``minutes`` of wall time are spent
    (checked after each epoch; fresh dropouts each epoch), keeping the weights of the
    best validation loss."""
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model.compile(optimizer=keras.optimizers.Adam(3e-3, clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[])
    val = windows(validation, np.random.default_rng(1))
    val_in = [val["tokens"], val["style"], val["position"], val["onsets"]]
    t0, epoch, best, history = time.monotonic(), 0, None, []
    while time.monotonic() - t0 < minutes * 60:
        w = windows(train, rng)
        h = model.fit([w["tokens"], w["style"], w["position"], w["onsets"]], w["targets"],
                      sample_weight=w["weights"], batch_size=32, epochs=1, verbose=0,
                      shuffle=True)
        v = float(model.evaluate(val_in, val["targets"], sample_weight=val["weights"],
                                 batch_size=64, verbose=0))
        epoch += 1
        history.append((round(float(h.history["loss"][-1]), 4), round(v, 4)))
        say(f"epoch {epoch}: train {history[-1][0]:.4f}, validation {v:.4f} nats a step "
            f"({time.monotonic() - t0:.0f} s)")
        if best is None or v < best[0]:
            best = (v, model.get_weights())
        if epoch >= 3 and v > 1.3 * best[0]:
            break
    if best is not None:
        model.set_weights(best[1])
    return {"epochs": epoch, "wall_time_s": round(time.monotonic() - t0, 1),
            "best_validation_nats_per_step": round(best[0], 4) if best else None,
            "history": history}


# ---- export ------------------------------------------------------------------------------


def _rename(proto, inputs: list[str], outputs: list[str]):
    from training.export import rename_in_nodes

    graph = proto.graph
    initializers = {t.name for t in graph.initializer}
    values = [i for i in graph.input if i.name not in initializers] + list(graph.output)
    if len(values) != len(inputs) + len(outputs):
        raise RuntimeError(f"the drum graph has {len(values)} inputs and outputs, "
                           f"not {len(inputs) + len(outputs)}")
    mapping = {v.name: new for v, new in zip(values, inputs + outputs)}
    for value in values:
        value.name = mapping[value.name]
    rename_in_nodes(graph, mapping)
    return proto


def export(model, hp: dict, enc: DrumEncoding, folder: Path, name: str = NAME,
           **card_fields) -> dict:
    """The step and sequence graphs (with the conditioning inputs) and the card."""
    import tensorflow as tf
    import tf2onnx

    from training.architectures import get, tail_output
    from training.export import OPSET, save_onnx
    from training.models import count_parameters

    arch = get(hp["architecture"])
    specs = arch.state_specs(hp)
    cond_specs = [tf.TensorSpec([None, *c.shape], tf.int32 if c.dtype == "int32" else tf.float32,
                                name=c.input) for c in CONDITIONING]
    step_sig = [tf.TensorSpec([None], tf.int32, name="token")]
    step_sig += [tf.TensorSpec([None, *s.shape], tf.float32, name=s.input) for s in specs]
    step_sig += cond_specs
    seq_sig = [tf.TensorSpec([None, None], tf.int32, name="tokens")]
    seq_sig += [tf.TensorSpec([None, None, *c.shape], s.dtype, name=c.input)
                for c, s in zip(CONDITIONING, cond_specs)]
    folder.mkdir(parents=True, exist_ok=True)
    files = {"step": f"{name}.onnx", "sequence": f"{name}.seq.onnx"}
    cond_names = [c.input for c in CONDITIONING]
    graphs = (
        ("step", arch.step(model, hp), step_sig,
         ["token", *[s.input for s in specs], *cond_names], ["logits", *[s.output for s in specs]]),
        ("sequence", arch.sequence(model, hp), seq_sig, ["tokens", *cond_names],
         ["logits", *[tail_output(s) for s in specs]]))
    for role, fn, sig, ins, outs in graphs:
        proto, _ = tf2onnx.convert.from_function(tf.function(fn, input_signature=sig),
                                                 input_signature=sig, opset=OPSET)
        save_onnx(_rename(proto, ins, outs), folder / files[role])
    card = make_card(name, hp["architecture"], arch.description, files, folder, enc, specs,
                     state_outputs=[tail_output(s) for s in specs],
                     receptive_field_steps=None, conditioning=CONDITIONING,
                     hyperparameters=hp, parameters=count_parameters(model), **card_fields)
    write_card(card, folder / f"{name}.json")
    return card


# ---- figures -------------------------------------------------------------------------------


def model_bits(model, enc: DrumEncoding, songs: Sequence[tuple[str, str, Song]],
               style_known: bool) -> dict:
    """Bits per drum hit and per step of the songs ((name, family, song)) under an
    engine StepModel, as ``main.py score`` computes them (the first token unscored)."""
    bits = hits = steps = 0.0
    for _, family, song in songs:
        enc.context.style = style_id(family) if style_known and family else 0
        tokens = enc.song_to_tokens(song)
        if not tokens or len(tokens) < 2:
            continue
        b, n, h = model.score_tokens(tokens)
        bits, steps, hits = bits + b, steps + n, hits + h
    enc.context.style = 0
    per_hit = round(bits / max(hits, 1), 4)
    return {"bits_per_hit": per_hit, "bits_per_note": per_hit,
            "bits_per_step": round(bits / max(steps, 1), 4),
            "hits": int(hits), "steps": int(steps), "songs": len(songs)}


def kn_baseline(enc: DrumEncoding, train: Sequence[np.ndarray], validation: Sequence[np.ndarray],
                tests: dict[str, Sequence[np.ndarray]], say: Callable[[str], None] = print) -> dict:
    """Kneser-Ney n-grams of the same tokens: the order best on validation, scored like
    the model (every token after the first)."""
    from engine.models.ngram import KneserNey, max_order_for

    def score(kn, tunes):
        bits = hits = steps = 0.0
        for t in tunes:
            p = kn.token_probabilities(np.asarray(t, np.int64))[1:]
            bits += float(-np.log2(np.maximum(p, 1e-300)).sum())
            hits += enc.count_onsets(t[1:])
            steps += len(t) - 1
        return {"bits_per_hit": round(bits / max(hits, 1), 4),
                "bits_per_step": round(bits / max(steps, 1), 4)}

    orders = list(range(1, max_order_for(enc.vocab_size) + 1))
    models = KneserNey.fit_orders(enc.vocab_size, list(train), orders)
    by_order = {kn.order: score(kn, validation)["bits_per_hit"] for kn in models}
    best = min(models, key=lambda kn: by_order[kn.order])
    say(f"Kneser-Ney: validation bits per hit by order {by_order}; best {best.order}")
    return {"order": best.order, "validation_bits_per_hit_by_order": by_order,
            **{name: score(best, tunes) for name, tunes in tests.items()}}


TEMPERATURES = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.7)  # calibration's candidates


def run(minutes: float, out: Path, cache: Path = G.CACHE_DIR,
        external: Path = Path("tests/data/external"), sizes: dict | None = None,
        command: str = "", say: Callable[[str], None] = print) -> dict:
    """Train, export, calibrate and score a drum model; returns its card."""
    from training.architectures import get

    t0 = time.monotonic()
    data = load_grooves(cache)
    enc = build_vocabulary([s for _, s in data["train"]])
    say(f"vocabulary: {enc.vocab_size} hit sets; grooves: "
        + ", ".join(f"{k} {len(v)}" for k, v in data.items()))
    examples = {k: [e for g, s in v if (e := example(s, enc, g.name, g.family))]
                for k, v in data.items()}
    hp = get(NAME).hyperparameters(enc.vocab_size, **(sizes or {}))
    model = get(NAME).build(hp)
    training = train_model(model, examples["train"], examples["validation"], minutes, say=say)
    human = human_songs(external)
    data_card = {
        "corpus": "mma standard-library grooves rendered by training/datasets/grooves.py",
        "licence": G.LICENCE, "split": G.SPLIT_RULE,
        "grooves": {k: len(v) for k, v in data.items()},
        "files": {k: len({g.file for g, _ in v}) for k, v in data.items()},
        "test_files": sorted({g.file for g, _ in data["test"]}),
        "families": G.families_in(g for g, _ in data["train"]),
        "tokens": {k: int(sum(len(e.tokens) for e in v)) for k, v in examples.items()},
        "human_test_set": [n for n, _ in human]}
    export(model, hp, enc, out, data=data_card, metrics={},
           training={"command": command, **training, "date": dt.date.today().isoformat(),
                     "machine": platform.platform()})
    calibrate(out, data, say)
    card = score_card(out, data, examples, human, say)
    card["training"]["total_wall_time_s"] = round(time.monotonic() - t0, 1)
    write_card(card, out / f"{NAME}.json")
    return card


def _library_model(out: Path):
    from engine.models import ModelLibrary

    library = ModelLibrary([out])
    if library.problems:
        raise RuntimeError(f"the exported drum model is refused: {library.problems}")
    return library.get(NAME)


def calibrate(out: Path, data: dict, say: Callable[[str], None] = print) -> float:
    """Temperature scaling, chosen on the validation grooves: the logits layer's weights
    in both ONNX graphs divided by the temperature of :data:`TEMPERATURES` whose
    validation bits per hit are fewest (a network that learnt its training grooves
    by heart is too sure of itself on new ones); the card's hashes follow."""
    import onnx
    from onnx import numpy_helper

    from engine.models.card import sha256_file
    from training.export import save_onnx

    model = _library_model(out)
    enc = model.info.encoding
    bits, hits = np.zeros(len(TEMPERATURES)), 0
    for _, song in data["validation"]:
        enc.context.style = 0
        tokens = enc.song_to_tokens(song)
        if not tokens or len(tokens) < 2:
            continue
        t = np.asarray(tokens, np.int32)
        logits = model.sequence_logits(t[None, :-1])[0].astype(np.float64)
        for i, temp in enumerate(TEMPERATURES):
            z = logits / temp
            top = z.max(axis=1, keepdims=True)
            log_z = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
            bits[i] += float((log_z - z[np.arange(len(t) - 1), t[1:]]).sum() / np.log(2))
        hits += enc.count_onsets(t[1:])
    by_temp = {str(k): round(float(b) / max(hits, 1), 4) for k, b in zip(TEMPERATURES, bits)}
    best = TEMPERATURES[int(np.argmin(bits))]
    say(f"calibration: validation bits per hit by temperature {by_temp}; {best}")
    card_path = out / f"{NAME}.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    vocab, units = enc.vocab_size, int(card["hyperparameters"]["units"][-1])
    if best != 1.0:
        for f in card["files"].values():
            proto = onnx.load(str(out / f))
            scaled = 0
            for init in proto.graph.initializer:
                if tuple(init.dims) in ((units, vocab), (vocab, units), (vocab,)):
                    w = numpy_helper.to_array(init) / best
                    init.CopyFrom(numpy_helper.from_array(w.astype(np.float32), init.name))
                    scaled += 1
            if scaled != 2:
                raise RuntimeError(f"{f}: found {scaled} logits weights to scale, not 2")
            save_onnx(proto, out / f)
        card["sha256"] = {f: sha256_file(out / f) for f in card["files"].values()}
    card["calibration"] = {"temperature": best, "validation_bits_per_hit": by_temp,
                           "how": "the logits layer's weights divided by the temperature "
                                  "fewest validation bits per hit chose"}
    write_card(card, card_path)
    return best


def score_card(out: Path, data: dict, examples: dict, human: list,
               say: Callable[[str], None] = print) -> dict:
    """The exported model's figures (held-out grooves with the style unknown and given,
    validation, the second test set) beside Kneser-Ney's, into its card and
    models/README.md; returns the card."""
    step_model = _library_model(out)
    menc = step_model.info.encoding
    test = [(g.name, g.family, s) for g, s in data["test"]]
    metrics = {
        "test": model_bits(step_model, menc, test, style_known=False),
        "test_style_given": model_bits(step_model, menc, test, style_known=True),
        "validation": model_bits(step_model, menc, [(g.name, g.family, s)
                                                    for g, s in data["validation"]], False),
        "human": model_bits(step_model, menc, [(n, "", s) for n, s in human], False)}
    human_tokens = [np.asarray(t, np.int32) for _, s in human
                    if (t := menc.song_to_tokens(s)) and len(t) > 1]
    metrics["kneser_ney"] = kn_baseline(
        menc, [e.tokens for e in examples["train"]], [e.tokens for e in examples["validation"]],
        {"test": [e.tokens for e in examples["test"]], "human": human_tokens}, say)
    kn = metrics["kneser_ney"]
    metrics["below_kneser_ney"] = {
        k: round(1 - metrics[k]["bits_per_hit"] / kn[k]["bits_per_hit"], 4)
        for k in ("test", "human")}
    metrics["score_command"] = ("python main.py score --model drums-lstm --memory off "
                                "<each test groove's MIDI file>")
    card = json.loads((out / f"{NAME}.json").read_text())
    card["metrics"] = metrics
    write_card(card, out / f"{NAME}.json")
    if (out / "README.md").exists():
        write_readme_section(out)
    say(json.dumps(metrics, indent=1))
    return card


def recalibrate(out: Path, cache: Path, external: Path, command: str,
                say: Callable[[str], None] = print) -> dict:
    """Calibrate and score an exported drum model again, without training (its card's
    command gets this one added)."""
    data = load_grooves(cache)
    enc = _library_model(out).info.encoding
    examples = {k: [e for g, s in v if (e := example(s, enc, g.name, g.family))]
                for k, v in data.items()}
    calibrate(out, data, say)
    card = score_card(out, data, examples, human_songs(external), say)
    if command not in (card["training"].get("command") or ""):
        card["training"]["command"] = f"{card['training'].get('command')} && {command}"
    write_card(card, out / f"{NAME}.json")
    if (out / "README.md").exists():
        write_readme_section(out)
    return card


# ---- the command line ----------------------------------------------------------------------


def add_parser(sub, command_line) -> None:
    """``python -m training grooves`` (render mma's grooves) and ``python -m training
    drums`` (train, export and score the drum model); ``command_line(argv)``: the
    command the card records."""
    from training.architectures import get

    g = sub.add_parser("grooves", help="render mma's groove library to MIDI (the drum "
                                       "models' corpus; needs Debian's mma)")
    g.add_argument("--workers", type=int, default=2)
    g.add_argument("--limit", type=int, help="only the first N grooves")
    g.add_argument("--cache-dir", default=str(G.CACHE_DIR))
    g.set_defaults(run=lambda args, argv: bool(G.render_all(
        Path(args.cache_dir), args.workers, args.limit)) and 0)

    d = sub.add_parser("drums", help="train the drums LSTM on the rendered grooves, export "
                                     "it with its card and score it beside Kneser-Ney")
    d.add_argument("--minutes", type=float, default=20.0, help="training's wall-clock budget")
    d.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "models"),
                   help="the folder the model goes to (default: models/)")
    d.add_argument("--cache-dir", default=str(G.CACHE_DIR))
    d.add_argument("--external", default="tests/data/external",
                   help="the Debian MIDI files of the second test set")
    d.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a size of the drums-lstm (units, embed_dim, style_dim, dropout)")

    d.add_argument("--calibrate", action="store_true",
                   help="no training: calibrate and score the exported model again")

    def run_drums(args, argv) -> int:
        if args.calibrate:
            recalibrate(Path(args.out), Path(args.cache_dir), Path(args.external),
                        command_line(argv))
            return 0
        arch = get(NAME)
        sizes = {k: arch.parse_size(k, v) for k, v in (s.split("=", 1) for s in args.set)}
        run(args.minutes, Path(args.out), Path(args.cache_dir), Path(args.external), sizes,
            command_line(argv))
        return 0

    d.set_defaults(run=run_drums)


# ---- models/README.md ----------------------------------------------------------------------

README_HEADING = "## Drum models (issue 24)"


def drums_section(models_dir: Path) -> str:
    """models/README.md's drum section, from the drum card's data and figures ('' when
    there is no drum model)."""
    path = models_dir / f"{NAME}.json"
    if not path.exists():
        return ""
    card = json.loads(path.read_text(encoding="utf-8"))
    m, d, tr = card.get("metrics", {}), card.get("data", {}), card.get("training", {})
    kn = m.get("kneser_ney", {})
    if not kn:
        return ""

    def row(label, key, kn_key=None):
        mine, base = m.get(key, {}), kn.get(kn_key or key, {})
        return (f"| {label} | {mine.get('bits_per_hit', '-')} | {mine.get('bits_per_step', '-')} "
                f"| {base.get('bits_per_hit', '-')} | {base.get('bits_per_step', '-')} | "
                f"{mine.get('songs', '-')} | {mine.get('hits', '-')} |")
    from training.architectures import get

    def counts(c):
        return ", ".join(f"{k} {v}" for k, v in (c or {}).items())

    human = ", ".join(n.replace("mma--usr_share_", "").replace(".mid", "")
                      for n in d.get("human_test_set", []))
    below = m.get("below_kneser_ney", {})
    size = get(NAME).size_text(card.get("hyperparameters", {}))
    return f"""

{README_HEADING}

`{NAME}` ({size}, {card.get('parameters')} parameters, encoding `drums-12th` v1 with
{card['encoding']['vocab_size']} hit sets, docs/drum-encoding.md), conditioned on the style
family, the position in the bar and the other parts' onsets. Data: {d.get('corpus')};
licence: {d.get('licence')}. Split {d.get('split')}: grooves {counts(d.get('grooves'))};
style files {counts(d.get('files'))}; test files {', '.join(d.get('test_files', []))}.
Second test set (drum tracks of Debian MIDI files that mma's pattern engine did not make,
in tests/data/external, never trained on): {human}.

Bits per drum hit: the sum of -log2 p(token) over every token after a song's first,
divided by the drum hits among them (per step: divided by the steps). The style is
unknown (0), as `main.py score` reads a MIDI file; "style given" feeds each groove's
family. Kneser-Ney: the same tokens, order {kn.get('order')} (best on validation).

| set | {NAME} bits/hit | bits/step | Kneser-Ney bits/hit | bits/step | songs | hits |
|---|---:|---:|---:|---:|---:|---:|
{row('held-out grooves', 'test')}
{row('held-out grooves, style given', 'test_style_given', 'test')}
{row('validation grooves', 'validation', 'validation_unused')}
{row('Debian MIDI drum tracks (second test set)', 'human')}

Below Kneser-Ney per hit: held-out grooves {below.get('test', 0):.1%} (target at least 25%),
second test set {below.get('human', 0):.1%}. Training: {tr.get('epochs')} epochs,
{(tr.get('wall_time_s') or 0) / 60:.1f} min on this machine's loaded CPU (train loss well
below validation's: the network learns its 83 style files by heart, and the held-out
files' own style name helps it less than none). Calibration: the logits divided by
{card.get('calibration', {}).get('temperature', 1.0)}, the temperature with the fewest
validation bits per hit ({card.get('calibration', {}).get('validation_bits_per_hit')}).

Reproduce: `bash scripts/training-deps.sh` (Debian's mma), `python -m training grooves`,
then `{tr.get('command')}`. `python main.py score --model {NAME} --memory off FILES` on the
test grooves' MIDI files (training/cache/grooves) gives the card's {m.get('test', {}).get('bits_per_hit')} bits per hit.
"""


def write_readme_section(models_dir: Path) -> None:
    """Put :func:`drums_section` into models/README.md in place of the old one (or at
    its end)."""
    from engine.formats import write_bytes_atomic

    path = models_dir / "README.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start = text.find(README_HEADING)
    if start >= 0:
        end = text.find("\n## ", start + len(README_HEADING))
        text = text[:start].rstrip("\n") + ("\n" + text[end:] if end >= 0 else "")
    text = text.rstrip("\n") + drums_section(models_dir).rstrip("\n") + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))
