"""Storing a DICOM series to a DICOM node (PACS) with C-STORE, and saying exactly what the node accepted.

One association for the whole series; every instance's C-STORE status is kept. Success and warning statuses
(0x0000, 0xB0xx: stored, perhaps with coercion) count as accepted; any other status, or no answer within the
timeout, counts as refused. Failing to connect or being rejected is one line naming the node and the reason.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import events
from ..errors import CTDenoiseError

DEFAULT_CALLING_AET = "CTDENOISE"
DEFAULT_TIMEOUT_S = 30.0
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable, no backslash, at most 16 characters
TARGET_FORMAT = "AET@HOST:PORT (e.g. PACS@10.0.0.5:104)"


@dataclass(frozen=True)
class DicomNode:
    """A DICOM node to store to: its AE title, host and port."""

    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


def parse_node(text: str) -> DicomNode:
    """``AET@HOST:PORT`` as a :class:`DicomNode`; a bracketed IPv6 host (``PACS@[::1]:104``) is allowed."""
    ae_title, at, address = text.partition("@")
    host, colon, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not (at and colon and host and port.isdigit() and 0 < int(port) < 65536 and _AE_TITLE.match(ae_title)
            and ae_title.strip()):
        raise CTDenoiseError(f"DICOM node '{text}' is not {TARGET_FORMAT}.",
                             "The AE title has 1-16 characters and no backslash; the port is 1-65535.")
    return DicomNode(ae_title.strip(), host, int(port))


def resolve_node(node: DicomNode) -> None:
    """Refuse a node whose host name does not resolve, in one line, before any work (or connection) is tried.

    Args:
        node: the receiving node.
    """
    try:
        socket.getaddrinfo(node.host, node.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise CTDenoiseError(f"The host of DICOM node {node} cannot be resolved ({reason}).",
                             "Check the host name, or give the node's IP address.") from error


def check_ae_title(title: str) -> str:
    if not (_AE_TITLE.match(title) and title.strip()):
        raise CTDenoiseError(f"AE title '{title}' is not valid.", "Use 1-16 characters without a backslash.")
    return title.strip()


@dataclass
class SendReport:
    """What a node did with each instance of a series."""

    node: str
    files: int = 0
    accepted: int = 0
    warnings: int = 0  # accepted with a warning status (e.g. coerced elements), counted in ``accepted``
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file name, status and its meaning)
    series_uids: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """Whether the node stored every file (and there was one)."""
        return self.files > 0 and self.accepted == self.files

    def summary(self) -> str:
        """The report in one line for people."""
        warned = f" ({self.warnings} with a warning status)" if self.warnings else ""
        series = f" of series {', '.join(self.series_uids)}" if self.series_uids else ""
        return (f"{self.node} accepted {self.accepted} of {self.files} instance(s){warned}{series} "
                f"in {self.seconds:.1f} s")

    def incomplete_error(self, hint: str) -> CTDenoiseError:
        """The one-line error for a series the node did not take completely.

        Args:
            hint: what the user can do.
        """
        name, reason = self.refused[0] if self.refused else ("-", "nothing was sent")
        return CTDenoiseError(f"{len(self.refused)} of {self.files} image(s) were not stored by DICOM node "
                              f"{self.node} (first: {name}, {reason}).", hint)

    def event(self) -> dict:
        """The report as a ``send`` event."""
        return events.event("send", node=self.node, files=self.files, accepted=self.accepted,
                            warnings=self.warnings, refused=len(self.refused), series=list(self.series_uids),
                            first_refusal=(": ".join(self.refused[0]) if self.refused else None),
                            seconds=round(self.seconds, 3))


def series_files(folder: str | os.PathLike) -> list[Path]:
    """The DICOM files of a folder (not its sub-folders), hidden files excluded, in name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CTDenoiseError(f"'{folder}' is not a folder of DICOM files.", "Give the folder of the series to send.")
    files = [path for path in sorted(folder.iterdir()) if path.is_file() and not path.name.startswith(".")]
    if not files:
        raise CTDenoiseError(f"Folder '{folder}' holds no files to send.", "Give the folder of the series to send.")
    return files


def _status_text(code: int) -> str:
    from pynetdicom.status import STORAGE_SERVICE_CLASS_STATUS, code_to_category

    category, description = STORAGE_SERVICE_CLASS_STATUS.get(code, (code_to_category(code), ""))
    return f"status 0x{code:04X} {description or category}"


def send_series(folder: str | os.PathLike, node: DicomNode, calling_ae_title: str = DEFAULT_CALLING_AET,
                timeout_s: float = DEFAULT_TIMEOUT_S) -> SendReport:
    """Store every DICOM file of ``folder`` to ``node`` over one association; the files are only read.

    Args:
        folder: a folder holding one series (as written by ``--output-format dicom``).
        node: the receiving node (its called AE title, host and port).
        calling_ae_title: our AE title, which a PACS may have to know.
        timeout_s: limit for connecting, for the association answer and for each C-STORE response.

    Raises:
        CTDenoiseError: the node cannot be reached, rejects the association or accepts none of the
            instances' kinds; one line naming the node and the reason.
    """
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
    from pynetdicom import AE, evt

    files = series_files(folder)
    datasets = [(path, _header(path)) for path in files]  # the pixels are sent from the files
    resolve_node(node)
    started = time.perf_counter()
    ae = AE(ae_title=check_ae_title(calling_ae_title))
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    contexts: dict[str, list[str]] = {}
    for _, dataset in datasets:
        syntaxes = contexts.setdefault(str(dataset.SOPClassUID), [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        syntax = str(dataset.file_meta.TransferSyntaxUID)
        if syntax not in syntaxes:
            syntaxes.append(syntax)
    for sop_class, syntaxes in contexts.items():
        ae.add_requested_context(sop_class, syntaxes)
    seen = {"connected": False, "answer": None}
    handlers = [(evt.EVT_CONN_OPEN, lambda event: seen.update(connected=True)),
                (evt.EVT_ACSE_RECV, lambda event: seen.update(answer=event.primitive))]
    with _quiet_pynetdicom():
        started = time.monotonic()
        association = ae.associate(node.host, node.port, ae_title=node.ae_title, evt_handlers=handlers)
        seen["seconds"] = time.monotonic() - started
        if not association.is_established:
            raise CTDenoiseError(_association_failure(node, association, seen, timeout_s),
                                 f"The series in '{folder}' is unchanged; send it again with "
                                 f"`ctdenoise send {folder} {node}` once the node is ready.")
        series_uids = tuple(dict.fromkeys(str(ds.get("SeriesInstanceUID", "")) for _, ds in datasets))
        report = SendReport(str(node), files=len(datasets), series_uids=series_uids)
        ended = False
        try:
            for path, _ in datasets:
                try:
                    sent = time.monotonic()
                    status = association.send_c_store(path)
                except (ValueError, RuntimeError) as error:  # e.g. no accepted presentation context for it
                    report.refused.append((path.name, f"not sent: {error}"))
                    continue
                code = int(status.Status) if status and "Status" in status else None
                if code is None:
                    # No status: the wait ran out, or (sooner) the node aborted the association or dropped the
                    # connection, which pynetdicom may not yet show in is_established.
                    ended = time.monotonic() - sent < 0.9 * timeout_s
                    report.refused.append((path.name, "the node aborted the association" if ended
                                           else f"no answer within {timeout_s:g} s"))
                elif code == 0x0000 or code & 0xF000 == 0xB000:
                    report.accepted += 1
                    report.warnings += code != 0x0000
                else:
                    report.refused.append((path.name, _status_text(code)))
                if ended or not association.is_established:
                    report.refused += [(other.name, "association ended") for other, _ in
                                       datasets[len(report.refused) + report.accepted:]]
                    break
        finally:
            if ended:
                association.abort()
            elif association.is_established:
                association.release()
    report.seconds = time.perf_counter() - started
    return report


def _header(path: Path):
    """A file's DICOM header, or the one-line refusal naming it (sending half a folder would be worse)."""
    import pydicom

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        syntax = header.file_meta.get("TransferSyntaxUID")
        if not (header.get("SOPClassUID") and header.get("SOPInstanceUID") and syntax):
            raise ValueError("no SOP Class, SOP Instance or Transfer Syntax UID")
    except Exception as error:  # pydicom raises several kinds for a file that is not DICOM
        raise CTDenoiseError(f"'{path}' is not a storable DICOM file ({error}).",
                             "Send a folder holding only the series' DICOM files; nothing was sent.") from error
    return header


CONTEXT_RESULTS = {1: "refused by the user", 2: "refused, no reason given", 3: "abstract syntax not supported",
                   4: "transfer syntaxes not supported"}


def _association_failure(node: DicomNode, association, seen: dict, timeout_s: float) -> str:
    from pydicom.uid import UID
    from pynetdicom.pdu_primitives import A_ASSOCIATE

    answer = seen["answer"]
    if isinstance(answer, A_ASSOCIATE) and answer.result == 0x00 and association.rejected_contexts:
        # it accepted the association but none of the presentation contexts: pynetdicom then aborts it
        refused = "; ".join(f"{UID(context.abstract_syntax).name} ({context.abstract_syntax}): "
                            f"{CONTEXT_RESULTS.get(context.result, f'result {context.result}')}"
                            for context in association.rejected_contexts)
        return (f"DICOM node {node} accepted the association but does not accept {refused}; ask its administrator "
                "to enable that storage class.")
    # pynetdicom can see a refusing node close the connection before it parses (or we see) the A-ASSOCIATE-RJ, and
    # then marks the association aborted, not rejected: a connected node that ended it well before the timeout
    # refused it.
    closed_early = seen["connected"] and association.is_aborted and seen.get("seconds", timeout_s) < 0.5 * timeout_s
    if association.is_rejected or closed_early:
        details = (f" ({answer.result_str.lower()}, by the {answer.source_str.lower()}: {answer.reason_str.lower()})"
                   if answer is not None else "")
        return (f"DICOM node {node} rejected the association{details}; check the called and calling AE titles "
                f"with the node's administrator.")
    if not seen["connected"]:
        return (f"Cannot connect to DICOM node {node}: no connection to {node.host}:{node.port} within "
                f"{timeout_s:g} s (unknown host, nothing listening on that port, or a firewall).")
    if answer is None:
        return (f"DICOM node {node} accepted the connection but did not answer the association request within "
                f"{timeout_s:g} s.")
    return f"DICOM node {node} did not accept an association for these images (no storage context was accepted)."


class _quiet_pynetdicom:
    """pynetdicom logs connection failures and aborts itself; the report says them once, as one line."""

    def __enter__(self) -> None:
        self.logger = logging.getLogger("pynetdicom")
        self.level, self.propagate = self.logger.level, self.logger.propagate
        self.logger.setLevel(logging.CRITICAL + 1)
        self.logger.propagate = False

    def __exit__(self, *exc: object) -> None:
        self.logger.setLevel(self.level)
        self.logger.propagate = self.propagate
