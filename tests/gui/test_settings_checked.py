"""A bad setting is refused in the Generate panel with a sentence, before anything goes
to the helper process; the panel's widgets take their ranges from the engine's limits.

Real offscreen Qt, the real panel and the real generation service: a spy on the
service's ``run`` (it calls the real one) and the panel's public ``submitted`` signal
prove that a good setting reaches the helper process and a bad one does not.
"""

from __future__ import annotations

import pytest

from engine.limits import MAX_BARS, MAX_TEMPERATURE, MAX_VARIATIONS


@pytest.fixture
def panel(job_panel, doc, library):
    return job_panel(doc, library)


def test_the_widgets_ranges_are_the_engines_limits(panel):
    from gui.panels.generate import TEMPERATURE_STEPS

    assert panel.temperature.maximum() / TEMPERATURE_STEPS == MAX_TEMPERATURE
    assert panel.temperature.minimum() == 0
    assert (panel.bars.minimum(), panel.bars.maximum()) == (1, MAX_BARS)
    assert (panel.variations_spin.minimum(), panel.variations_spin.maximum()) == \
        (1, MAX_VARIATIONS)
    panel.temperature.setValue(panel.temperature.maximum())
    panel.bars.setValue(MAX_BARS)
    panel.variations_spin.setValue(MAX_VARIATIONS)
    settings = panel.settings()  # the widgets' extremes are settings the engine takes
    assert (settings.temperature, settings.bars, settings.variations) == \
        (MAX_TEMPERATURE, MAX_BARS, MAX_VARIATIONS)


def test_a_bad_setting_is_refused_with_a_sentence_without_a_round_trip(
        qtbot, panel, doc, monkeypatch):
    from engine.generation.service import GenerationService
    from gui.panels.parts import default_polyphonic

    sent = []  # the settings of every job that reached the helper process
    real_run = GenerationService.run

    def spy(self, folders, seed, settings, *args, **kwargs):
        sent.append(settings)
        return real_run(self, folders, seed, settings, *args, **kwargs)

    monkeypatch.setattr(GenerationService, "run", spy)
    submitted = []
    panel.submitted.connect(submitted.append)
    panel.select_model("lstm" if "lstm" in panel.library.names else panel.library.names[0])
    panel.bars.setValue(1)
    panel.variations_spin.setValue(1)

    # a good setting goes the whole way: the spies see it
    with qtbot.waitSignal(panel.generation_finished, timeout=120000):
        assert panel.generate()
    assert panel.result is not None, panel.messages.text()
    assert len(submitted) == 1 and len(sent) == 1

    # a temperature beyond the engine's limit (a slider wider than the engine allows)
    panel.temperature.setMaximum(round(MAX_TEMPERATURE * 100) + 100)
    panel.temperature.setValue(round(MAX_TEMPERATURE * 100) + 50)
    expected = f"The temperature must be between 0 and {MAX_TEMPERATURE:g}, not " \
               f"{MAX_TEMPERATURE + 0.5:g}."
    doc.select_all()  # Fill has notes to fill, Generate a selection to continue
    actions = [panel.generate, panel.fill, panel.regenerate]
    if default_polyphonic(panel.library) is not None:
        actions.append(panel.harmonise)
    for action in actions:
        panel.messages.setText("")
        assert not action(), action.__name__
        assert panel.messages.text() == expected, action.__name__
        assert panel.job is None
    qtbot.wait(50)  # anything queued would have been sent by now
    assert len(submitted) == 1 and len(sent) == 1  # nothing more reached the service


def test_a_gap_with_nothing_to_fill_is_refused_without_a_round_trip(qtbot, panel, doc):
    submitted = []
    panel.submitted.connect(submitted.append)
    start = doc.song().ticks_per_bar_at(0)
    panel.use_time_range(lambda: (start, start))  # a range of no length
    assert not panel.fill()
    said = panel.messages.text()
    assert said.startswith("The gap is empty: it ends (tick ") and said.endswith("."), said
    assert panel.job is None and submitted == []
