"""A style: a long-term model of a folder of the user's own music, mixed with a network.

Point Continuo at a folder of MIDI, ABC, MusicXML or kern files and it learns how that
music goes: a Kneser-Ney n-gram (:mod:`engine.models.ngram`) over the network
encoding's tokens of every tune in the folder (:mod:`engine.formats.folder`).  Its
order (4..12) is chosen on a held-out tenth of the folder's tunes: the one that, mixed
with the tune's own n-gram (the motif memory, which the style always plays beside),
predicts them best; that favours longer contexts than the n-gram alone would (on
O'Neill's tunes 11 rather than 9, and 0.03 bits per note fewer beside duet and the
memory).  Building takes seconds, not the hours of training a network.

A style joins a network the way the motif memory does (:mod:`engine.generation.memory`):
a linear share of its distribution, ``(1 - s) * p + s * p_style``, where ``p`` is the
network mixed with the memory (or the network alone with the memory off).  The share
``s`` depends on how much the style knows at this step (the length of the longest
context it has seen in the folder, and how sure it is of its likeliest token), one
share per bucket, fitted by expectation-maximisation on the held-out tunes against the
network and memory, with the n-gram refitted without them.  The shares are fitted the
first time a network uses the style (one ``sequence_logits`` call per held-out tune, at
most 40 tunes) and kept in the style's JSON, per network.

A style is saved in ``user_models_dir()/styles/``: one JSON descriptor (name = the
folder's name, the folder, a fingerprint of its files' names and contents, the order, what was read and skipped, the shares) and one ``.npz`` of arrays
(the n-gram and the tunes' tokens).  :func:`style_for_folder` reuses a saved style
whose fingerprint still matches the folder, else builds it again.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from engine.encodings import PARTS, capabilities_of
from engine.errors import StyleError
from engine.formats.folder import Progress, check_cancelled, music_files, read_folder
from engine.generation.memory import (DEFAULT_MAX_ORDER, MemoryMixer, memory_distributions,
                                     mix, mixing_for, softmax)
from engine.models.library import user_models_dir
from engine.models.ngram import KneserNey, max_order_for, npz_bytes

FORMAT = "continuo-style"
VERSION = 1
ORDERS = range(4, 13)  # the n-gram orders tried on the held-out tunes
HELD_OUT_EVERY = 10  # every tenth tune is held out to choose the order and fit the shares
MAX_FIT_TUNES = 40  # held-out tunes the shares are fitted on (a network call each)
MAX_ORDER_TUNES = 100  # held-out tunes the order is chosen on
DEFAULT_SHARE = 0.25  # a folder of one tune has nothing to fit shares on
CONFIDENCE_EDGES = (0.3, 0.6, 0.9)  # the style's probability of its likeliest token
PRIOR_TOKENS = 20.0  # EM: each bucket's share starts as this many tokens at the overall share
MAX_PROBLEMS_KEPT = 200


def styles_dir() -> Path:
    """Where styles are kept: the ``styles`` folder of the user's models folder."""
    return user_models_dir() / "styles"


# what a saved style's arrays can raise when the file is damaged: numpy's own errors,
# and those of the zip archive and the compression underneath
_DAMAGED_ARRAYS = (OSError, ValueError, KeyError, TypeError, IndexError, EOFError,
                   zlib.error, zipfile.BadZipFile)


def _content_hash(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def folder_fingerprint(folder: str | Path,
                       is_cancelled: Callable[[], bool] | None = None) -> str:
    """A hash of the folder's music files' names and contents: a file touched without a
    change keeps the style, a file changed under the same size and time does not (reading
    the files costs little beside parsing them)."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in music_files(folder, is_cancelled):
        digest = _content_hash(path)
        if digest is None:
            continue
        h.update(f"{path.relative_to(folder).as_posix()}\0{digest}\n"
                 .encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:32]


def _file_stem(folder: Path, encoding_card: dict) -> str:
    """The saved style's file name (without suffix): the folder's name and a hash of
    its full path and the encoding, so two folders of the same name do not collide."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", folder.name).strip("-.") or "style"
    key = json.dumps([str(folder), encoding_card], sort_keys=True)
    return f"{safe[:40]}-{hashlib.sha256(key.encode('utf-8', 'surrogateescape')).hexdigest()[:10]}"


def _bucket(p_style: np.ndarray, longest: np.ndarray) -> np.ndarray:
    """Each row's share bucket: the style's longest seen context and its confidence."""
    sure = np.asarray(CONFIDENCE_EDGES).searchsorted(p_style.max(axis=-1), "right")
    return longest * (len(CONFIDENCE_EDGES) + 1) + sure


def fit_shares(p_mix: np.ndarray, p_style: np.ndarray, buckets: np.ndarray, size: int,
               iterations: int = 60) -> np.ndarray:
    """The style's share per bucket that maximises the likelihood of the tokens, whose
    probabilities under the network (+ memory) and under the style are ``p_mix`` and
    ``p_style``; EM, each bucket pulled towards the overall share by a prior."""
    p_mix, p_style = np.maximum(p_mix, 1e-300), np.maximum(p_style, 1e-300)
    counts = np.bincount(buckets, minlength=size)
    share = np.full(size, DEFAULT_SHARE)
    overall = DEFAULT_SHARE
    for _ in range(iterations):
        s = share[buckets]
        r = s * p_style / ((1 - s) * p_mix + s * p_style)  # the style's responsibility
        overall = float(r.mean())
        share = (np.bincount(buckets, weights=r, minlength=size) + PRIOR_TOKENS * overall) \
            / (counts + PRIOR_TOKENS)
    return np.clip(share, 0.0, 0.999)


@dataclass
class StyleModel:
    """A folder's style: the n-gram, what it was built from, the fitted shares."""

    name: str  # the folder's name, as the app lists it
    folder: str
    fingerprint: str
    encoding: dict  # the encoding's card section: a network must speak the same tokens
    order: int
    tunes: int
    notes: int
    files: int
    problems: list[str] = field(default_factory=list)  # the first of the skipped files
    skipped: int = 0  # files skipped in all
    held_out: list[int] = field(default_factory=list)  # indices of the held-out tunes
    bits_by_order: dict[str, float] = field(default_factory=dict)  # held-out bits/note
    shares: dict[str, list[float]] = field(default_factory=dict)  # per network (+ memory)
    build_seconds: float = 0.0
    path: Path | None = None  # the JSON descriptor, once saved
    built_now: bool = False  # built by this call, not found saved
    _ngram: KneserNey | None = field(default=None, repr=False)
    _tokens: list[np.ndarray] | None = field(default=None, repr=False)

    # ---- arrays (loaded when first needed) -------------------------------------------
    @property
    def arrays_path(self) -> Path | None:
        return None if self.path is None else self.path.with_suffix(".npz")

    def _load_arrays(self) -> None:
        if self.arrays_path is None:
            raise StyleError(f"{self.name}: the style has no saved arrays")
        try:
            with np.load(self.arrays_path, allow_pickle=False) as z:
                ngram = KneserNey.from_npz(z, "ngram_")
                tokens, lengths = z["tokens"].astype(np.int32), z["lengths"].astype(np.int64)
        except _DAMAGED_ARRAYS as e:
            reason = str(e).strip().splitlines()[0][:120] if str(e).strip() \
                else type(e).__name__
            raise StyleError(f"{self.name}: the saved style cannot be read ({reason}); "
                             f"build it again from its folder") from None
        if tokens.ndim != 1 or lengths.ndim != 1 or (lengths < 0).any() \
                or lengths.sum() != len(tokens) or ngram.order != self.order \
                or (len(tokens) and not 0 <= tokens.min() <= tokens.max() < ngram.vocab):
            raise StyleError(f"{self.name}: the saved style is damaged; build it again "
                             f"from its folder")
        self._ngram = ngram
        self._tokens = np.split(tokens, np.cumsum(lengths)[:-1]) if len(lengths) else []

    def load_arrays(self) -> "StyleModel":
        """Read the saved arrays now (they are otherwise read when first needed): a
        :class:`StyleError` when they are missing or damaged."""
        if self._ngram is None or self._tokens is None:
            self._load_arrays()
        return self

    @property
    def ngram(self) -> KneserNey:
        if self._ngram is None:
            self._load_arrays()
        return self._ngram

    @property
    def tune_tokens(self) -> list[np.ndarray]:
        if self._tokens is None:
            self._load_arrays()
        return self._tokens

    def describe(self) -> str:
        def count(n: int, what: str) -> str:
            return f"{n:,} {what}{'' if n == 1 else 's'}"

        return (f"{self.name}: {count(self.tunes, 'tune')}, {count(self.notes, 'note')} from "
                f"{count(self.files, 'file')} ({self.skipped} skipped), a {self.order}-gram")

    def summary(self) -> dict:
        """What ``score`` reports about the style."""
        return {"name": self.name, "folder": self.folder, "tunes": self.tunes,
                "notes": self.notes, "files": self.files, "skipped": self.skipped,
                "order": self.order, "saved": str(self.path) if self.path else None}

    # ---- saving ----------------------------------------------------------------------
    def descriptor(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "name": self.name,
                "folder": self.folder, "fingerprint": self.fingerprint,
                "encoding": self.encoding, "order": self.order, "tunes": self.tunes,
                "notes": self.notes, "files": self.files, "skipped": self.skipped,
                "problems": self.problems,
                "held_out": self.held_out, "held_out_bits_per_note_by_order":
                    self.bits_by_order,
                "shares": self.shares, "build_seconds": round(self.build_seconds, 3),
                "arrays": self.arrays_path.name if self.path else None}

    def save(self, path: str | Path | None = None) -> Path:
        """The descriptor (JSON) and the arrays (``.npz`` beside it), atomically."""
        from engine.formats import write_bytes_atomic

        path = Path(path) if path is not None else \
            styles_dir() / f"{_file_stem(Path(self.folder), self.encoding)}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        ngram, tokens = self.ngram, self.tune_tokens  # before the path moves
        arrays = ngram.arrays("ngram_")
        flat = np.concatenate(tokens) if tokens else np.zeros(0, np.int32)
        arrays["tokens"] = flat.astype(np.uint8 if ngram.vocab <= 256 else np.uint16)
        arrays["lengths"] = np.array([len(t) for t in tokens], np.int64)
        write_bytes_atomic(path.with_suffix(".npz"), npz_bytes(arrays))
        self.path = path
        self._save_descriptor()
        return path

    def _save_descriptor(self) -> None:
        from engine.formats import write_bytes_atomic

        write_bytes_atomic(self.path, json.dumps(self.descriptor(), indent=1).encode())
        key = str(self.path.resolve())
        if key in _LOADED and _LOADED[key][1] is self:  # its shares written: still current
            _LOADED[key] = (_stamp(self.path), self)

    # ---- mixing with a network -------------------------------------------------------
    def check_model(self, model) -> None:
        if PARTS in capabilities_of(model):
            raise StyleError(f"a style joins a melody model; {model.name} continues every "
                             f"part at once")
        if model.encoding.card() != self.encoding:
            raise StyleError(f"the style {self.name} was learnt in the encoding "
                             f"{self.encoding.get('name')}; the model {model.name} speaks "
                             f"{model.encoding.card().get('name')} with other settings")

    def shares_for(self, model, memory: bool) -> np.ndarray:
        """The style's share per bucket beside ``model`` (with the motif memory or
        without), fitted on the held-out tunes the first time and kept with the style
        (and in its JSON), rounded as saved."""
        self.check_model(model)
        key = model.name if memory else f"{model.name} (memory off)"
        size = self.order * (len(CONFIDENCE_EDGES) + 1)
        saved = self.shares.get(key)
        if saved is not None and len(saved) == size:
            return np.asarray(saved, np.float64)
        tokens = self.tune_tokens
        held = _spread([tokens[i] for i in self.held_out if len(tokens[i]) >= 2],
                       MAX_FIT_TUNES)
        if not held:
            share = np.full(size, DEFAULT_SHARE)
        else:
            out = set(self.held_out)
            without = KneserNey(self.ngram.vocab, self.order).fit(
                [t for i, t in enumerate(tokens) if i not in out])
            share, _ = _fit_against(without, held, [_beside(model, t, memory) for t in held])
        # kept as they are saved, so that a style just fitted and the same style loaded
        # from its file mix (and score) alike
        self.shares[key] = [round(float(x), 5) for x in share]
        if self.path is not None:
            try:
                self._save_descriptor()
            except OSError:
                pass  # a read-only models folder: the shares are fitted again next time
        return np.asarray(self.shares[key], np.float64)


# ---------------------------------------------------------------------------------------
# building, finding and loading styles
# ---------------------------------------------------------------------------------------


def _check(is_cancelled: Callable[[], bool] | None) -> None:
    check_cancelled(is_cancelled, "building the style")


def _spread(items: list, most: int) -> list:
    """At most ``most`` of ``items``, spread evenly over them."""
    return items[::max(1, len(items) // most)][:most]


def _fit_against(ngram: KneserNey, tunes: Sequence[np.ndarray],
                 others: Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
    """The n-gram's shares beside another model, fitted on ``tunes`` (``others``: that
    model's distributions of each tune's tokens after the first), and the bits of the
    tunes under the mixture."""
    p_other, p_style, buckets = [], [], []
    for tune, other in zip(tunes, others):
        p, longest = ngram.distributions(tune, with_longest=True)
        rows, targets = np.arange(len(tune) - 1), tune[1:]
        p_other.append(other[rows, targets])
        p_style.append(p[1:][rows, targets])
        buckets.append(_bucket(p[1:], longest[1:]))
    p_other, p_style, buckets = (np.concatenate(x) for x in (p_other, p_style, buckets))
    share = fit_shares(p_other, p_style, buckets, ngram.order * (len(CONFIDENCE_EDGES) + 1))
    w = share[buckets]
    return share, float(-np.log2((1 - w) * p_other + w * p_style).sum())


def _held_out(count: int) -> list[int]:
    held = list(range(HELD_OUT_EVERY - 1, count, HELD_OUT_EVERY))
    return held or ([count - 1] if count >= 2 else [])


def build_style(folder: str | Path, encoding, progress: Progress | None = None,
                is_cancelled: Callable[[], bool] | None = None,
                save: bool = True, fingerprint: str | None = None) -> StyleModel:
    """Read ``folder``, choose the n-gram's order on a held-out tenth of its tunes (mixed
    with the motif memory, as it will be used), fit it on every tune and save it in
    :func:`styles_dir` (``save``).  ``progress(done, total, name)`` is called per file;
    ``is_cancelled()`` raises :class:`~engine.errors.Cancelled`."""
    started = time.perf_counter()
    folder = Path(folder).expanduser().resolve()
    if fingerprint is None:  # (style_for_folder has just taken it)
        fingerprint = folder_fingerprint(folder, is_cancelled)
    read = read_folder(folder, encoding, progress, is_cancelled)
    tunes = [t for _, t in read.tunes]
    vocab = encoding.vocab_size
    top = min(max(ORDERS), max_order_for(vocab))
    orders = [n for n in ORDERS if n <= top] or [top]
    held = _held_out(len(tunes))
    bits: dict[str, float] = {}
    if held:
        _check(is_cancelled)
        out = set(held)
        train = [t for i, t in enumerate(tunes) if i not in out]
        test = _spread([tunes[i] for i in held if len(tunes[i]) >= 2], MAX_ORDER_TUNES)
        notes = sum(encoding.count_onsets(t[1:]) for t in test) or 1
        # the style always plays beside a model of the piece itself: the order is the one
        # that adds most to the piece's own n-gram (the motif memory)
        memory = []
        for t in test:
            _check(is_cancelled)
            memory.append(memory_distributions(t.tolist(), vocab, DEFAULT_MAX_ORDER)[0][1:])
        for kn in KneserNey.fit_orders(vocab, train, orders):
            _check(is_cancelled)
            bits[str(kn.order)] = round(_fit_against(kn, test, memory)[1] / notes, 4)
        order = int(min(bits, key=lambda n: (bits[n], int(n))))
    else:
        order = min(8, top)
    _check(is_cancelled)
    problems = read.problems
    if len(problems) > MAX_PROBLEMS_KEPT:
        problems = problems[:MAX_PROBLEMS_KEPT] + \
            [f"... and {len(problems) - MAX_PROBLEMS_KEPT} more files skipped"]
    style = StyleModel(
        name=folder.name or str(folder), folder=str(folder), fingerprint=fingerprint,
        encoding=encoding.card(), order=order, tunes=len(tunes),
        notes=sum(encoding.count_onsets(t) for t in tunes), files=read.files,
        problems=problems, skipped=len(read.problems), held_out=held, bits_by_order=bits,
        built_now=True, _ngram=KneserNey(vocab, order).fit(tunes), _tokens=tunes)
    style.build_seconds = time.perf_counter() - started
    if save:
        style.save()
    return style


def load_style(path: str | Path) -> StyleModel:
    """A saved style from its JSON descriptor (its arrays are read when first used)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise StyleError(f"{path.name}: there is no such saved style") from None
    except (OSError, ValueError) as e:
        raise StyleError(f"{path.name}: the saved style cannot be read ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StyleError(f"{path.name}: this is not a saved Continuo style")
    if data.get("version") != VERSION:
        raise StyleError(f"{path.name}: a style saved by another version of Continuo; "
                         f"build it again from its folder")
    try:
        return StyleModel(
            name=str(data["name"]), folder=str(data["folder"]),
            fingerprint=str(data["fingerprint"]), encoding=dict(data["encoding"]),
            order=int(data["order"]), tunes=int(data["tunes"]), notes=int(data["notes"]),
            files=int(data["files"]), problems=[str(p) for p in data["problems"]],
            skipped=int(data["skipped"]),
            held_out=[int(i) for i in data["held_out"]],
            bits_by_order={str(k): float(v)
                           for k, v in data["held_out_bits_per_note_by_order"].items()},
            shares={str(k): [float(x) for x in v] for k, v in data["shares"].items()},
            build_seconds=float(data.get("build_seconds", 0.0)), path=path)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise StyleError(f"{path.name}: the saved style is damaged ({type(e).__name__}: "
                         f"{e})") from None


def list_styles(directory: str | Path | None = None) -> list[StyleModel]:
    """Every saved style (sorted by name); a damaged descriptor is left out."""
    folder = Path(directory) if directory is not None else styles_dir()
    try:
        paths = sorted(p for p in folder.glob("*.json") if p.is_file())
    except OSError:
        return []
    styles = []
    for path in paths:
        try:
            styles.append(load_style(path))
        except StyleError:
            continue
    return sorted(styles, key=lambda s: (s.name.lower(), s.folder))


def style_for_folder(folder: str | Path, encoding, progress: Progress | None = None,
                     is_cancelled: Callable[[], bool] | None = None) -> StyleModel:
    """The saved style of ``folder`` when its files have not changed since, else a
    new one built (and saved)."""
    folder = Path(folder).expanduser().resolve()
    saved = styles_dir() / f"{_file_stem(folder, encoding.card())}.json"
    fingerprint = None
    if saved.is_file():
        try:
            style = load_style(saved)
            fingerprint = folder_fingerprint(folder, is_cancelled)
            if style.fingerprint == fingerprint and style.encoding == encoding.card():
                return style.load_arrays()
        except StyleError:
            pass  # damaged or from another version: built again
    return build_style(folder, encoding, progress, is_cancelled, fingerprint=fingerprint)


# the saved styles this process has loaded, by their JSON's path: a style is read (and
# its shares fitted) once per process, not once per generation, until its files change
_LOADED: dict[str, tuple[tuple, "StyleModel"]] = {}


def _stamp(path: Path) -> tuple:
    """When and how big a saved style's JSON and arrays are (what says it changed)."""
    out: list = []
    for p in (path, path.with_suffix(".npz")):
        try:
            st = p.stat()
            out += [st.st_mtime_ns, st.st_size]
        except OSError:
            out += [None, None]
    return tuple(out)


def resolve_style(where: str | Path, encoding,
                  is_cancelled: Callable[[], bool] | None = None,
                  progress: Progress | None = None) -> StyleModel:
    """A style from a saved style's JSON or from a folder of music; a saved style whose
    arrays are damaged is built again from its folder (``progress`` follows a build).
    A saved style is read once per process (again when its files change)."""
    path = Path(where).expanduser()
    if path.is_dir():
        return style_for_folder(path, encoding, progress, is_cancelled)
    if path.suffix.lower() == ".json" and path.is_file():
        loaded = _LOADED.get(str(path.resolve()))
        if loaded is not None and loaded[0] == _stamp(path):
            return loaded[1]
        style = load_style(path)
        try:
            style.load_arrays()
            _LOADED[str(path.resolve())] = (_stamp(path), style)
            return style
        except StyleError as damaged:
            folder = Path(style.folder)
            if not folder.is_dir():
                raise StyleError(f"{path.name}: the saved style is damaged and its folder "
                                 f"{folder} is gone, so it cannot be built again; learn a "
                                 f"style from a folder of music") from None
            if path.resolve().parent == styles_dir().resolve():
                return style_for_folder(folder, encoding, progress, is_cancelled)
            # a style kept elsewhere is built again where it was
            rebuilt = build_style(folder, encoding, progress, is_cancelled, save=False)
            try:
                rebuilt.save(path)
            except OSError:
                raise damaged from None
            return rebuilt
    raise StyleError(f"{path}: a style is a folder of music or a saved style (.json); "
                     f"there is no such folder or file")


# ---------------------------------------------------------------------------------------
# scoring and generating with a style
# ---------------------------------------------------------------------------------------


def _beside(model, tokens: np.ndarray, memory: bool) -> np.ndarray:
    """What the style is mixed with: for every token after the first, the network's
    distribution (mixed with the motif memory's, ``memory``)."""
    tokens = np.asarray(tokens, dtype=np.int32)
    logits = model.sequence_logits(tokens[None, :-1])[0]
    p = softmax(logits)
    if memory:
        mixing = mixing_for(model.name)
        p_mem, longest = memory_distributions(tokens.tolist(), logits.shape[-1],
                                              mixing.max_order, mixing.phase_period)
        p = mix(p, p_mem[1:], mixing, longest[1:])
    return p


def score_tokens_with_style(model, tokens: Sequence[int], style: StyleModel,
                            memory: bool = True) -> tuple[float, int, int]:
    """:meth:`StepModel.score_tokens` with the style (and the motif memory, ``memory``)
    mixed in: (bits, tokens scored, notes among them), every token after the first."""
    tokens = np.asarray(tokens, dtype=np.int32)
    if tokens.ndim != 1 or len(tokens) < 2:
        return 0.0, 0, 0
    share = style.shares_for(model, memory)
    p = _beside(model, tokens, memory)
    p_style, longest = style.ngram.distributions(tokens, with_longest=True)
    targets = tokens[1:]
    rows = np.arange(len(targets))
    w = share[_bucket(p_style[1:], longest[1:])]
    q = (1.0 - w) * p[rows, targets] + w * p_style[1:][rows, targets]
    bits = -np.log2(np.maximum(q, 1e-300)).sum()
    return float(bits), len(targets), model.info.encoding.count_onsets(targets)


class StyleMixer:
    """What the generator holds when a style is chosen: the style's n-gram per
    variation, chained after the motif memory's mixer (when there is one); turns a
    step's network logits into mixed log-probabilities, like :class:`MemoryMixer`."""

    def __init__(self, style: StyleModel, model, rows: int, prefix: Sequence[int],
                 memory: MemoryMixer | None = None) -> None:
        self.memory = memory
        self.ngram = style.ngram
        self.share = style.shares_for(model, memory is not None)
        prefix = np.asarray(prefix, np.int64).reshape(1, -1)
        self.history = np.repeat(self.ngram.histories(prefix), rows, axis=0)

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        p = np.exp(self.memory(logits)) if self.memory is not None else softmax(logits)
        p_style, longest = self.ngram.next_distributions(self.history, with_longest=True)
        w = self.share[_bucket(p_style, longest)][:, None]
        return np.log(np.maximum((1.0 - w) * p + w * p_style, 1e-300))

    def update(self, tokens: np.ndarray) -> None:
        if self.memory is not None:
            self.memory.update(tokens)
        if self.history.shape[1]:
            tokens = np.asarray(tokens, np.int64).reshape(-1, 1)
            self.history = np.concatenate([self.history[:, 1:], tokens], axis=1)
