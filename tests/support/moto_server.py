"""moto's standalone HTTP server in a subprocess, for tests that need real HTTP (headers, 304s)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 5.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer, even an error, means the server is up
    except OSError:
        return False


@contextmanager
def moto_server(timeout: float = START_TIMEOUT_SECONDS) -> Iterator[str]:
    """Start ``python -m moto.server`` on a free port and yield its endpoint URL.

    The server's state lives in the subprocess, so ``mock_aws`` does not see it; point boto3 at the
    URL (``endpoint_url=``) with any fake credentials. No environment variable is set here.
    """
    with moto_server_process(timeout) as (url, _process):
        yield url


@contextmanager
def moto_server_process(
    timeout: float = START_TIMEOUT_SECONDS,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``moto_server``, with the process too: a test can stop it (SIGSTOP) as a stalled store."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # A file, not a pipe: werkzeug logs every request and would block once a pipe filled up.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while not _answers(f"{url}/moto-api/"):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    output = log.read().decode(errors="replace")[-2000:]
                    state = (
                        f"exited with {process.returncode}"
                        if process.poll() is not None
                        else f"did not answer within {timeout:g}s"
                    )
                    raise RuntimeError(f"moto server on {url} {state}; output:\n{output}")
                time.sleep(0.1)
            yield url, process
        finally:
            process.send_signal(signal.SIGCONT)  # a stopped server cannot act on SIGTERM
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
