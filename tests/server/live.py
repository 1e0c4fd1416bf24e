"""Launch ``ensemble serve`` as a real subprocess on a free 127.0.0.1 port and wait until ready."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

TESTS = Path(__file__).resolve().parents[1]
ENTRY = "from ensemble_cli.cli.main import main; main()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    proc: subprocess.Popen[str]
    port: int
    api_key: str | None
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def v1(self) -> str:
        return f"{self.base}/v1"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=self.headers(), timeout=120, **kwargs)  # type: ignore[arg-type]

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


ECHO = """\
name: echo
models:
  - name: a
    generator: echo-gen
selector: echo-all
aggregator:
  type: echo
  params: {{delay: {delay}}}
"""


def echo_recipe(folder: Path, delay: float = 0.0) -> Path:
    """A recipe of the test-only echo components (output = the prompt upper-cased, no model)."""
    path = folder / f"echo-{delay}.yaml"
    path.write_text(ECHO.format(delay=delay))
    return path


def launch(recipe: Path, log: Path, *args: str, api_key: str | None = None, fixtures: bool = False,
           wait: bool = True, timeout: float = 180, env: dict[str, str] | None = None) -> LiveServer:
    """Start a server; ``fixtures`` runs it with the test-only echo components registered."""
    port = free_port()
    base = {k: v for k, v in os.environ.items() if k != "ENSEMBLE_API_KEY"}
    env = {**base, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    entry = [str(TESTS / "run_fixture_cli.py")] if fixtures else ["-c", ENTRY]
    cmd = [sys.executable, *entry, "serve", str(recipe), "--port", str(port), *args]
    if api_key:
        cmd += ["--api-key", api_key]
    handle = log.open("w")
    proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, text=True, env=env)
    server = LiveServer(proc, port, api_key, log)
    if wait:
        wait_ready(server, timeout)
    return server


def wait_ready(server: LiveServer, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"server not ready after {timeout} s:\n{server.output()}")
