"""Models: one model, one readable file."""

from .bigram import BigramLM, CountBigramLM, bigram_loss

__all__ = ["BigramLM", "CountBigramLM", "bigram_loss"]
