"""The Dockerfile, read without a Docker engine: the image runs feedgen as a non-root user, its
health check asks the worker's /healthz (run here against a real HTTP server), it installs the
wheel `make dist` builds, and its build context holds what that build needs and nothing local."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedgen.cli import cli
from tests.support.deploy_files import final, image_env, stages, unknown_env

ROOT = Path(__file__).resolve().parent.parent


def healthcheck_command() -> str:
    (value,) = final("HEALTHCHECK")
    return value.partition(" CMD ")[2].strip()


def ignored() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def is_ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` (relative to the root) out of the build context."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in ignored():
        glob = pattern.removeprefix("**/")
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, glob) for part in parts):
                return True
        elif any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


def test_both_stages_start_from_python_3_11_slim() -> None:
    assert [stage[0][1].split()[0] for stage in stages()] == ["python:3.11-slim"] * 2


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    (user,) = final("USER")
    uid, _, gid = user.partition(":")
    # Numeric: Kubernetes' runAsNonRoot cannot check a user name.
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0


def test_the_image_runs_feedgen_and_by_default_the_worker() -> None:
    assert [json.loads(value) for value in final("ENTRYPOINT")] == [["feedgen"]]
    (command,) = [json.loads(value) for value in final("CMD")]
    assert command == ["worker"]
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output


def test_the_image_names_known_configuration_keys() -> None:
    env = image_env()
    assert env["FEEDGEN_CONFIG"] == "/etc/feedgen/config.toml"
    assert unknown_env(list(env)) == []


def test_the_image_exposes_the_metrics_port_it_configures() -> None:
    env = image_env()
    assert final("EXPOSE") == [env["FEEDGEN_METRICS_PORT"]] == ["9464"]
    assert env["FEEDGEN_METRICS_ADDRESS"] == "0.0.0.0"


class Health(BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.paths.append(self.path)
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"ok\n" if self.status == 200 else b"no cycle succeeded\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    Health.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_healthcheck(port: int) -> int:
    """Run the HEALTHCHECK command as Docker does (/bin/sh -c, the image's environment), with
    this environment's python on the PATH."""
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "FEEDGEN_METRICS_PORT": str(port),
    }
    done = subprocess.run(
        ["/bin/sh", "-c", healthcheck_command()], env=env, capture_output=True, timeout=30
    )
    return done.returncode


@pytest.mark.parametrize(("status", "exit_code"), [(200, 0), (503, 1)])
def test_the_healthcheck_asks_healthz_on_the_metrics_port(
    health_server: ThreadingHTTPServer, status: int, exit_code: int
) -> None:
    Health.status = status
    assert run_healthcheck(health_server.server_address[1]) == exit_code
    assert Health.paths == ["/healthz"]


def test_the_healthcheck_fails_when_nothing_answers(health_server: ThreadingHTTPServer) -> None:
    port = health_server.server_address[1]
    health_server.shutdown()
    health_server.server_close()
    assert run_healthcheck(port) == 1


def test_the_builder_builds_as_make_dist_does() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.partition("\ndist:")[2].split("\n\n")[0]
    assert "$(BIN)/python -m build --outdir dist ." in recipe
    builder = [value for name, value in stages()[0] if name == "RUN"]
    assert "python -m build --outdir /dist ." in builder
    assert any("gcc" in value.split() for value in builder)  # the C serialiser is compiled


def test_the_image_installs_the_built_wheel_with_the_postgres_extra() -> None:
    assert "--from=builder /dist /dist" in final("COPY")
    (install,) = [value for value in final("RUN") if "pip install" in value]
    assert '"$(ls /dist/feedgen-*.whl)[postgres]"' in install
    assert 'python -c "import feedgen._speedups"' in install  # a wheel without it fails the build


def test_every_copied_file_is_in_the_build_context() -> None:
    sources = []
    for stage in stages():
        for name, value in stage:
            if name == "COPY" and not value.startswith("--from="):
                sources += shlex.split(value)[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source == "." or not is_ignored(source), source


def test_the_build_context_leaves_local_files_out() -> None:
    for path in (".git", ".venv", "var", "dist", "feedgen/__pycache__", "feedgen/_speedups.so"):
        assert is_ignored(path), path


def test_the_build_context_holds_what_the_sdist_needs() -> None:
    # python -m build makes the sdist (MANIFEST.in) from the context, then the wheel from it.
    needed = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "Makefile"]
    for line in (ROOT / "MANIFEST.in").read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words and words[0] in ("include", "graft"):
            needed += words[1:]
    for path in needed:
        assert (ROOT / path).exists() and not is_ignored(path), path


def build_context(target: Path) -> Path:
    """A copy of what `docker build .` sends: the repository less what .dockerignore names."""
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT).as_posix()
        if path.is_file() and not is_ignored(relative):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)
    return target


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler here")
def test_the_dockerfile_steps_build_and_install_feedgen(tmp_path: Path) -> None:
    """The builder's build and the final stage's install, run here on the build context, with
    /dist and /opt/feedgen moved under tmp_path; the system steps (apt-get, useradd) left out."""
    context = build_context(tmp_path / "context")
    dist, venv = tmp_path / "dist", tmp_path / "opt-feedgen"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FEEDGEN_")},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("PYTHONPATH", None)
    # The builder works in the context (WORKDIR /src), the final stage outside it (in /), where
    # the sources cannot shadow the installed package.
    steps = [
        (value, context) for name, value in stages()[0] if name == "RUN" and "apt-get" not in value
    ]
    steps += [
        (step.strip(), tmp_path)
        for value in final("RUN")
        for step in value.split("&&")
        if not step.strip().startswith(("useradd", "mkdir"))
    ]
    for step, folder in steps:
        command = step.replace("/opt/feedgen", str(venv)).replace("/dist", str(dist))
        done = subprocess.run(
            ["/bin/sh", "-c", command], cwd=folder, env=env, capture_output=True, timeout=600
        )
        assert done.returncode == 0, f"{command}\n{done.stderr.decode()[-3000:]}"
    (entrypoint,) = [json.loads(value) for value in final("ENTRYPOINT")]
    done = subprocess.run(
        [venv / "bin" / entrypoint[0], "--version"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0 and b"0.1.0" in done.stdout
    assert not dist.exists()  # removed from the image once installed
