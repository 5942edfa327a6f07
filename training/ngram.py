"""The Kneser-Ney n-gram baseline: the engine's (:mod:`engine.models.ngram`), which a
style uses too; kept here under its old name for training and the benchmarks."""

from engine.models.ngram import MAX_ORDER, KneserNey, max_order_for

__all__ = ["MAX_ORDER", "KneserNey", "max_order_for"]
