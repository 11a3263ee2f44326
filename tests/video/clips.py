"""Test clips made with ffmpeg's test sources."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_clip(path: Path, *, seconds: float = 5, size: str = "1280x720") -> Path:
    """An H.264/AAC MP4 of a test pattern and a tone."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=size={size}:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
         "-shortest", "-movflags", "+faststart", str(path)],
        check=True, capture_output=True, timeout=120)
    return path
