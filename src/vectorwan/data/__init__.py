"""Datasets: discovery and validation (dataset.py), turning items into frames (load.py)."""
