"""The engine's JSON event lines: one object per stdout line, for the Slicer module and scripts.

Every event the engine prints is named here and written by ``emit``; readers use ``parse``. What each carries:
  {"event":"progress","done":k,"total":n}
  {"event":"info","message":"..."}
  {"event":"noise","std_hu":S,"method":"...","grain":G}   the input's estimated noise level and grain (null: no
                                                soft tissue); with "map_hu":[LOW,HIGH], the range of the per-slice
                                                noise map a noise-conditioned model was told
  {"event":"done","output":PATH,"seconds":S}
  {"event":"error","message":"..."}
  {"event":"file","input":..,"output":..,"status":"ok"|"failed","error":..,"seconds":..,...}   one per volume
  {"event":"batch","files":n,"ok":k,"failed":m,"ranks":r}   the end of a batch
  {"event":"send","node":..,"files":n,"accepted":k,...}   a DICOM store to a PACS node
  {"event":"quantized",...}   ``ctdenoise quantize``'s summary
  {"event":"engine","model":..,"precision":..,"device":..,"backend":..,"self_ensemble":..,"strength":..,
   "adapt_steps":..}                            what runs, once the model is loaded (``ctdenoise denoise``);
                                                adapt_steps: null, or the steps of ``--adapt`` per scan
  {"event":"adapted","steps":..,"kernel":..,"seconds":..,"first_loss":..,"last_loss":..}   a network adapted to the
                                                scan before it is denoised (``--adapt``)
The training commands' events (``CTDenoiseTrainingLib.commands``, written by the same ``emit``):
  {"event":"trained",...} / {"event":"stopped","step":k,"seconds":S}   the end of ``ctdenoise train``
  {"event":"exported",...}   ``ctdenoise export-checkpoint``
  {"event":"train-benchmark",...}   one throughput row
  {"event":"lesion-classifier",...}   the lesion classifier's file and held-out scores
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

DENOISE_EVENTS = ("progress", "info", "engine", "noise", "adapted", "done", "error", "file", "batch",
                  "send")  # `denoise`
TRAINING_EVENTS = ("trained", "stopped", "exported", "train-benchmark", "lesion-classifier")
EVENTS = (*DENOISE_EVENTS, "quantized", *TRAINING_EVENTS)


def event(kind: str, **fields: object) -> dict:
    """An event object; refuses a kind this module does not name.

    Args:
        kind: one of ``EVENTS``.
        fields: its content, JSON-serialisable.
    """
    if kind not in EVENTS:
        raise ValueError(f"unknown event kind {kind!r}; add it to CTDenoiseLib/events.py (and to the Slicer reader)")
    return {"event": kind, **fields}


def emit(data: dict, stream: TextIO | None = None) -> None:
    """Write one event as a JSON line and flush, so a reading process sees it at once.

    Args:
        data: an object made by ``event`` (or carrying a known ``"event"`` kind).
        stream: where to write (default: stdout).
    """
    if data.get("event") not in EVENTS:
        raise ValueError(f"not an event of CTDenoiseLib/events.py: {data.get('event')!r}")
    target = stream or sys.stdout
    target.write(json.dumps(data) + "\n")
    target.flush()


def parse(line: str) -> dict | None:
    """The event on one output line, or None for any other text.

    Args:
        line: one line of the engine's stdout.
    """
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("event") in EVENTS else None
