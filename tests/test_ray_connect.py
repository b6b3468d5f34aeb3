"""Joining a Ray cluster is bounded and obeys SIGTERM (before: `--executor ray --address 127.0.0.1:1`
retried for more than 10 minutes with no line and ignored SIGTERM).

A wrong address is one ``error:`` line within ``CONNECT_TIMEOUT`` (nothing listening, a port where something
else listens and never answers, an HTTP/1 server), found before anything is written. A head that answers the
handshake and then never lets ``ray.init`` return (a wedged head: played here by a socket that sends HTTP/2
SETTINGS and nothing more) is one ``error:`` line after ``INIT_TIMEOUT``, and a SIGTERM while ``ray.init``
retries stops the driver at once, with no traceback and no results directory. The driver runs in a
subprocess (real Ray, kept out of pytest's process); the tests wait for its "connecting to" line, never for
a duration. A real head is joined by ``test_executors_cluster.py``.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from largelr.errors import UserError
from largelr.sweep.executors import ray as ray_executor
from test_cli_errors import assert_user_error

EXPERIMENT = Path(__file__).parent / "fixtures" / "tiny_sweep.py"
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # an empty HTTP/2 SETTINGS frame: what a gRPC server sends first


@contextlib.contextmanager
def listener(answer: bytes | None) -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts every connection, sends ``answer`` (None: nothing) and then
    stays silent; yields its HOST:PORT."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):  # the server socket closed at the end
            while True:
                conn, _ = server.accept()
                held.append(conn)
                if answer is not None:
                    with contextlib.suppress(OSError):
                        conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (close alone would leave it listening)
        server.close()
        for conn in held:
            conn.close()


@pytest.mark.parametrize(
    "answer, names",
    [
        (None, ["accepts connections but does not answer as a Ray cluster's head", "within 10 s"]),
        (b"HTTP/1.0 400 Bad Request\r\n\r\n", ["does not answer as a Ray cluster's head", "ray start --head --port"]),
    ],
    ids=["silent", "http1"],
)
def test_an_address_where_something_else_listens_is_one_error_line_before_anything_is_written(
    capsys, tmp_path, answer, names
):
    """The TCP probe alone let these through to ray.init, which retried for minutes."""
    out = tmp_path / "out"
    with listener(answer) as address:
        t0 = time.monotonic()
        assert_user_error(
            capsys, ["sweep", str(EXPERIMENT), "--executor", "ray", "--address", address, "--out", str(out)], names
        )
    assert time.monotonic() - t0 < ray_executor.CONNECT_TIMEOUT + 50  # the probe's limit; 50 s: a hang guard
    assert not out.exists()


def test_the_probe_accepts_a_grpc_handshake_and_names_the_address_when_nothing_listens():
    with listener(SETTINGS) as address:
        host, port = ray_executor.parse_address(address)
        ray_executor.probe(host, port, address, timeout=30)  # a gRPC server's first frame: accepted
    with pytest.raises(UserError, match=f"cannot reach the Ray cluster at {address}: Connection refused"):
        ray_executor.probe(host, port, address)  # closed: nothing listens there any more


def driver(out: Path, address: str, init_timeout: float | None = None) -> subprocess.Popen:
    """``largelr sweep --executor ray --address ADDRESS`` in a subprocess (INIT_TIMEOUT replaced if given)."""
    code = "import sys\nimport largelr.sweep.executors.ray as r\n"
    if init_timeout is not None:
        code += f"r.INIT_TIMEOUT = {init_timeout}\n"
    code += "from largelr.cli import main\nraise SystemExit(main(sys.argv[1:]))\n"
    argv = ["sweep", str(EXPERIMENT), "--executor", "ray", "--address", address, "--out", str(out), "--no-progress"]
    return subprocess.Popen([sys.executable, "-c", code, *argv], stderr=subprocess.PIPE, text=True)


def wait_for_line(proc: subprocess.Popen, text: str) -> list[str]:
    """The driver's stderr lines up to and including the first one holding ``text`` (an observable state)."""
    lines = []
    for line in proc.stderr:
        lines.append(line.rstrip("\n"))
        if text in line:
            return lines
    raise AssertionError(f"the driver exited ({proc.wait()}) without printing {text!r}: {lines}")


@pytest.mark.slow
def test_sigterm_while_ray_init_retries_stops_the_driver_at_once_with_nothing_written(tmp_path):
    """Ray's own SIGTERM handler (sys.exit) only ran when its C++ retry loop returned: 40 s and more."""
    out = tmp_path / "out"
    with listener(SETTINGS) as address:
        proc = driver(out, address)
        try:
            wait_for_line(proc, f"connecting to the Ray cluster at {address}")
            proc.send_signal(signal.SIGTERM)
            rest = proc.communicate(timeout=60)[1]  # a hang guard: the default action ends it at once
        finally:
            proc.kill()
    assert proc.returncode == -signal.SIGTERM, rest
    assert "Traceback" not in rest
    assert not out.exists()


@pytest.mark.slow
def test_a_head_that_never_lets_ray_init_return_is_one_error_line_after_init_timeout(tmp_path):
    out = tmp_path / "out"
    with listener(SETTINGS) as address:
        proc = driver(out, address, init_timeout=3)
        try:
            before = wait_for_line(proc, "connecting to the Ray cluster")
            rest = proc.communicate(timeout=300)[1]  # a hang guard, far above the 3 s given
        finally:
            proc.kill()
    assert proc.returncode == 2, before + [rest]
    assert "Traceback" not in rest
    errors = [line for line in rest.splitlines() if line.startswith("error")]
    assert errors == [f"error: cannot connect to the Ray cluster at {address}: ray.init did not return within 3 s"], (
        rest
    )
    assert not out.exists()
