"""Presets: the Generate panel's settings saved under a name, recalled and deleted.

A preset is a small JSON file::

    {"format": "continuo-preset", "version": 1, "name": "sparse ballad",
     "settings": {"temperature": 0.8, "bars": 8, "variations": 4, "key": "auto",
                  "memory": true, "model": "lstm",
                  "controls": {"density": -2, "leaps": -1}}}

Every setting is optional (what a preset leaves out stays as the panel has it; a
control left out goes to 0).  Continuo ships a few (``assets/presets``, found through
:func:`engine.resources.presets_dir`); the user's own are in the ``presets`` folder of
the app's settings folder (``$CONTINUO_PRESETS_DIR`` overrides it), written atomically,
and one of the same name hides a shipped one.  A preset that cannot be read (bad JSON,
an unknown setting or control, a value out of range) is left out of the list with a
sentence that names its file; the panel still opens.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QInputDialog, QLabel, QLineEdit,
                               QMessageBox, QToolButton, QVBoxLayout, QWidget)

from engine import resources
from engine.errors import ContinuoError
from engine.formats import write_bytes_atomic
from engine.generation.request import GenerationSettings
from gui.panels.controls import checked_controls

FORMAT = "continuo-preset"
VERSION = 1
MAX_PRESET_BYTES = 64 * 1024
SETTINGS = ("model", "temperature", "bars", "variations", "key", "memory", "controls")
KEY_OFF = "off"  # the panel's "Off (any note)"; the engine's None


class PresetError(ContinuoError):
    """A preset that cannot be read or written, said in a sentence naming it."""


def user_presets_dir() -> Path:
    """$CONTINUO_PRESETS_DIR, else a "presets" folder in the app's settings folder."""
    env = os.environ.get("CONTINUO_PRESETS_DIR")
    if env:
        return Path(env).expanduser()
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppConfigLocation)
    return Path(base or Path.home() / ".config" / "Continuo") / "presets"


@dataclass
class Preset:
    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    shipped: bool = False
    path: Path | None = None


def file_stem(name: str) -> str:
    """A file name for the preset ``name`` (lower case, letters, digits and dashes)."""
    stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return stem or "preset"


def checked_settings(settings: Any) -> dict[str, Any]:
    """A preset's settings, checked: a ValueError says in a sentence what is wrong (an
    unknown setting or control, a value the engine refuses)."""
    if not isinstance(settings, dict):
        raise ValueError("its settings are not a JSON object")
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ValueError(f"there is no setting {unknown[0]!r}; there are "
                         f"{', '.join(SETTINGS)}")
    out = dict(settings)
    if "controls" in out:
        out["controls"] = checked_controls(out["controls"])
    if "model" in out and (not isinstance(out["model"], str) or not out["model"]):
        raise ValueError(f"the model is a name, not {out['model']!r}")
    key = out.get("key", "auto")
    engine_values = {k: out[k] for k in ("temperature", "bars", "variations", "memory")
                     if k in out}
    if key != KEY_OFF:
        engine_values["key"] = key
    else:
        engine_values["key"] = None
    try:
        GenerationSettings(**engine_values).validate()
    except ContinuoError as e:
        raise ValueError(str(e)) from None
    return out


def read_preset(path: Path, shipped: bool = False) -> Preset:
    """The preset in ``path``; a PresetError names the file and says what is wrong."""
    where = f"The preset {path.name}"
    try:
        if path.stat().st_size > MAX_PRESET_BYTES:
            raise PresetError(f"{where} is too large to be a preset")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PresetError(f"{where} cannot be read ({getattr(e, 'strerror', None) or e})") \
            from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PresetError(f"{where} is not valid JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PresetError(f"{where} is not a Continuo preset")
    if data.get("version") != VERSION:
        raise PresetError(f"{where} is version {data.get('version')!r}; this Continuo "
                          f"reads version {VERSION}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PresetError(f"{where} has no name")
    try:
        settings = checked_settings(data.get("settings", {}))
    except ValueError as e:
        raise PresetError(f"{where} ({name!r}) cannot be used: {e}") from None
    return Preset(name.strip(), settings, shipped, path)


def list_presets(user_dir: Path | None = None,
                 shipped_dir: Path | None = None) -> tuple[list[Preset], list[str]]:
    """Every preset, by name (the user's hide shipped ones of the same name), and a
    sentence for each file that cannot be used."""
    found: dict[str, Preset] = {}
    problems: list[str] = []
    for folder, shipped in ((shipped_dir or resources.presets_dir(), True),
                            (user_dir or user_presets_dir(), False)):
        try:
            paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
        except OSError as e:
            problems.append(f"The presets in {folder} cannot be listed ({e.strerror or e}).")
            continue
        for path in paths:
            try:
                preset = read_preset(path, shipped)
            except PresetError as e:
                problems.append(str(e) if str(e).endswith(".") else f"{e}.")
                continue
            found[preset.name.lower()] = preset
    return sorted(found.values(), key=lambda p: p.name.lower()), problems


def write_preset(name: str, settings: dict[str, Any], user_dir: Path | None = None) -> Path:
    """Save ``settings`` as the user's preset ``name`` (atomically); its path."""
    name = name.strip()
    if not name:
        raise PresetError("A preset needs a name.")
    try:
        settings = checked_settings(settings)
    except ValueError as e:
        raise PresetError(f"The preset {name!r} cannot be saved: {e}") from None
    folder = user_dir or user_presets_dir()
    data = {"format": FORMAT, "version": VERSION, "name": name, "settings": settings}
    path = folder / f"{file_stem(name)}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    except OSError as e:
        raise PresetError(f"The preset {name!r} cannot be saved in {folder} "
                          f"({e.strerror or e}).") from None
    return path


class PresetsController:
    """The panel's Preset row (a list, Save..., Delete) and what it does, through the
    Generate panel's public widgets and methods."""

    def __init__(self, panel: Any) -> None:
        self.panel = panel
        self.presets: list[Preset] = []
        self.combo = QComboBox()
        self.combo.setObjectName("preset_combo")
        self.combo.setToolTip("Recall a preset: its settings and controls")
        self.combo.activated.connect(self._on_activated)
        self.save_button = QToolButton()
        self.save_button.setText("Save...")
        self.save_button.setToolTip("Save the settings and controls as a preset")
        self.save_button.clicked.connect(self.ask_save)
        self.delete_button = QToolButton()
        self.delete_button.setText("Delete")
        self.delete_button.setToolTip("Delete the chosen preset of your own")
        self.delete_button.clicked.connect(self.ask_delete)
        self.problems = QLabel()
        self.problems.setObjectName("preset_problems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #c0392b;")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(self.save_button)
        row.addWidget(self.delete_button)
        self.widget = QWidget()
        column = QVBoxLayout(self.widget)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(row)
        column.addWidget(self.problems)
        self.reload()

    # ---- the list ----------------------------------------------------------------------
    def reload(self, choose: str | None = None) -> list[str]:
        """List the presets again (``choose`` shown chosen); the problems, also shown
        under the list."""
        self.presets, problems = list_presets()
        self.combo.clear()
        self.combo.addItem("(choose a preset)", None)
        for preset in self.presets:
            label = preset.name + ("" if preset.shipped else "  (yours)")
            self.combo.addItem(label, preset.name)
        if choose is not None:
            i = self.combo.findData(self.find(choose).name if self.find(choose) else None)
            self.combo.setCurrentIndex(max(i, 0))
        self.problems.setText("\n".join(problems))
        self.problems.setVisible(bool(problems))
        self._update_delete()
        return problems

    def names(self) -> list[str]:
        return [p.name for p in self.presets]

    def find(self, name: str) -> Preset | None:
        return next((p for p in self.presets if p.name.lower() == name.strip().lower()), None)

    def _update_delete(self) -> None:
        preset = self.find(self.combo.currentData() or "") if self.combo.currentData() else None
        self.delete_button.setEnabled(preset is not None and not preset.shipped)

    # ---- the panel's settings ------------------------------------------------------------
    def current(self) -> dict[str, Any]:
        """The panel's settings as a preset holds them."""
        p = self.panel
        values: dict[str, Any] = {
            "temperature": p.temperature.value() / p.temperature_steps,
            "bars": p.bars.value(), "variations": p.variations_spin.value(),
            "key": p.key_combo.currentData(), "memory": p.memory_check.isChecked(),
            "controls": p.controls.values()}
        model = p.model_combo.currentData()
        if model:
            values["model"] = model
        return values

    def apply(self, preset: Preset) -> str:
        """Put ``preset``'s settings in the panel; the sentence that says so."""
        p, s = self.panel, preset.settings
        notes = []
        if "model" in s:
            if p.model_combo.findData(s["model"]) >= 0:
                p.select_model(s["model"])
            else:
                notes.append(f"its model {s['model']!r} is not installed, so the model "
                             f"stays as it was")
        if "temperature" in s:
            p.temperature.setValue(round(s["temperature"] * p.temperature_steps))
        if "bars" in s:
            p.bars.setValue(s["bars"])
        if "variations" in s:
            p.variations_spin.setValue(s["variations"])
        if "key" in s:
            if p.key_combo.findData(s["key"]) >= 0:
                p.set_key_mode(s["key"])
        if "memory" in s:
            p.memory_check.setChecked(s["memory"])
        p.controls.set_values(s.get("controls", {}))
        said = f"Preset {preset.name!r} recalled"
        return said + (f"; {'; '.join(notes)}." if notes else ".")

    # ---- recall, save, delete ----------------------------------------------------------
    def recall(self, name: str) -> bool:
        """Put the preset ``name`` in the panel; False (with a message) if there is none."""
        preset = self.find(name)
        if preset is None:
            self.panel.say(f"There is no preset {name!r}.")
            return False
        self.panel.say(self.apply(preset))
        i = self.combo.findData(preset.name)
        if i >= 0:
            self.combo.setCurrentIndex(i)
        self._update_delete()
        return True

    def save(self, name: str) -> bool:
        """Save the panel's settings as the preset ``name`` (replacing one of the user's
        of that name); False with a message when it cannot."""
        try:
            write_preset(name, self.current())
        except PresetError as e:
            self.panel.say(str(e))
            return False
        self.reload(choose=name)
        self.panel.say(f"Saved the preset {name.strip()!r}.")
        return True

    def delete(self, name: str) -> bool:
        """Delete the user's preset ``name``; a shipped one cannot be deleted."""
        preset = self.find(name)
        if preset is None:
            self.panel.say(f"There is no preset {name!r}.")
            return False
        if preset.shipped or preset.path is None:
            self.panel.say(f"The preset {preset.name!r} comes with Continuo and cannot be "
                           f"deleted.")
            return False
        try:
            preset.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            self.panel.say(f"The preset {preset.name!r} cannot be deleted "
                           f"({e.strerror or e}).")
            return False
        self.reload()
        self.panel.say(f"Deleted the preset {preset.name!r}.")
        return True

    def _on_activated(self, index: int) -> None:
        name = self.combo.itemData(index)
        if name:
            self.recall(name)
        self._update_delete()

    def ask_save(self) -> bool:
        current = self.combo.currentData() or ""
        name, ok = QInputDialog.getText(self.widget, "Save Preset", "Preset name:",
                                        QLineEdit.EchoMode.Normal, current)
        if not ok or not name.strip():
            return False
        existing = self.find(name)
        if existing is not None and not existing.shipped:
            answer = QMessageBox.question(self.widget, "Save Preset",
                                          f"Replace your preset {existing.name!r}?")
            if answer != QMessageBox.StandardButton.Yes:
                return False
        return self.save(name)

    def ask_delete(self) -> bool:
        name = self.combo.currentData()
        if not name:
            return False
        answer = QMessageBox.question(self.widget, "Delete Preset",
                                      f"Delete your preset {name!r}?")
        if answer != QMessageBox.StandardButton.Yes:
            return False
        return self.delete(name)
