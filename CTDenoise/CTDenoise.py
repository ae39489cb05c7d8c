"""CTDenoise: denoise low-dose CT with STUNet (default), STResNet or SRResNet-3D; check what it does to radiomics.

Thin module file (Slicer finds the classes by name); the work is in ``CTDenoiseSlicerLib`` (Slicer side) and
``CTDenoiseLib`` (the engine, run as a separate ``PythonSlicer -m CTDenoiseLib`` process). Nothing heavy is
imported here: no torch, NumPy or SimpleITK at module load.
"""

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import ScriptedLoadableModule

from CTDenoiseSlicerLib import sample_data
from CTDenoiseSlicerLib.logic import CTDenoiseLogic  # noqa: F401  (looked up by name by Slicer)
from CTDenoiseSlicerLib.parameter_node import CTDenoiseParameterNode  # noqa: F401
from CTDenoiseSlicerLib.self_test import CTDenoiseTest  # noqa: F401
from CTDenoiseSlicerLib.widget import CTDenoiseWidget  # noqa: F401


class CTDenoise(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("CT Denoise")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Filtering")]
        self.parent.dependencies = []
        self.parent.contributors = ["CTDenoise contributors"]
        self.parent.helpText = _("""
Denoise low-dose CT volumes with a 3D deep network (STUNet by default, STResNet or SRResNet), by default on the
fastest path for the computer (INT8 on the CPU, FP16 on a CUDA GPU), in the background with progress and cancel,
and compare radiomics features of a nodule before and after denoising. See <a href="https://github.com/ctdenoise/SlicerCTDenoise/blob/main/docs/slicer.md">the documentation</a>.
""")  # noqa: E501 (a translated HTML string: splitting its long link would change the text to translate)
        self.parent.acknowledgementText = _("""
Sample data from LIDC-IDRI (The Cancer Imaging Archive, CC BY 3.0; Armato et al., Med Phys 38:915, 2011):
a crop of LIDC-IDRI-0003 with its low dose simulated (10 % dose, projection-domain noise) and its nodule.
""")
        slicer.app.connect("startupCompleted()", sample_data.register)
