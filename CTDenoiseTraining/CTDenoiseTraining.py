"""CTDenoiseTraining: a hidden module that ships the training engine (``CTDenoiseTrainingLib``) with the extension.

Training a denoiser takes hours and belongs on a GPU workstation or cluster, not in Slicer's GUI: it is run from
the command line, with Slicer's Python or any Python where the engine is installed::

    PythonSlicer -m CTDenoiseLib train --help
    ctdenoise train --config site.yaml              # after 'pip install .' from the source repository
    torchrun --nproc_per_node 4 -m CTDenoiseLib train --config site.yaml   # several GPUs or nodes

A model exported with ``--export-dir ~/.ctdenoise/models`` (or a folder in CTDENOISE_MODEL_DIRS) is registered
with its SHA-256 and appears in the CTDenoise module's Network list. The source repository's docs/training.md
covers training on one's own scans from start to finish.
"""

import importlib.util
import os

from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleTest


class CTDenoiseTraining(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "CT Denoise Training"
        self.parent.categories = ["Filtering"]
        self.parent.dependencies = []
        self.parent.contributors = ["CTDenoise contributors"]
        self.parent.helpText = __doc__.replace("\n\n", "<br><br>")
        self.parent.acknowledgementText = ""
        self.parent.hidden = True  # no panel: training runs from the command line


class CTDenoiseTrainingTest(ScriptedLoadableModuleTest):
    """Slicer's self-test runner looks this class up by name for every module, hidden ones included. It checks
    what this module is for: the training engine is installed beside it and its files compile. Nothing is
    imported (that would need PyTorch); training itself is tested outside Slicer."""

    def runTest(self):
        self.test_training_engine_is_shipped()

    def test_training_engine_is_shipped(self):
        spec = importlib.util.find_spec("CTDenoiseTrainingLib")
        self.assertIsNotNone(spec, "CTDenoiseTrainingLib is not installed with the extension")
        folder = os.path.dirname(spec.origin)
        self.assertEqual(os.path.dirname(folder), os.path.dirname(os.path.abspath(__file__)))
        for name in ("__init__.py", "train.py", "export.py", "config.py"):
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as handle:
                compile(handle.read(), path, "exec")
