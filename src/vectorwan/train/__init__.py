"""Training: the recipe (loop.py) and its parts (flow.py, losses.py, checkpoint.py)."""
