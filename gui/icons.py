"""The toolbar and menu icons: one small SVG set drawn for Continuo (assets/icons/,
MIT like the rest of the project), in one style: 24 px, 2 px slate strokes with round
ends, solid shapes only where the symbol is solid (play, stop, record)."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtGui import QIcon

from engine import resources

ICON_DIR = resources.icon_dir()

# action objectName -> icon name, for the actions that have one
ACTION_ICONS = {
    "file_new": "new", "file_open": "open", "file_save": "save",
    "edit_undo": "undo", "edit_redo": "redo",
    "transport_play": "play", "transport_stop": "stop", "transport_rewind": "rewind",
    "transport_loop": "loop", "transport_metronome": "metronome", "transport_panic": "panic",
    "generate_run": "generate", "generate_keep": "keep", "generate_cancel": "cancel",
    "view_fit_song": "fit",
}


def names() -> list[str]:
    """Every icon shipped."""
    return sorted(p.stem for p in ICON_DIR.glob("*.svg"))


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """The icon ``name`` (an empty QIcon when the file is missing, as in a build without
    the assets: the buttons then show their text alone)."""
    path = ICON_DIR / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def apply(actions) -> None:
    """Give each action listed in ACTION_ICONS its icon."""
    for action in actions:
        name = ACTION_ICONS.get(action.objectName())
        if name is not None:
            action.setIcon(icon(name))
