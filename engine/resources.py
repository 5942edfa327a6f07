"""Where Continuo's shipped data is found: the models with their cards, the default
seed, the icons, and the soundfont with its licence.

An installed wheel holds them as the package ``continuo_data`` (``models/`` and
``assets/``, see setup.py), found through :mod:`importlib.resources`; a checkout, or an
editable install of one, has them in ``models/`` and ``assets/`` beside the code, which
is the fallback.  Every path to shipped data is built here, so the app reads the same
files from a wheel as from a checkout.  The user's own models folder is not shipped
data (:func:`engine.models.library.user_models_dir`).

The data must be files on disk (onnxruntime, FluidSynth and Qt open them by name), as
pip and pipx install them; a zipped install is not supported.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from functools import lru_cache
from pathlib import Path

DATA_PACKAGE = "continuo_data"
CHECKOUT = Path(__file__).resolve().parents[1]
# a folder of the shipped data -> what must be in it for it to count
FOLDERS = {"models": "README.md", "assets": "default_seed.mid"}


def _packaged(name: str) -> Path | None:
    """``continuo_data/<name>`` of an installed wheel, as a folder on disk, or None."""
    package, marker = f"{DATA_PACKAGE}.{name}", FOLDERS[name]
    try:
        found = importlib.resources.files(package).joinpath(marker)
    except (ImportError, TypeError, OSError):
        # an editable install's namespace path also holds its finder's hook, which
        # importlib.resources refuses (NotADirectoryError); its folders are still listed
        found = None
    if isinstance(found, Path) and found.is_file():
        return found.parent
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / marker).is_file():
            return Path(location)
    return None


@lru_cache(maxsize=None)
def data_dir(name: str) -> Path:
    """The folder of shipped data ``name`` (``models`` or ``assets``): the installed
    package's, else the checkout's (which need not exist: a caller then finds no files
    there, as before)."""
    if name not in FOLDERS:
        raise ValueError(f"no shipped data folder named {name!r}")
    return _packaged(name) or CHECKOUT / name


def models_dir() -> Path:
    """The shipped models: one JSON card each, beside its ONNX files."""
    return data_dir("models")


def assets_dir() -> Path:
    return data_dir("assets")


def default_seed() -> Path:
    """The four-bar phrase a new window opens with (and ``--seed`` in the docs)."""
    return assets_dir() / "default_seed.mid"


def icon_dir() -> Path:
    """The toolbar and menu icons."""
    return assets_dir() / "icons"


def app_icon() -> Path:
    """The application's own icon (the desktop entry's)."""
    return assets_dir() / "continuo.svg"


def presets_dir() -> Path:
    """The Generate panel's shipped presets (JSON, gui.panels.presets)."""
    return assets_dir() / "presets"


def soundfont_dir() -> Path:
    """The built-in synth's soundfont, its README and licence."""
    return assets_dir() / "soundfont"


def code_root() -> Path:
    """The folder that holds the ``engine`` package (site-packages when installed, the
    checkout otherwise): what a helper process puts on ``sys.path`` to import it."""
    return CHECKOUT
