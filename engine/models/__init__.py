"""Models: the card (:mod:`.card`, the schema training writes and the engine reads),
its conditioning inputs (:mod:`.conditioning`), the ONNX signature reader
(:mod:`.onnx_signature`), step sessions with their state rings (:mod:`.step_model`) and
the library of every usable model (:mod:`.library`).

The engine accepts any architecture: what it checks is the contract of the graphs
(docs/model-contract.md), not how they were built.  Which architectures exist is the
training side's registry (``training/architectures/``)."""

from engine.models.card import (CARD_FORMAT, CARD_VERSION, ModelCard, StateSpec, read_card,
                                sha256_file)
from engine.models.conditioning import Conditioned, ConditioningInput, conditioning_input
from engine.models.library import (REPO_MODELS_DIR, ModelLibrary, card_named, memory_named,
                                   user_models_dir)
from engine.models.onnx_signature import read_onnx_signature
from engine.models.step_model import (StepModel, StepState, attention_context,
                                      logits_in_pieces, session_options)

__all__ = ["CARD_FORMAT", "CARD_VERSION", "ModelCard", "StateSpec", "read_card", "sha256_file",
           "Conditioned", "ConditioningInput", "conditioning_input",
           "REPO_MODELS_DIR", "ModelLibrary", "card_named", "memory_named", "user_models_dir",
           "read_onnx_signature", "StepModel", "StepState", "attention_context",
           "logits_in_pieces", "session_options"]
