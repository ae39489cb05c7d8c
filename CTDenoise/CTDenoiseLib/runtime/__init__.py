"""Executing a network on one tile: the PyTorch and OpenVINO backends, INT8 quantization, ``--precision auto``."""
