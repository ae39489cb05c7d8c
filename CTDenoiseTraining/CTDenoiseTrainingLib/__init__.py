"""CTDenoise training engine (plain Python, no ``slicer``): data, training loop, export to the model registry."""
