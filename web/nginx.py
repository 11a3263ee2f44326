"""nginx for the video ingest: render its config from the template, and run it.

`deploy/nginx/livesell-rtmp.conf.template` is the one config; this fills in the ports, the
paths under a prefix folder (`DATA_DIR/nginx` for `livesell run`, a temporary one in the
tests) and where nginx calls the app back. nginx is Debian's `nginx` with the
`libnginx-mod-rtmp` module; without them the app runs without ingest.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from core.settings import IngestSettings

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "livesell-rtmp.conf.template"
# Where Debian's libnginx-mod-rtmp puts the module.
RTMP_MODULE_PATHS = (Path("/usr/lib/nginx/modules/ngx_rtmp_module.so"),
                     Path("/usr/lib64/nginx/modules/ngx_rtmp_module.so"))
INSTALL_HINT = "apt-get install nginx libnginx-mod-rtmp ffmpeg"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class NginxLayout:
    """The files of one nginx under its prefix folder."""

    prefix: Path

    @property
    def config(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def www_dir(self) -> Path:
        return self.prefix / "www"

    @property
    def hls_dir(self) -> Path:
        return self.www_dir / "hls"

    def playlist(self, room_id: int) -> Path:
        return self.hls_dir / f"room-{room_id}" / "index.m3u8"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


def rtmp_module() -> Path | None:
    return next((p for p in RTMP_MODULE_PATHS if p.exists()), None)


def missing() -> str | None:
    """Why ingest cannot run here (None: it can)."""
    if nginx_binary() is None:
        return "nginx is not installed"
    if rtmp_module() is None:
        return "nginx's RTMP module is not installed"
    return None


def record_dir(ingest: IngestSettings, layout: NginxLayout) -> Path:
    """Where nginx records each publish: the setting (which the app reads too), else beside
    the rest of this nginx's files."""
    return Path(ingest.record_dir).resolve() if ingest.record_dir else layout.prefix / "records"


def render(ingest: IngestSettings, layout: NginxLayout, callback_base: str,
           module: Path | None = None) -> str:
    """The config text. `callback_base` is where nginx reaches the web app (loopback)."""
    module = module or rtmp_module() or RTMP_MODULE_PATHS[0]
    secret = ingest.callback_secret.reveal()
    values = {
        # nginx started as root would run its workers as `nobody`, who cannot write the HLS
        # into our folder; otherwise it runs as whoever started it and needs no directive.
        "user_directive": "user root;" if os.geteuid() == 0 else "",
        "rtmp_module": str(module),
        "prefix": str(layout.prefix),
        "rtmp_bind": ingest.rtmp_bind,
        "rtmp_port": str(ingest.rtmp_port),
        # Where nginx pushes an accepted stream to itself: loopback, unless it listens on one
        # address only.
        "push_host": ("127.0.0.1" if ingest.rtmp_bind in ("", "0.0.0.0", "127.0.0.1")
                      else ingest.rtmp_bind),
        "http_bind": ingest.http_bind,
        "http_port": str(ingest.http_port),
        "callback_base": callback_base.rstrip("/"),
        "callback_query": f"?secret={quote(secret, safe='')}" if secret else "",
        "update_seconds": str(ingest.update_seconds),
        "hls_dir": str(layout.hls_dir),
        "www_dir": str(layout.www_dir),
        "record_dir": str(record_dir(ingest, layout)),
    }
    text = TEMPLATE.read_text()

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{TEMPLATE.name} names {{{{{name}}}}}, which nothing fills")
        return values[name]

    return PLACEHOLDER.sub(fill, text)


def prepare(ingest: IngestSettings, prefix: Path, callback_base: str) -> NginxLayout:
    """Write the config and make the folders nginx expects under `prefix`."""
    layout = NginxLayout(prefix.resolve())
    for folder in (layout.prefix / "logs", layout.prefix / "tmp", layout.hls_dir,
                   record_dir(ingest, layout)):
        folder.mkdir(parents=True, exist_ok=True)
    layout.config.write_text(render(ingest, layout, callback_base))
    # It holds the callback secret when one is set.
    layout.config.chmod(0o600)
    return layout


def command(layout: NginxLayout) -> list[str]:
    """nginx in the foreground (`daemon off` in the config), logging under the prefix from the
    first line (`-e`: before the config is read it would use /var/log/nginx)."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError(f"nginx is not installed: {INSTALL_HINT}")
    return [binary, "-p", str(layout.prefix), "-c", str(layout.config),
            "-e", str(layout.prefix / "logs" / "error.log")]
