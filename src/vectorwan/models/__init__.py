"""Base models (loading, tiny seeded models) and LoRA handling. No heavy imports here."""
