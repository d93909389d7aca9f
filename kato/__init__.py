"""KATO: deterministic, explainable sequence memory."""

__version__ = "2.0.0"
