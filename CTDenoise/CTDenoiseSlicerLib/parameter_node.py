"""The module's typed parameters, saved with the scene. Widgets bind by their ``SlicerParameterName``."""

from __future__ import annotations

from typing import Annotated

from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper

from .device_options import Device, Precision
from .model_catalog import DEFAULT_MODEL

MAX_TILE_MVOX = 512.0  # the spin box's range; a bound here too, or the connector makes it unbounded


@parameterNodeWrapper
class CTDenoiseParameterNode:
    inputVolume: vtkMRMLScalarVolumeNode
    outputVolume: vtkMRMLScalarVolumeNode  # None: a new volume named after input, model and precision
    model: str = DEFAULT_MODEL  # filled from 'ctdenoise models --json', so not bound to a fixed Choice
    precision: Precision = Precision.AUTO  # the engine picks the fastest path for the machine
    device: Device = Device.AUTO
    strength: Annotated[float, WithinRange(0.0, 1.0)] = 1.0  # blend of input (0) and network output (1)
    maxTileMvox: Annotated[float, WithinRange(0.0, MAX_TILE_MVOX)] = 0.0  # 0: the engine decides
    selfEnsemble: bool = False  # average the 8 flips of each tile: 8x the time, about +0.2 dB
    adaptToScan: bool = False  # fine-tune a copy of the network on this scan first (--adapt): minutes, runs FP32
    keepTemporaryFiles: bool = False
    segmentation: vtkMRMLSegmentationNode
    segmentId: str = ""
    radiomicsInput: vtkMRMLScalarVolumeNode
    radiomicsDenoised: vtkMRMLScalarVolumeNode
    radiomicsReference: vtkMRMLScalarVolumeNode
    flagThresholdPercent: Annotated[float, WithinRange(0.0, 1000.0)] = 10.0
