"""Nodule radiomics before and after denoising: features (pyradiomics, ``params.yaml``), agreement statistics,
the comparison report and figure, and the radiomics study."""
