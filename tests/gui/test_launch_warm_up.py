"""Once the window is on screen it starts the helper generation process, loads the
chosen model and runs it once there, and the first Generate uses that same process."""

from __future__ import annotations

import engine.generation.service as service_module
from gui import worker
from tests.gui.test_app import make_window


def test_the_helper_process_is_running_before_the_first_generate(qtbot, library,
                                                                 isolated_settings,
                                                                 monkeypatch):
    monkeypatch.setattr(worker, "WARM_OTHERS_AFTER_S", 0.0)
    old = service_module._service  # noqa: SLF001 - start from no helper process at all
    if old is not None:
        old.close()
    service_module._service = None  # noqa: SLF001

    window = make_window(qtbot, library)
    assert window.warm_up_threads == []  # not before the window is on screen ...
    qtbot.waitUntil(lambda: len(window.warm_up_threads) == 1, timeout=10000)  # ... then
    threads = [t for t in window.warm_up_threads if t is not None]
    assert len(threads) == 1  # the process, the chosen model loaded and run once, the rest
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    running = service_module._service  # noqa: SLF001
    assert running is not None and running.alive()  # before any Generate was pressed
    from engine.encodings import grammar_kernels

    assert grammar_kernels.warmed()  # the live accompanist's grammar, in this process
    assert window.panel.job is None

    with qtbot.waitSignal(window.panel.generation_finished, timeout=60000):
        assert window.panel.generate()
    assert window.panel.result is not None
    assert window.panel.variations.count() == window.panel.variations_spin.value()
    assert service_module.shared_service() is running  # the same process generated
