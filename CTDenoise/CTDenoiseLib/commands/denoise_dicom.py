"""`ctdenoise denoise DICOM_DIR OUT_DIR --output-format dicom [--send AET@HOST:PORT]`: the options and the steps of
DICOM series output around the ordinary denoising run (not a command of its own; ``denoise`` uses it).

Everything that can be checked from headers (INPUT is one DICOM CT series, OUT_DIR is new, the node is
AET@HOST:PORT) is checked before the model loads. The series is written first; a failed send keeps it and
says how to resend it with ``ctdenoise send``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from .option_types import SEND_TIMEOUT, bounded

OUTPUT_FORMATS = ("volume", "dicom")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("DICOM output (INPUT a DICOM series folder, OUTPUT a new folder)")
    group.add_argument("--output-format", choices=OUTPUT_FORMATS, default="volume",
                       help="volume: a file whose extension names the type (default); dicom: a new derived DICOM "
                            "series (new UIDs, the input's patient, study and geometry) in the OUTPUT folder")
    group.add_argument("--send", metavar="AET@HOST:PORT", default=None,
                       help="after writing the DICOM series, store it to this DICOM node (C-STORE)")
    group.add_argument("--calling-aet", default="CTDENOISE", metavar="AET",
                       help="our AE title when sending (default CTDENOISE)")
    group.add_argument("--send-timeout", type=bounded(float, SEND_TIMEOUT), default=30.0, metavar="S",
                       help="seconds to wait for the node to connect, answer and store each image (default 30)")


@dataclass
class DicomJob:
    """A checked DICOM-output request: the plan of the series and the node to send it to."""

    plan: object  # dicom_output.DicomOutputPlan
    node: object | None  # dicom_send.DicomNode
    calling_aet: str
    timeout_s: float

    def writer(self, engine, progress):
        """The ``denoise_with`` writer that turns the denoised volume into the derived series.

        Args:
            engine: the prepared engine (its model, precision, strength and adaptation are recorded).
            progress: told the writer's notes.
        """
        from ..errors import CTDenoiseError
        from ..io.dicom_output import Derivation, write_derived_series

        factor = engine.loaded.config.z_upscale
        if factor != 1:
            raise CTDenoiseError(f"Model '{engine.loaded.name}' makes {factor} slices per input slice; a DICOM "
                                 "output series keeps the input's slices.", "Write a volume file (.nrrd) instead.")
        entry = engine.loaded.entry
        derivation = Derivation(engine.loaded.name, engine.choice.precision, engine.strength,
                                entry.weights.sha256 if entry else "",
                                engine.adaptation.steps if engine.adaptation else 0)

        def write(volume, output):
            written = write_derived_series(volume, self.plan, derivation)
            for note in written.notes:
                progress.info(note)
            return written.folder

        return write

    def send(self, progress, emit) -> None:
        """Store the written series to the node, report what it accepted; raise if it did not take all.

        Args:
            progress: told the summary when ``emit`` is None.
            emit: writes the ``send`` event (``--progress json``), or None.
        """
        from ..io.dicom_send import send_series

        if self.node is None:
            return
        folder = self.plan.output_dir
        report = send_series(folder, self.node, self.calling_aet, self.timeout_s)
        if emit:
            emit(report.event())
        else:
            progress.info(report.summary())
        if not report.complete:
            raise report.incomplete_error(f"The series in '{folder}' is kept; resend it with "
                                          f"`ctdenoise send {folder} {self.node}` once the node accepts it.")


def prepare(args: argparse.Namespace) -> DicomJob | None:
    """The DICOM job of a denoise command line, checked before any model loads; None for volume output."""
    from ..errors import CTDenoiseError

    if args.output_format != "dicom":
        if args.send:
            raise CTDenoiseError("--send stores a DICOM series and needs --output-format dicom.",
                                 "Add --output-format dicom and give a new folder as OUTPUT.")
        return None
    from ..io.batch import is_batch
    from ..io.dicom_output import plan_dicom_output
    from ..io.dicom_send import check_ae_title, parse_node, resolve_node

    if is_batch(args.input):
        raise CTDenoiseError("--output-format dicom takes one DICOM series folder as INPUT and a new folder as OUTPUT.",
                             "Run one command per series.")
    node = parse_node(args.send) if args.send else None
    calling_aet = check_ae_title(args.calling_aet)
    plan = plan_dicom_output(args.input[0], args.output, getattr(args, "series", None))
    if node is not None:
        resolve_node(node)  # an unknown host is said now, not after denoising
    return DicomJob(plan, node, calling_aet, float(args.send_timeout))
