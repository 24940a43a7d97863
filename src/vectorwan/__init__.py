"""vectorwan: LoRA fine-tuning of Wan 2.1 for vector-style animation."""

__version__ = "0.1.0"
