"""Whole-volume denoising: tiling with halos, self-ensemble, the halo study, and the file-to-file pipeline."""
