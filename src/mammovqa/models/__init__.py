"""Models: registry, the batched transformers adapter, the OpenAI-compatible client and server, imported
predictions, the tiny offline VLM and the resumable predict loop. Heavy imports (torch) happen lazily."""

from .registry import ModelSpec, WeightsNotFound, find_weights, get_model, load_models

__all__ = ["ModelSpec", "WeightsNotFound", "find_weights", "get_model", "load_models"]
