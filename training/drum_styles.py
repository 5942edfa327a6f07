"""The drum style prior (engine/generation/drum_style.py): counted from the rendered
grooves, its weight fitted on the validation grooves; and the style-fidelity measure
it is fitted with, which bench/drums.py reports on the test tunes.

``python -m training drum-styles`` reads the groove cache (``python -m training
grooves``) and counts each style family's hit sets at each place of the bar in the
main (8-bar) train and validation grooves: Add Drums writes a song's main groove, and
the intros, fills and endings counted too put the styles' fills where their grooves
are (on validation 16 of 17 styles nearest their own, against 17 of 17 with the main
grooves alone).  The test grooves are never read.  The weight is the one
of :data:`WEIGHTS` under which Add Drums, in every style with 3 or more train and
validation grooves, over the validation grooves' own pitched parts (their drums taken
out), writes drums nearest (:func:`js_distance` of :func:`signature`) to their own
style's grooves for the most styles (then by the widest mean margin over the next
nearest style).  Beside it, the bits per drum hit of the validation grooves under the
network with the prior's guidance at each weight (counted from the train grooves
only) are recorded: the prior is a pull towards the style at generation, not a better
predictor of a new groove file.  Writes ``models/drums/styles.json`` and
``styles.npz``.

Style fidelity (the issue's measure): Add Drums on each song, one style at a time, each
song barred in the style's own metre (4/4, or 3/4 for a waltz); the style's drums, as
one histogram of (kit piece, step of the bar) over every song, should lie nearer to
its own style's real grooves than to any other style's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from engine.encodings.drums import (KIT, STYLES, DrumEncoding, bar_steps, is_drum_track,
                                    positions_at, style_id)
from engine.generation.drum_style import PLACES, StylePrior, count_places, places, use_prior
from engine.song import Song
from training.datasets import grooves as G

#: the guidance weights tried
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
MODEL = "drums-lstm"
BAR = 48  # histogram bins: the steps of a 4/4 bar (shorter bars use fewer)
MIN_REFERENCES = 3  # a style is measured where it has this many 8-bar grooves
MAIN_BARS = 8  # a main groove is rendered over 8 bars (intros, fills and endings 4)
FIT_SONGS = 20  # validation grooves Add Drums writes for, per style, to fit the weight


# ---------------------------------------------------------------------------------------
# histograms and distances
# ---------------------------------------------------------------------------------------
def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, 0..1) of two histograms (normalised here)."""
    p = p / p.sum() if p.sum() else p
    q = q / q.sum() if q.sum() else q
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / m[nz])).sum())

    return float(np.sqrt(max(0.0, (kl(p) + kl(q)) / 2)))


def hit_matrix(enc: DrumEncoding, notes, ppq: int, start: int, end: int) -> np.ndarray:
    """[steps, kit] bool: which pieces the drum ``notes`` strike at each grid step."""
    tokens = enc.encode_steps(notes, ppq, start, end).tokens
    return enc.piece_levels[np.asarray(tokens, dtype=np.int64)] > 0


def tokens_matrix(enc: DrumEncoding, tokens) -> np.ndarray:
    return enc.piece_levels[np.asarray(tokens, dtype=np.int64)] > 0


def histogram(hits: Sequence[tuple[np.ndarray, int]], piece: int) -> np.ndarray:
    """Onset positions in the bar of one piece over (matrix, bar steps) pairs."""
    h = np.zeros(BAR)
    for m, bar in hits:
        steps = np.nonzero(m[:, piece])[0] % bar
        np.add.at(h, np.minimum(steps, BAR - 1), 1)
    return h


def signature(hits: Sequence[tuple[np.ndarray, int]], kit: int = len(KIT)) -> np.ndarray:
    """One histogram over (piece, step of the bar) for every piece."""
    return np.concatenate([histogram(hits, p) for p in range(kit)])


# ---------------------------------------------------------------------------------------
# style fidelity
# ---------------------------------------------------------------------------------------
def style_references(enc: DrumEncoding, splits: Iterable[str],
                     cache: Path = G.CACHE_DIR) -> dict[str, tuple[np.ndarray, int]]:
    """Per family with :data:`MIN_REFERENCES` or more rendered 8-bar grooves in
    ``splits``: their drums' signature and the family's commonest bar length."""
    from engine.formats import load_song

    splits = set(splits)
    by: dict[str, list] = {}
    for g in G.read_index(cache):
        if g.bars != 8 or g.split not in splits or not (cache / g.midi_name).exists():
            continue
        song = load_song(str(cache / g.midi_name))
        bar = bar_steps(song.meter_at(0))
        drums = [n for t in song.tracks if is_drum_track(t) for n in t.notes]
        by.setdefault(g.family, []).append((hit_matrix(enc, drums, song.ppq, 0, 8 * bar), bar))
    out = {}
    for family, hits in by.items():
        if len(hits) >= MIN_REFERENCES:
            bars = [b for _, b in hits]
            out[family] = (signature(hits), max(set(bars), key=bars.count))
    return out


def in_metre(song: Song, bar: int, enc: DrumEncoding) -> Song:
    """The song's first 8 bars of ``bar`` steps (4/4 for 48, 3/4 for 36): its notes as
    written, barred in the style's metre; its drums left out."""
    from engine.song import TimeSignature

    meter = TimeSignature(0, 4, 4) if bar == 48 else TimeSignature(0, bar // 12, 4)
    end = enc.step_to_tick(8 * bar, song.ppq)
    tracks = [dataclasses.replace(t, notes=[n for n in t.notes if n.start_tick < end])
              for t in song.tracks if not is_drum_track(t)]
    return Song(song.ppq, tracks, song.tempo_map, [meter])


def drummed(library, songs: Sequence[Song], styles: dict[str, int], seed: int = 0,
            model: str | None = None) -> dict[str, np.ndarray]:
    """Add Drums on every song in each style of ``styles`` (style -> bar steps: the
    metre each song is barred in), one variation, the motif memory off: each style's
    drums as one :func:`signature`."""
    from engine.generation import jobs
    from engine.generation.jobs.drums import drum_model
    from engine.generation.request import DRUMS, GenerationRequest, GenerationSettings

    m = drum_model(library, model)
    out = {}
    for style, bar in sorted(styles.items()):
        hits = []
        for i, tune in enumerate(songs):
            settings = GenerationSettings(model=m.name, variations=1, rng_seed=seed + i,
                                          memory=False, key=None)
            result = jobs.run(library, in_metre(tune, bar, m.encoding),
                              GenerationRequest(DRUMS, settings, drum_style=style))
            hits.append((tokens_matrix(m.encoding, result.tokens[0]), bar))
        out[style] = signature(hits)
    return out


def nearest_styles(signatures: dict[str, np.ndarray], references: dict) -> dict:
    """Per style of both: its drums' nearest reference style and the distances; the
    share of styles nearest their own and the mean margin (next nearest minus own)."""
    rows = {}
    for style in sorted(set(signatures) & set(references)):
        dists = {s: js_distance(signatures[style], r) for s, (r, _) in references.items()}
        rows[style] = {"nearest": min(dists, key=dists.get), "own": round(dists[style], 4),
                       "best_other": round(min(d for s, d in dists.items() if s != style), 4)}
    hit = sum(r["nearest"] == s for s, r in rows.items())
    margin = np.mean([r["best_other"] - r["own"] for r in rows.values()]) if rows else 0.0
    return {"styles": rows, "nearest_own": hit,
            "share_nearest_own": round(hit / len(rows), 3) if rows else None,
            "mean_margin": round(float(margin), 4)}


def fidelity(library, songs: Sequence[Song], references: dict, seed: int = 0,
             model: str | None = None) -> dict:
    """:func:`nearest_styles` of Add Drums in every style of ``references``."""
    styles = {s: bar for s, (_, bar) in references.items()}
    return nearest_styles(drummed(library, songs, styles, seed, model), references)


# ---------------------------------------------------------------------------------------
# counting and fitting
# ---------------------------------------------------------------------------------------
def groove_tokens(enc: DrumEncoding, song: Song, family: str,
                  style_known: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """A groove's tokens and each token's place in the bar (None without drums); the
    encoding's context becomes the song's, its style the family's (or 0)."""
    enc.context.style = style_id(family) if style_known and family else 0
    tokens = enc.song_to_tokens(song)
    if not tokens or len(tokens) < 2:
        return None
    c = enc.context
    where = places(positions_at(c.origin, len(tokens), c.bars, c.bar_steps))
    return np.asarray(tokens, np.int64), where


def style_counts(enc: DrumEncoding, songs: Sequence[tuple[str, Song]]) -> dict[int, np.ndarray]:
    """Per style id, [PLACES, vocab] counts of the songs' ((family, song)) tokens."""
    out: dict[int, np.ndarray] = {}
    for family, song in songs:
        got = groove_tokens(enc, song, family)
        if got is None or not family:
            continue
        sid = style_id(family)
        out.setdefault(sid, np.zeros((PLACES, enc.vocab_size), np.int64))
        out[sid] += count_places(*got, enc.vocab_size)
    enc.context.style = 0
    return out


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def weight_bits(model, prior: StylePrior, songs: Sequence[tuple[str, Song]],
                weights: Sequence[float] = WEIGHTS) -> dict[float, float]:
    """Bits per drum hit of the songs ((family, song), style given) under the network
    with each weight times the prior's guidance for the song's family added to its
    log-probabilities, renormalised; every token after a song's first, as ``main.py
    score`` counts."""
    enc = model.info.encoding
    bits, hits = np.zeros(len(weights)), 0
    for family, song in songs:
        got = groove_tokens(enc, song, family)
        if got is None:
            continue
        tokens, where = got
        net = _log_softmax(model.sequence_logits(tokens[None, :-1].astype(np.int32))[0]
                           .astype(np.float64))
        lp = prior.guidance(style_id(family))
        target = tokens[1:]
        rows = np.arange(len(target))
        for i, w in enumerate(weights):
            z = net if lp is None or w == 0 else _log_softmax(net + w * lp[where[1:]])
            bits[i] -= z[rows, target].sum() / np.log(2)
        hits += enc.count_onsets(target)
    enc.context.style = 0
    return {float(w): round(float(b) / max(hits, 1), 4) for w, b in zip(weights, bits)}


def fit_weight(library, prior: StylePrior, songs: Sequence[Song], references: dict,
               weights: Sequence[float] = WEIGHTS,
               say: Callable[[str], None] = print) -> tuple[float, dict]:
    """The weight of ``weights`` under which :func:`fidelity` puts the most styles
    nearest their own (then the widest mean margin); and each weight's figures."""
    table = {}
    try:
        for w in weights:
            use_prior(prior.with_weight(w))
            f = fidelity(library, songs, references)
            table[float(w)] = {"share_nearest_own": f["share_nearest_own"],
                               "mean_margin": f["mean_margin"],
                               "missed": {s: r["nearest"] for s, r in f["styles"].items()
                                          if r["nearest"] != s}}
            say(f"weight {w}: {table[float(w)]}")
    finally:
        use_prior(None)
    best = max(table, key=lambda w: (table[w]["share_nearest_own"], table[w]["mean_margin"]))
    return best, table


def build(models: Path, cache: Path = G.CACHE_DIR, out: Path | None = None,
          songs: int = FIT_SONGS, command: str = "",
          say: Callable[[str], None] = print) -> StylePrior:
    """Count, fit the weight on the validation grooves, write the prior into ``out``
    (default ``models/drums``); returns it."""
    from engine.models import ModelLibrary
    from training.drums import load_grooves

    library = ModelLibrary([models])
    model = library.get(MODEL)
    enc = model.info.encoding
    data = load_grooves(cache)
    train = [(g.family, s) for g, s in data["train"] if g.bars == MAIN_BARS]
    validation = [(g.family, s) for g, s in data["validation"] if g.bars == MAIN_BARS]
    bits = weight_bits(model, StylePrior(style_counts(enc, train), 0.0, {}), validation)
    say(f"validation bits per hit by weight (counted from the train grooves): {bits}")
    counts = style_counts(enc, train + validation)
    references = style_references(enc, ("train", "validation"), cache)
    fit_songs = [s for g, s in data["validation"] if g.bars == MAIN_BARS][:songs]
    weight, table = fit_weight(library, StylePrior(counts, 1.0, {}), fit_songs, references,
                               say=say)
    meta = {"model": MODEL,
            "counted_from": f"the main (8-bar) train and validation grooves ({len(train)} "
                            f"and {len(validation)}; the test grooves never read)",
            "fitted_on": f"Add Drums in every style over the first {len(fit_songs)} 8-bar "
                         f"validation grooves' pitched parts, against the train and "
                         f"validation grooves of {len(references)} styles: the most styles "
                         f"nearest their own, then the widest mean margin",
            "fit": {str(w): v for w, v in table.items()},
            "validation_bits_per_hit": {str(w): b for w, b in bits.items()},
            "command": command, "date": dt.date.today().isoformat()}
    prior = StylePrior(counts, weight, meta)
    json_path, npz_path = prior.save(out or models / "drums", enc)
    say(f"weight {weight}; styles with a prior: "
        f"{', '.join(STYLES[s] for s in sorted(counts))}; wrote {json_path} and {npz_path}")
    return prior


def add_parser(sub, command_line) -> None:
    """``python -m training drum-styles``."""
    p = sub.add_parser("drum-styles", help="count the drum style prior from the rendered "
                                           "grooves and fit its weight on validation")
    p.add_argument("--models", default=str(Path(__file__).resolve().parents[1] / "models"),
                   help="the folder of the drum model (default: models/)")
    p.add_argument("--cache-dir", default=str(G.CACHE_DIR))
    p.add_argument("--out", default=None, help="where the prior goes (default: "
                                               "MODELS/drums)")
    p.add_argument("--songs", type=int, default=FIT_SONGS,
                   help="validation grooves Add Drums writes for per style and weight")

    def run(args, argv) -> int:
        build(Path(args.models), Path(args.cache_dir),
              Path(args.out) if args.out else None, args.songs, command_line(argv))
        return 0

    p.set_defaults(run=run)
