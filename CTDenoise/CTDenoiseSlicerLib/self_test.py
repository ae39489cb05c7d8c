"""CTDenoiseTest: runs inside Slicer (Reload and Test, or ctest) on the sample data shipped with the module, so
it needs no network access.

It exercises the same paths as a user: the logic in the background engine process with the default precision
(auto), the nodes a run adds (the result and its display node only), the result's geometry and window/level, two
models' results side by side, cancel leaving nothing behind, an input removed during a run, a failure carrying the
engine's error line, and the radiomics comparison on the sample's nodule (run twice: its nodes are reused and no
colour table is left behind).
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
        for test in (self.test_denoise_sample, self.test_two_models_side_by_side, self.test_cancel_leaves_nothing,
                     self.test_input_removed_during_run, self.test_failure_reports_engine_error):
            self.setUp()
            test()

    def _sample(self):
        import SampleData

        sample_data.register()
        nodes = SampleData.SampleDataLogic().downloadSamples(sample_data.SAMPLE_NAME)
        volume = next(n for n in nodes if n.IsA("vtkMRMLScalarVolumeNode"))
        segmentation = next(n for n in nodes if n.IsA("vtkMRMLSegmentationNode"))
        return volume, segmentation

    def _count(self, className: str) -> int:
        return len(slicer.util.getNodesByClass(className))

    def test_denoise_sample(self) -> None:
        self.delayDisplay("Denoising the sample low-dose chest CT (default: auto precision)")
        volume, segmentation = self._sample()
        logic = CTDenoiseLogic()
        counted = ("vtkMRMLScalarVolumeNode", "vtkMRMLScalarVolumeDisplayNode", "vtkMRMLStorageNode")
        before = [self._count(className) for className in counted]
        output = logic.denoise(volume, options=DenoiseOptions(), timeout=1800)
        # the result and its display node; not the temporary volume read from the engine's file, nor its nodes
        self.assertEqual([self._count(className) for className in counted], [before[0] + 1, before[1] + 1, before[2]])
        self.assertEqual(output.GetImageData().GetDimensions(), volume.GetImageData().GetDimensions())
        self.assertEqual(output.GetSpacing(), volume.GetSpacing())
        self.assertEqual(output.GetOrigin(), volume.GetOrigin())
        self.assertIn("denoised STResNet", output.GetName())
        before = slicer.util.arrayFromVolume(volume)[:, 40:150, 40:150]
        after = slicer.util.arrayFromVolume(output)[:, 40:150, 40:150]
        self.assertLess(after.std(dtype=float), before.std(dtype=float) * 1.05)
        self.assertEqual(output.GetDisplayNode().GetWindow(), volume.GetDisplayNode().GetWindow())

        self.delayDisplay("Comparing radiomics features of the nodule, twice")
        segmentId = segmentation.GetSegmentation().GetNthSegmentID(0)
        colourTables = self._count("vtkMRMLColorTableNode")
        for _ in range(2):
            table = logic.computeRadiomics(segmentation, segmentId, volume, output, thresholdPercent=10.0, timeout=900)
            self.assertGreater(len(table.rows), 10)
            tableNode = logic.showRadiomicsTable(table)
            self.assertEqual(tableNode.GetNumberOfRows(), len(table.rows))
        self.assertEqual(self._count("vtkMRMLTableNode"), 1)
        self.assertEqual(self._count("vtkMRMLPlotChartNode"), 1)
        self.assertEqual(self._count("vtkMRMLPlotSeriesNode"), 1)
        self.assertEqual(self._count("vtkMRMLColorTableNode"), colourTables)
        self.delayDisplay("Test passed")

    def test_two_models_side_by_side(self) -> None:
        volume, _ = self._sample()
        logic = CTDenoiseLogic()
        first = logic.denoise(volume, options=DenoiseOptions(model="stresnet", precision="fp32"), timeout=1800)
        second = logic.denoise(volume, options=DenoiseOptions(model="srresnet", precision="fp32", strength=0.5),
                               timeout=1800)
        self.assertNotEqual(first.GetID(), second.GetID())
        self.assertIn("STResNet FP32", first.GetName())
        self.assertIn("SRResNet FP32 strength 0.50", second.GetName())

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

    def test_input_removed_during_run(self) -> None:
        volume, _ = self._sample()
        logic = CTDenoiseLogic()
        finished = []
        runner = logic.startDenoise(volume, onFinished=lambda result, node: finished.append((result, node)))
        slicer.mrmlScene.RemoveNode(volume)
        runner.wait(1800, idle=slicer.app.processEvents)
        result, node = finished[0]
        self.assertIsNone(node)
        self.assertNotEqual(result.state, RunState.SUCCEEDED)
        self.assertEqual(self._count("vtkMRMLScalarVolumeNode"), 0)

    def test_failure_reports_engine_error(self) -> None:
        volume, _ = self._sample()
        logic = CTDenoiseLogic()
        with self.assertRaises(RuntimeError) as raised:
            logic.denoise(volume, options=DenoiseOptions(model="no-such-model"), timeout=300)
        self.assertIn("no-such-model", str(raised.exception))
