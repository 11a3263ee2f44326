"""Probing and transcoding a short video with ffprobe and ffmpeg (docs/video.md, "The ladder").

Pure file work, no database: `probe` reads what a file holds, `transcode` writes an HLS
ladder (one rendition per height, a master playlist and a poster) into a folder it is given.
The caller writes into a temporary folder and moves it into place last, so a transcode that
is killed halfway never leaves output that looks finished.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The ladder: a phone's full-screen 720p and a small 360p for poor networks. Bitrates are
# the usual ones for H.264 at these sizes (Apple's HLS authoring guide is in this range).
LADDER: tuple[tuple[int, int, int], ...] = (
    # height, video kbit/s, audio kbit/s
    (720, 2800, 128),
    (360, 800, 96),
)
# Two-second segments: a quick start, and few enough files for a three-minute clip.
SEGMENT_SECONDS = 2
# The poster is a frame this far in (the first frame is often black), or the middle of a
# shorter clip.
POSTER_AT_SECONDS = 1.0


class TranscodeError(Exception):
    """The file cannot be made into the ladder; the message is the reason shown to the host."""


@dataclass(frozen=True, slots=True)
class Probe:
    duration_seconds: float
    width: int
    height: int
    has_audio: bool


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def probe(path: Path, timeout: float = 60) -> Probe:
    try:
        result = subprocess.run(
            ["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
             "-show_streams", str(path)],
            capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise TranscodeError("probing the file took too long") from None
    if result.returncode != 0:
        raise TranscodeError(f"not a readable video: {_last_line(result.stderr)}")
    info = json.loads(result.stdout or b"{}")
    streams = info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    if video is None:
        raise TranscodeError("the file has no video stream")
    try:
        duration = float(info.get("format", {}).get("duration") or video.get("duration") or 0)
        width, height = int(video["width"]), int(video["height"])
    except (KeyError, TypeError, ValueError):
        raise TranscodeError("the video's size or length cannot be read") from None
    if duration <= 0 or width <= 0 or height <= 0:
        raise TranscodeError("the video's size or length cannot be read")
    return Probe(duration, width, height,
                 any(s.get("codec_type") == "audio" for s in streams))


def rungs_for(source_height: int) -> list[tuple[int, int, int]]:
    """The ladder's rungs a source can fill without upscaling; the lowest one always."""
    rungs = [rung for rung in LADDER if rung[0] <= source_height]
    return rungs or [LADDER[-1]]


def transcode(source: Path, out_dir: Path, info: Probe, timeout: float) -> list[int]:
    """Write `{height}p/index.m3u8` (+ segments) per rung, `master.m3u8` and `poster.jpg`
    into `out_dir`. Returns the heights, highest first."""
    rungs = rungs_for(info.height)
    for height, video_kbps, audio_kbps in rungs:
        folder = out_dir / f"{height}p"
        folder.mkdir(parents=True)
        args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                "-i", str(source), "-map", "0:v:0", "-map", "0:a:0?",
                # Even width (H.264 needs it), the aspect kept.
                "-vf", f"scale=-2:{height}", "-c:v", "libx264", "-preset", "veryfast",
                "-profile:v", "main", "-pix_fmt", "yuv420p",
                "-b:v", f"{video_kbps}k", "-maxrate", f"{video_kbps * 107 // 100}k",
                "-bufsize", f"{video_kbps * 3 // 2}k",
                # A keyframe at every segment boundary, so each segment starts cleanly.
                "-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_SECONDS})",
                "-c:a", "aac", "-b:a", f"{audio_kbps}k", "-ac", "2",
                "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_playlist_type", "vod",
                "-hls_segment_filename", str(folder / "seg%03d.ts"), str(folder / "index.m3u8")]
        _run(args, timeout)
    poster_at = min(POSTER_AT_SECONDS, info.duration_seconds / 2)
    _run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
          "-ss", f"{poster_at:.2f}", "-i", str(source), "-frames:v", "1",
          "-vf", f"scale=-2:{rungs[0][0]}", "-q:v", "3", str(out_dir / "poster.jpg")], timeout)
    (out_dir / "master.m3u8").write_text(master_playlist(rungs, info))
    return [height for height, _, _ in rungs]


def master_playlist(rungs: list[tuple[int, int, int]], info: Probe) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
    for height, video_kbps, audio_kbps in rungs:
        width = round(info.width * height / info.height / 2) * 2
        bandwidth = (video_kbps * 107 // 100 + audio_kbps) * 1000
        codecs = "avc1.4d401f,mp4a.40.2" if info.has_audio else "avc1.4d401f"
        lines.append(f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={width}x{height},'
                     f'CODECS="{codecs}"')
        lines.append(f"{height}p/index.m3u8")
    return "\n".join(lines) + "\n"


def _run(args: list[str], timeout: float) -> None:
    try:
        result = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise TranscodeError(f"the transcode took longer than {int(timeout)} s") from None
    if result.returncode != 0:
        raise TranscodeError(f"the transcode failed: {_last_line(result.stderr)}")
