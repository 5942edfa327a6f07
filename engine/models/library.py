"""The model library: every usable model in the model folders, and one line per
refused card, with onnxruntime sessions created only when a model is used."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Sequence

from engine import resources
from engine.errors import ContinuoError, ModelError
from engine.models.card import CARD_FORMAT, MAX_CARD_BYTES, ModelCard, memory_section, read_card
from engine.models.step_model import StepModel

REPO_MODELS_DIR = resources.models_dir()  # the shipped models (a wheel's or the checkout's)


def user_models_dir() -> Path:
    """The user's own models folder: $CONTINUO_MODELS_DIR, else the XDG data folder."""
    env = os.environ.get("CONTINUO_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "continuo" / "models"


def default_folders() -> list[Path]:
    """The model folders a library reads unless told otherwise: shipped, then the user's."""
    return [REPO_MODELS_DIR, user_models_dir()]


def card_named(name: str, folders: Sequence[Path | str] | None = None) -> dict[str, Any] | None:
    """The card, as JSON (not checked against its files: cheap), of the model named
    ``name`` in ``folders`` (default: :func:`default_folders`), the first found; None
    when no card has that name."""
    for folder in folders if folders is not None else default_folders():
        try:
            paths = sorted(p for p in Path(folder).glob("*.json") if p.is_file())
        except OSError:
            continue
        for path in paths:
            try:
                if path.stat().st_size > MAX_CARD_BYTES:
                    continue
                card = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
                continue
            if isinstance(card, dict) and card.get("format") == CARD_FORMAT \
                    and card.get("name") == name:
                return card
    return None


def memory_named(name: str) -> dict[str, Any] | None:
    """The ``memory`` section (see :func:`engine.models.card.memory_section`) of the
    card of the model named ``name`` in the default folders; None when it has none or
    one that is not valid."""
    card = card_named(name)
    try:
        return memory_section(card.get("memory"), name) if card is not None else None
    except ModelError:
        return None



class ModelLibrary:
    """Every usable model in the model folders, and one line per refused card.

    A name found in several folders: the first folder wins (the shipped models come
    first by default) and the others are listed as problems.
    """

    def __init__(self, folders: Sequence[Path | str] | None = None, session_opts=None) -> None:
        if folders is None:
            folders = default_folders()
        self.folders = [Path(f) for f in folders]
        self._session_opts = session_opts
        self._lock = threading.Lock()
        self._loaded: dict[str, StepModel] = {}
        self._infos: dict[str, ModelCard] = {}
        self.models: list[ModelCard] = []
        self.problems: list[str] = []
        self.refresh()

    def refresh(self) -> None:
        """Read the folders again; sessions of unchanged models are kept."""
        infos: dict[str, ModelCard] = {}
        problems: list[str] = []
        for folder in self.folders:
            try:
                cards = sorted(p for p in folder.glob("*.json") if p.is_file())
            except OSError:
                continue  # a missing or unreadable folder simply has no models
            for card_path in cards:
                try:
                    info = read_card(card_path)
                except ModelError as e:
                    problems.append(str(e))
                    continue
                except ContinuoError as e:
                    problems.append(f"{card_path.name}: {e}")
                    continue
                except Exception as e:  # a card bug must not take every other model down
                    problems.append(f"{card_path.name}: the card cannot be read "
                                    f"({type(e).__name__}: {str(e)[:200]})")
                    continue
                if info.name in infos:
                    problems.append(f"{card_path}: a model named '{info.name}' was already "
                                    f"found in {infos[info.name].card_path.parent}; this one "
                                    f"is ignored")
                    continue
                infos[info.name] = info
        # keep the sessions of models whose card and files did not change
        kept = {}
        for name, model in self._loaded.items():
            new = infos.get(name)
            if (new is not None and new.card == model.info.card
                    and new.card_path == model.info.card_path):
                kept[name] = model
        self._loaded = kept
        self._infos = infos
        self.models = [infos[n] for n in sorted(infos)]
        self.problems = problems

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def info(self, name: str) -> ModelCard:
        try:
            return self._infos[name]
        except KeyError:
            known = ", ".join(self.names) or "none"
            raise ModelError(f"there is no model named '{name}' (models: {known})") from None

    def get(self, name: str) -> StepModel:
        """The model with its onnxruntime session (created on first use)."""
        with self._lock:  # generation workers may ask from several threads
            model = self._loaded.get(name)
            if model is None:
                model = StepModel(self.info(name), self._session_opts)
                try:
                    model.load()
                except ModelError as e:
                    # onnxruntime refused a file that looked right: list it as refused
                    self._infos.pop(name, None)
                    self.models = [m for m in self.models if m.name != name]
                    self.problems.append(str(e))
                    raise
                self._loaded[name] = model
            return model
