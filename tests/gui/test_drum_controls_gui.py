"""Issue 26 for drums: Add Drums takes the Generate panel's Controls section.

The user moves the sliders with the keyboard, opens Add Drums with Ctrl+Alt+D, reads in
the dialog which controls the drums take (leaps is left out, with a sentence), and
clicks Add Drums: the request that reaches the generation service carries them, and the
drums written are sparser and evenly soft.  Real widgets, real key and mouse events,
the real helper process and the shipped drum model.
"""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from engine.generation.request import GenerationSettings
from gui.panels.drums import drum_settings
from tests.gui.test_drums_gui import TIMEOUT_MS, needs_drum_model, open_add_drums

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def sent(monkeypatch):
    """The request of every job that reaches the helper process (the real one runs)."""
    from engine.generation.service import GenerationService

    requests = []
    real_run = GenerationService.run

    def spy(self, folders, seed, settings, *args, **kwargs):
        requests.append(kwargs.get("request"))
        return real_run(self, folders, seed, settings, *args, **kwargs)

    monkeypatch.setattr(GenerationService, "run", spy)
    return requests


def add_drums(qtbot, window) -> tuple[str, list]:
    """Ctrl+Alt+D, rock, one variation, a click on Add Drums: what the dialog said of
    the controls, and the hits written."""
    panel = window.panel
    dialog = open_add_drums(qtbot, window)
    dialog.style_box.setCurrentIndex(dialog.style_box.findData("rock"))
    dialog.variations.setValue(1)
    text = dialog.controls.text()
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    with qtbot.waitSignal(panel.generation_finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(ok, LEFT)
        assert panel.job is not None, panel.messages.text()
    assert panel.result is not None, panel.messages.text()
    return text, panel.variation_notes(0)


def press(qtbot, slider, key, times: int) -> None:
    slider.setFocus()
    for _ in range(times):
        qtbot.keyClick(slider, key)


@needs_drum_model
def test_add_drums_takes_the_panels_controls_and_leaves_leaps_out(qtbot, library,
                                                                 isolated_settings, sent):
    from tests.gui.test_app import make_window

    window = make_window(qtbot, library)  # the default seed: melody and bass
    panel = window.panel
    text, neutral = add_drums(qtbot, window)
    assert text.startswith("Controls: all in the middle")
    assert neutral and len({n.velocity for n in neutral}) > 1  # the model's accents

    box = panel.controls
    qtbot.mouseClick(box.header, LEFT)  # unfold the Controls section
    assert box.body.isVisible()
    press(qtbot, box.sliders["density"], Qt.Key.Key_Left, 2)  # sparser
    press(qtbot, box.sliders["dynamics"], Qt.Key.Key_Left, 2)  # softer, even
    press(qtbot, box.sliders["leaps"], Qt.Key.Key_Right, 1)
    assert box.values()["density"] == -2 and box.values()["leaps"] == 1
    text, steered = add_drums(qtbot, window)
    assert "Sparser (-2)" in text and "Softer, even (-2)" in text
    assert "Leaps (+1) has no meaning for drums" in text

    request = sent[-1]
    assert request.job == "drums"
    assert (request.settings.density, request.settings.dynamics,
            request.settings.leaps) == (-2, -2, 0)
    assert len(steered) < len(neutral)  # sparser
    assert len({n.velocity for n in steered}) == 1  # even: one velocity for every hit
    assert steered[0].velocity < max(n.velocity for n in neutral)
    assert window.doc.undo_stack.count() == 0  # nothing is kept before Keep


def test_add_drums_settings_keep_every_control_but_leaps():
    """Add Drums' settings (gui/panels/drums.py's drum_settings) keep every control but
    leaps; at repeat 0 the memory stays off, so the drums are what they were."""
    panel = GenerationSettings(density=-1, leaps=2, repeat=1, dynamics=2,
                               part_controls=((0, "density", 2),))
    taken = drum_settings(panel, 3)
    assert (taken.density, taken.leaps, taken.repeat, taken.dynamics) == (-1, 0, 1, 2)
    assert taken.memory and taken.part_controls == () and taken.variations == 3
    assert not drum_settings(dataclasses.replace(panel, repeat=0), 1).memory
