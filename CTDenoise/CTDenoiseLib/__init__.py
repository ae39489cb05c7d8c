"""CTDenoise engine: low-dose CT denoising with SRResNet-3D and STResNet.

Plain Python (no ``slicer`` import) so that it runs from the command line, a cluster, or as the
background process of the Slicer module.
"""

__version__ = "0.1.0"
