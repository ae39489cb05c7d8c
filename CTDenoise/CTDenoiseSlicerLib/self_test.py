"""CTDenoiseTest: runs inside Slicer (Reload and Test, or ctest) on the registered sample data.

It exercises the same paths as a user: the logic in the background engine process, the result's geometry and
window/level, cancel leaving nothing behind, a failure carrying the engine's error line, and the radiomics
comparison on the sample's nodule.
"""

from __future__ import annotations

import os

import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleTest

from . import sample_data
from .engine_command import DenoiseOptions
from .logic import CTDenoiseLogic
from .process_runner import RunState


class CTDenoiseTest(ScriptedLoadableModuleTest):
    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_denoise_sample()
        self.setUp()
        self.test_cancel_leaves_nothing()
        self.setUp()
        self.test_failure_reports_engine_error()

    def _sample(self):
        import SampleData
        sample_data.register()
        nodes = SampleData.SampleDataLogic().downloadSamples(sample_data.SAMPLE_NAME)
        volume = next(n for n in nodes if n.IsA("vtkMRMLScalarVolumeNode"))
        segmentation = next(n for n in nodes if n.IsA("vtkMRMLSegmentationNode"))
        return volume, segmentation

    def test_denoise_sample(self) -> None:
        self.delayDisplay("Denoising the sample low-dose chest CT")
        volume, segmentation = self._sample()
        logic = CTDenoiseLogic()
        output = logic.denoise(volume, options=DenoiseOptions(precision="fp32", device="auto"), timeout=1800)
        self.assertEqual(output.GetImageData().GetDimensions(), volume.GetImageData().GetDimensions())
        self.assertEqual(output.GetSpacing(), volume.GetSpacing())
        self.assertEqual(output.GetOrigin(), volume.GetOrigin())
        self.assertIn("denoised STResNet FP32", output.GetName())
        before = slicer.util.arrayFromVolume(volume).astype(float)
        after = slicer.util.arrayFromVolume(output).astype(float)
        self.assertLess(after[:, 200:300, 200:300].std(), before[:, 200:300, 200:300].std() * 1.05)
        self.assertEqual(output.GetDisplayNode().GetWindow(), volume.GetDisplayNode().GetWindow())

        self.delayDisplay("Comparing radiomics features of the nodule")
        segmentId = segmentation.GetSegmentation().GetNthSegmentID(0)
        table = logic.computeRadiomics(segmentation, segmentId, volume, output, thresholdPercent=10.0, timeout=900)
        self.assertGreater(len(table.rows), 10)
        tableNode = logic.showRadiomicsTable(table)
        self.assertEqual(tableNode.GetNumberOfRows(), len(table.rows))
        self.delayDisplay("Test passed")

    def test_cancel_leaves_nothing(self) -> None:
        volume, _ = self._sample()
        logic = CTDenoiseLogic()
        nodesBefore = slicer.mrmlScene.GetNumberOfNodes()
        finished = []
        runner = logic.startDenoise(volume, options=DenoiseOptions(model="srresnet"),
                                    onFinished=lambda result, node: finished.append((result, node)))
        slicer.util.delayDisplay("Cancelling shortly after the start", 1500)
        runner.cancel()
        runner.wait(60, idle=slicer.app.processEvents)
        result, node = finished[0]
        self.assertEqual(result.state, RunState.CANCELLED)
        self.assertIsNone(node)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), nodesBefore)
        self.assertFalse(os.path.exists(runner.temp_dir))

    def test_failure_reports_engine_error(self) -> None:
        volume, _ = self._sample()
        logic = CTDenoiseLogic()
        with self.assertRaises(RuntimeError) as raised:
            logic.denoise(volume, options=DenoiseOptions(model="no-such-model"), timeout=300)
        self.assertIn("no-such-model", str(raised.exception))
