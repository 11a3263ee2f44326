"""What the benchmarks share below their own logic: the raw requests the load client sends, and
starting and stopping a server process of their own."""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

# A server that does not answer its port by then has failed to start.
START_SECONDS = 30.0


def cpu_model() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it ("unknown CPU" where it does not)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def post_request(port: int, path: str, *, token: str | None = None, key: str | None = None,
                 body: str = "", headers: dict[str, str] | None = None) -> str:
    """A raw HTTP/1.1 POST to the local server: the bearer `token`, the Idempotency-Key `key`
    and `headers` when given, and a JSON `body` (or none)."""
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if key is not None:
        lines.append(f"Idempotency-Key: {key}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body:
        lines.append("Content-Type: application/json")
    lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


def wait_until_listening(process: subprocess.Popen[bytes], port: int, name: str, log: Path,
                         seconds: float = START_SECONDS) -> None:
    """Block until `process` (the server `name`, writing to `log`) answers on `port`; kill it
    and raise if it exits or `seconds` pass first."""
    from web.embedded import port_open

    deadline = time.monotonic() + seconds
    while not port_open("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{name} did not start; see {log}")
        time.sleep(0.05)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate, and kill what has not exited 15 s later."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
