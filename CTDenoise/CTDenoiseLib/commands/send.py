"""ctdenoise send FOLDER AET@HOST:PORT: store a DICOM series folder to a DICOM node (C-STORE) and report what it
accepted; for resending a series that ``denoise --output-format dicom --send`` wrote but could not deliver."""

from __future__ import annotations

import argparse
import sys

from ..vocabulary import ProgressFormat
from .option_types import PROGRESS, SEND_TIMEOUT, bounded


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("send", help="store a DICOM series folder to a DICOM node (PACS)",
                                    description="Store every DICOM file of FOLDER to a DICOM node with C-STORE and "
                                                "report how many it accepted. Exit status 1 unless it took them all.")
    parser.add_argument("folder", help="folder of one DICOM series (e.g. written by denoise --output-format dicom)")
    parser.add_argument("node", metavar="AET@HOST:PORT", help="the receiving node's AE title, host and port")
    parser.add_argument("--calling-aet", default="CTDENOISE", metavar="AET", help="our AE title (default CTDENOISE)")
    parser.add_argument("--send-timeout", type=bounded(float, SEND_TIMEOUT), default=30.0, metavar="S",
                        help="seconds to wait for the node to connect, answer and store each image (default 30)")
    parser.add_argument("--progress", **PROGRESS,
                        help="json: the report as one JSON line on stdout; bar: as text on stderr")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..events import emit
    from ..io.dicom_send import parse_node, send_series

    node = parse_node(args.node)
    report = send_series(args.folder, node, args.calling_aet, args.send_timeout)
    if args.progress == ProgressFormat.JSON:
        emit(report.event())
    elif args.progress == ProgressFormat.BAR:
        print(report.summary(), file=sys.stderr)
    if not report.complete:
        raise report.incomplete_error("Check the node's log; the folder is unchanged.")
    return 0
