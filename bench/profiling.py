"""py-spy against the running server, and a reading of its samples by layer.

`py-spy record --format raw` writes one line per distinct stack: frames root-first separated by
`;`, then a space and the sample count. Without `--idle` only samples where the thread was
running count, so the shares below are shares of the server's CPU time. Time the event loop
spends in C (uvloop's socket reads and writes, httptools' parser) has no Python frame of its
own: it shows up as the Python frame that called into it, or, for the loop's own I/O, as the
bottom frame (`run`), counted as "event loop (uvloop, sockets)".
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PROFILES = Path(__file__).resolve().parent / "profiles"
# Samples per second: enough for a few thousand samples in a 10-second step, little overhead.
RATE = 250

# Layers, checked from the innermost frame outwards; the first frame that belongs to a layer
# names the layer of the sample. A marker is matched against the frame's text ("function
# (path:line)", paths as py-spy shortens them), and the first layer with a match wins.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("Redis connection pool checkout", ("BlockingConnectionPool.", "ConnectionPool.get_connection",
                                        "ConnectionPool.release")),
    ("GZip middleware", ("starlette/middleware/gzip.py",)),
    ("auth (token, account)", ("web/auth.py", "core/security.py")),
    ("body parsing, validation", ("web/validation.py", "pydantic", "web/api.py")),
    ("Redis client (commands, scripts)", ("redis/", "core/redis.py")),
    ("order writer, SQLAlchemy, asyncpg", ("orders/writer.py", "sqlalchemy/", "asyncpg/",
                                           "core/db.py")),
    ("stock publisher", ("orders/runtime.py", "realtime/publish.py")),
    ("buy logic (orders/buying, stock)", ("orders/buying.py", "orders/stock.py",
                                           "orders/errors.py", "core/errors.py")),
    ("JSON reply, error rendering", ("web/responses.py", "starlette/responses.py", "orjson")),
    ("Starlette routing, middleware", ("starlette/",)),
    ("uvicorn, httptools (HTTP parsing, socket writes)", ("uvicorn/protocols", "httptools",
                                                          "uvicorn/middleware")),
    ("websocket hub, analytics", ("realtime/", "analytics/", "web/ws.py",
                                  "web/api_analytics.py")),
    ("logging", ("logging/",)),
]
# Frames that hold every sample (the process's entry point): they name no layer.
SCAFFOLDING = ("<frozen runpy>", "web/cli.py", "uvicorn/main.py", "uvicorn/server.py",
               "uvicorn/_compat.py")
# The project's packages: a frame there that no layer claims is "other app code".
PROJECT = ("core/", "live/", "realtime/", "orders/", "workers/", "web/", "analytics/")
OTHER_APP = "other app code"
LOOP = "event loop: uvloop C code (epoll, socket reads, callbacks)"


def available() -> bool:
    return _binary() is not None


def _binary() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, name: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Record `pid` for `seconds` without pausing it (--nonblocking) into profiles/NAME.txt."""
    binary = _binary()
    if binary is None:
        raise RuntimeError("py-spy is not installed: pip install -e '.[dev]'")
    PROFILES.mkdir(exist_ok=True)
    out = PROFILES / f"{name}.txt"
    process = subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
         "--rate", str(RATE), "--format", "raw", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return process, out


def finish(process: subprocess.Popen[bytes]) -> str:
    """Wait for py-spy; its complaint if it failed."""
    _, err = process.communicate(timeout=120)
    return "" if process.returncode == 0 else err.decode(errors="replace").strip()[-300:]


def _frame_file(frame: str) -> str:
    # "function (path/to/file.py:123)"
    if frame.endswith(")") and " (" in frame:
        return frame.rsplit(" (", 1)[1]
    return frame


def _frame_name(frame: str) -> str:
    name, _, where = frame.rpartition(" (")
    if not name:
        return frame
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    if path.startswith(".") or "/wt/" in path:
        path = path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1]
    return f"{name} ({path})"


def _layer(frame: str) -> str | None:
    where = _frame_file(frame)
    if any(m in where for m in SCAFFOLDING):
        return None
    for layer, markers in LAYERS:
        if any(m in frame for m in markers):
            return layer
    return OTHER_APP if where.startswith(PROJECT) else None


@dataclass
class Profile:
    samples: int
    cpu_ratio: float | None
    layers: list[tuple[str, float]]
    self_top: list[tuple[str, float]]
    total_top: list[tuple[str, float]]


def read(path: Path, top: int = 15, cpu_seconds: float | None = None) -> Profile:
    """Shares of samples by layer (innermost layer wins), by leaf frame and by any frame.

    py-spy counts a thread as running when it is runnable, so on a busy machine a process
    waiting for a core is sampled too (where it was preempted, or in the loop's run() when it
    was woken by I/O). Given the CPU the process really used while recorded (`cpu_seconds`),
    `cpu_ratio` says how much of the sampled time was CPU: near 1 on a quiet machine."""
    layers: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        layer = next((found for f in reversed(frames) if (found := _layer(f))), LOOP)
        layers[layer] += count
        leaf[_frame_name(frames[-1])] += count
        # The entry point and the loop's run() hold every sample: no news in the inclusive list.
        for name in {_frame_name(f) for f in frames
                     if not any(m in _frame_file(f) for m in (*SCAFFOLDING, "asyncio/runners"))}:
            inclusive[name] += count
    ratio = cpu_seconds * RATE / total if cpu_seconds is not None and total else None
    share = 100.0 / max(total, 1)
    return Profile(total, ratio, [(k, v * share) for k, v in layers.most_common()],
                   [(k, v * share) for k, v in leaf.most_common(top)],
                   [(k, v * share) for k, v in inclusive.most_common(top)])


def layers_table(profiles: dict[str, Profile],
                 ms_per_reply: dict[str, float] | None = None) -> list[str]:
    """Shares by layer, one column a profile; with the profile's CPU per reply, also the
    milliseconds of a reply that each share stands for."""
    names = list(profiles)
    scale = ms_per_reply or {}

    def cell(name: str, layer: str) -> str:
        share = dict(profiles[name].layers).get(layer, 0.0)
        if name in scale:
            return f"{share:.0f}% ({share * scale[name] / 100:.3f} ms)"
        return f"{share:.0f}%"

    order = sorted({layer for p in profiles.values() for layer, _ in p.layers},
                   key=lambda layer: -max(dict(p.layers).get(layer, 0.0)
                                          for p in profiles.values()))
    lines = ["| layer | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for layer in order:
        lines.append(f"| {layer} | " + " | ".join(cell(n, layer) for n in names) + " |")
    lines.append("| samples | " + " | ".join(f"{profiles[n].samples:,}" for n in names) + " |")
    lines.append("| measured CPU / sampled time | " + " | ".join(
        f"{profiles[n].cpu_ratio:.2f}" if profiles[n].cpu_ratio is not None else "n/a"
        for n in names) + " |")
    return lines


def top_table(profile: Profile, rows: int = 10) -> list[str]:
    lines = ["| frame (self) | share | frame (inclusive) | share |", "|---|---|---|---|"]
    for i in range(min(rows, max(len(profile.self_top), len(profile.total_top)))):
        s = profile.self_top[i] if i < len(profile.self_top) else ("", 0.0)
        t = profile.total_top[i] if i < len(profile.total_top) else ("", 0.0)
        lines.append(f"| `{s[0]}` | {s[1]:.1f}% | `{t[0]}` | {t[1]:.1f}% |")
    return lines
