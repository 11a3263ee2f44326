"""docker-compose.yml runs the whole stack from the same settings (checked without Docker)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_defines_the_whole_stack():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "scheduler"} <= set(services)
    for name in ("web", "worker", "scheduler", "migrate"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        # required from the environment, never a value in the file that anyone could sign with
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?") and env["SECRET_KEY"].endswith("}")
    assert services["web"]["command"][:2] == ["livesell", "serve"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "workers.app", "worker"]
    assert services["scheduler"]["command"][:4] == ["celery", "-A", "workers.app", "beat"]
    assert "noeviction" in services["redis"]["command"]
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert (ROOT / "Dockerfile").exists()


def test_compose_config_is_accepted_by_docker_when_available():
    docker = shutil.which("docker")
    if docker is None:
        return  # the YAML test above covers the file; `docker compose config` needs the plugin
    env = {**os.environ, "SECRET_KEY": secrets.token_urlsafe(48)}
    result = subprocess.run([docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config",
                             "--quiet"], capture_output=True, text=True, timeout=60, env=env)
    if "is not a docker command" in result.stderr or "unknown" in result.stderr.lower():
        return  # the client has no compose plugin on this machine
    assert result.returncode == 0, result.stderr
    # and without a SECRET_KEY compose refuses to start anything
    env.pop("SECRET_KEY")
    # (an empty env file in place of a developer's .env)
    result = subprocess.run([docker, "compose", "-f", str(ROOT / "docker-compose.yml"),
                             "--env-file", os.devnull, "config", "--quiet"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr
