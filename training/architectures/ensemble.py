"""The ensemble: two exported models run as one (a product of experts).

It is not trained and has no Keras model: :func:`training.ensemble.build_ensemble` puts
its members' ONNX graphs side by side (``python -m training ensemble``), and its card
lists every member's states under the member's prefix.  It is registered so that cards
naming it are described (README table, descriptions) like every other architecture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from training.architectures.base import Architecture, Hyperparameters, register


@register
class Ensemble(Architecture):
    name = "ensemble"
    description = ("{members} together: both weigh every note; the best-scoring of the "
                   "three, at twice the work.")
    trainable = False

    def describe(self, members: Sequence[dict]) -> str:
        """The card's description, naming the members (their architecture's title, or
        their name)."""
        from training.architectures import ARCHITECTURES

        shown = []
        for m in members:
            arch = ARCHITECTURES.get(m.get("architecture"))
            shown.append(arch.title if arch is not None and arch.title else m["name"])
        return self.description.format(members=" + ".join(shown))

    def size_text(self, hp: Hyperparameters) -> str:
        size = " + ".join(f"{m} x {w:g}" for m, w in zip(hp.get("members", []),
                                                          hp.get("weights", [])))
        return f"ensemble: {size} (log-probabilities)"

    def combine(self, cards: Sequence[str | Path], name: str, out_dir: str | Path,
                **options) -> dict:
        """Write the ensemble of ``cards`` (see :func:`training.ensemble.build_ensemble`)."""
        from training.ensemble import build_ensemble

        return build_ensemble(cards, name, out_dir, **options)
