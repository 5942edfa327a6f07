"""The seed notebooks' network: one-hot input, two LSTM(128), Dense(256) relu, logits.
A baseline; the same builder and step maths as :mod:`.lstm`, other sizes."""

from __future__ import annotations

from training.architectures.base import register
from training.architectures.lstm import Lstm


@register
class SeedLstm(Lstm):
    name = "seed-lstm"
    title = None
    baseline = True
    description = "The seed notebooks' LSTM (two LSTM(128), Dense(256)); a baseline."
    defaults = {"embed_dim": 0, "units": [128, 128], "dense_hidden": 256, "dropout": 0.0}
