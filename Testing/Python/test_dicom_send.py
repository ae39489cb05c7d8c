"""`--send AET@HOST:PORT` and `ctdenoise send`: a derived series stored to a real PACS (DCMTK's storescp, started
here on 127.0.0.1 and a free port) with a report of what it accepted, and one clear line, within the timeout,
when the node rejects the association, is unreachable, never answers or aborts mid-series."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pydicom
import pytest

from CTDenoiseLib.cli import main
from CTDenoiseLib.io.dicom_output import Derivation, plan_dicom_output, write_derived_series
from CTDenoiseLib.io.volumes import read_volume

from dicom_helpers import LIDC_DICOM, dcmtk_tool, free_port, real_series, register_changing_model, snapshot


def run_cli(*args: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(list(args))
    return code, stdout.getvalue(), stderr.getvalue()


def listening(port: int) -> bool:
    """Whether a socket listens on ``port`` (from /proc, so that probing does not open an association)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    return True
    return False


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[Callable[..., tuple[int, Path]]]:
    """Start DCMTK's storescp (AE title PACS) on a free port, storing into a folder; stopped after the test."""
    storescp = dcmtk_tool("storescp")
    servers = []

    def start(*options: str) -> tuple[int, Path]:
        port, received = free_port(), tmp_path / f"pacs-{len(servers)}"
        received.mkdir()
        server = subprocess.Popen([storescp, "-aet", "PACS", "-od", str(received), *options, str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers.append(server)
        deadline = time.monotonic() + 15
        while not listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"storescp did not start on port {port} (exit status {server.poll()})")
            time.sleep(0.05)
        return port, received

    yield start
    for server in servers:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def written_series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LIDC-IDRI-0003 written as a derived series (the input's HU, no model): what `ctdenoise send` sends."""
    source = real_series(LIDC_DICOM)
    plan = plan_dicom_output(source, tmp_path_factory.mktemp("series") / "denoised")
    return write_derived_series(read_volume(source), plan, Derivation("stresnet", "fp32")).folder


def stored_instances(folder: Path) -> dict[str, bytes]:
    return {str(ds.SOPInstanceUID): ds.PixelData for ds in map(pydicom.dcmread, sorted(folder.iterdir()))}


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("ctdenoise: error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_denoise_with_send_stores_the_derived_series_in_a_pacs(pacs, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    port, received = pacs()
    monkeypatch.setenv("CTDENOISE_MODEL_DIRS", str(register_changing_model(tmp_path / "models")))
    output = tmp_path / "denoised"
    code, stdout, stderr = run_cli("denoise", str(real_series(LIDC_DICOM)), str(output), "--output-format", "dicom",
                                   "--send", f"PACS@127.0.0.1:{port}", "--precision", "fp32", "--device", "cpu",
                                   "--progress", "json")
    assert code == 0, stderr
    report = [json.loads(line) for line in stdout.splitlines() if '"send"' in line][-1]
    assert report["files"] == report["accepted"] == 11 and report["refused"] == 0
    assert report["node"] == f"PACS@127.0.0.1:{port}"
    assert stored_instances(received) == stored_instances(output)  # every instance, pixel for pixel
    assert report["series"] == [str(pydicom.dcmread(next(output.iterdir())).SeriesInstanceUID)]


def test_send_command_reports_what_the_pacs_accepted(pacs, written_series: Path) -> None:
    port, received = pacs()
    before = snapshot(written_series)
    code, _, stderr = run_cli("send", str(written_series), f"PACS@127.0.0.1:{port}")
    assert code == 0, stderr
    assert f"PACS@127.0.0.1:{port} accepted 11 of 11 instance(s) of series" in stderr
    assert stored_instances(received) == stored_instances(written_series)
    assert snapshot(written_series) == before


def test_a_rejected_association_is_one_line_and_the_series_is_kept(pacs, written_series: Path) -> None:
    port, received = pacs("--refuse")
    before = snapshot(written_series)
    code, _, stderr = run_cli("send", str(written_series), f"PACS@127.0.0.1:{port}", "--send-timeout", "10")
    assert code == 1
    assert "rejected the association" in one_error_line(stderr)
    assert list(received.iterdir()) == [] and snapshot(written_series) == before


def test_a_pacs_aborting_mid_series_is_reported_as_not_stored(pacs, written_series: Path) -> None:
    port, _ = pacs("--abort-after")
    code, _, stderr = run_cli("send", str(written_series), f"PACS@127.0.0.1:{port}", "--send-timeout", "2",
                              "--progress", "none")
    assert code == 1
    assert "11 of 11 image(s) were not stored by DICOM node" in one_error_line(stderr)


def test_an_unreachable_node_is_one_line_within_the_timeout(written_series: Path) -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    code, _, stderr = run_cli("send", str(written_series), f"PACS@127.0.0.1:{port}", "--send-timeout", "2")
    assert code == 1 and time.monotonic() - started < 10
    assert f"Cannot connect to DICOM node PACS@127.0.0.1:{port}" in one_error_line(stderr)


def test_a_node_that_never_answers_times_out_with_one_line(written_series: Path) -> None:
    with socket.socket() as silent:  # accepts TCP connections (kernel backlog) but never speaks DICOM
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        started = time.monotonic()
        code, _, stderr = run_cli("send", str(written_series), f"PACS@127.0.0.1:{port}", "--send-timeout", "1")
        elapsed = time.monotonic() - started
    assert code == 1 and 0.9 < elapsed < 5
    assert "did not answer the association request within 1 s" in one_error_line(stderr)


def test_each_instance_status_is_counted_and_a_failure_is_named(written_series: Path) -> None:
    """Statuses storescp cannot be made to return: a warning (accepted) and 'out of resources' (refused) from a
    pynetdicom storage SCP in this process."""
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    statuses = iter([0xB000, 0x0000, 0x0000, 0x0000, 0x0000, 0xA700, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000])
    node = AE("PACS")
    node.supported_contexts = AllStoragePresentationContexts
    server = node.start_server(("127.0.0.1", 0), block=False,
                               evt_handlers=[(evt.EVT_C_STORE, lambda event: next(statuses))])
    try:
        code, _, stderr = run_cli("send", str(written_series), f"PACS@127.0.0.1:{server.server_address[1]}",
                                  "--send-timeout", "10")
    finally:
        server.shutdown()
    assert code == 1
    assert "accepted 10 of 11 instance(s) (1 with a warning status)" in stderr
    line = one_error_line(stderr)
    assert "1 of 11 image(s) were not stored" in line
    assert "CT000006.dcm, status 0xA700 Refused: Out of Resources" in line


def test_a_folder_with_a_file_that_is_not_dicom_is_refused_before_connecting(written_series: Path,
                                                                             tmp_path: Path) -> None:
    folder = tmp_path / "series"
    shutil.copytree(written_series, folder)
    (folder / "notes.txt").write_text("not an image")
    port = free_port()  # nothing listens: a connection attempt would say "Cannot connect" instead
    code, _, stderr = run_cli("send", str(folder), f"PACS@127.0.0.1:{port}", "--send-timeout", "2")
    assert code == 1
    line = one_error_line(stderr)
    assert "notes.txt' is not a storable DICOM file" in line and "nothing was sent" in line
    code, _, stderr = run_cli("send", str(tmp_path / "missing"), f"PACS@127.0.0.1:{port}")
    assert code == 1 and "is not a folder of DICOM files" in one_error_line(stderr)
