"""Transcode time and peak memory of a short video: `python -m bench.transcode [--write]`.

Makes a 30-second 1080p clip (ffmpeg's `testsrc2` with film-grain noise, so the encoder has
real work: a flat test pattern compresses to nothing), then runs the worker's transcode
(`live.transcode`: probe, the 720p and 360p rungs, the poster) on it in a fresh process,
timing it and taking the peak resident memory of its ffmpeg processes (getrusage of the
children) and of the process itself (the worker's share).

The baseline, measured in the same run just before and just after the worker's transcode: one
plain ffmpeg invocation making a single 720p H.264 + AAC MP4 of the same clip with the same
encoder settings as the top rung (no probe, no second rung, no HLS segmenting, no poster). The
figure that travels between machines is the ratio of the two; the seconds depend on the
machine and on whatever else runs on it. `--write` puts the figures in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.sections import write_section
from live import transcode


def make_source(path: Path, seconds: int, height: int) -> None:
    width = height * 16 // 9
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}",
         "-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True, timeout=1800)


def baseline_args(source: Path, target: Path) -> list[str]:
    """One plain ffmpeg run: the top rung's encoder settings, one MP4, nothing else."""
    height, video_kbps, audio_kbps = transcode.LADDER[0]
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
            "-vf", f"scale=-2:{height}", "-c:v", "libx264", "-preset", "veryfast",
            "-profile:v", "main", "-pix_fmt", "yuv420p", "-b:v", f"{video_kbps}k",
            "-c:a", "aac", "-b:a", f"{audio_kbps}k", "-ac", "2", str(target)]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_baseline(source: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of the plain ffmpeg run."""
    target = source.parent / "baseline.mp4"
    cpu_before = _children_cpu()
    started = time.perf_counter()
    subprocess.run(baseline_args(source, target), check=True, timeout=3600)
    wall = time.perf_counter() - started
    target.unlink()
    return wall, _children_cpu() - cpu_before


def measure(source: Path) -> dict[str, float | list[int]]:
    """The transcode in this (fresh) process: its children are the transcode's ffmpegs only."""
    started = time.perf_counter()
    info = transcode.probe(source)
    out = source.parent / "out"
    out.mkdir()
    heights = transcode.transcode(source, out, info, timeout=3600)
    wall = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall": wall,
        "cpu": children.ru_utime + children.ru_stime,
        # The largest single ffmpeg's peak (KiB on Linux): the rungs run one after another.
        "peak_child_mib": children.ru_maxrss / 1024,
        "self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "output_mib": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20,
        "heights": heights,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transcode")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--write", action="store_true", help="write the figures to BENCHMARKS.md")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    with tempfile.TemporaryDirectory(prefix="livesell-bench-") as folder:
        source = Path(folder) / "source.mp4"
        make_source(source, args.seconds, args.height)
        # Baseline before and after: on a shared machine the load moves during the run, and
        # the mean of the two brackets the worker's transcode.
        baseline_before = measure_baseline(source)
        result = subprocess.run([sys.executable, "-m", "bench.transcode", "--measure",
                                 str(source)], check=True, capture_output=True, text=True)
        figures = json.loads(result.stdout)
        baseline_after = measure_baseline(source)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    wall = float(figures["wall"])
    baseline = (baseline_before[0] + baseline_after[0]) / 2
    baseline_cpu = (baseline_before[1] + baseline_after[1]) / 2
    text = (
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench.transcode"
        f" --seconds {args.seconds} --height {args.height}`; {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}, load average before: {load}.\n\n"
        "| clip | rungs | transcode wall time | times the clip's length | ffmpeg CPU |"
        " peak ffmpeg RSS | worker RSS | output |\n|---|---|---|---|---|---|---|---|\n"
        f"| {args.seconds} s {args.height}p | {', '.join(f'{h}p' for h in figures['heights'])} |"
        f" {wall:.1f} s | {wall / args.seconds:.2f} | {figures['cpu']:.1f} s |"
        f" {figures['peak_child_mib']:.0f} MiB | {figures['self_mib']:.0f} MiB |"
        f" {figures['output_mib']:.1f} MiB |\n\n"
        f"Against the baseline measured in the same run (one plain ffmpeg invocation: the same"
        f" clip to a single 720p MP4 with the top rung's x264 settings, no probe, no 360p rung,"
        f" no HLS, no poster): {baseline_before[0]:.1f} s before and {baseline_after[0]:.1f} s"
        f" after the worker's transcode (ffmpeg CPU {baseline_before[1]:.1f} s and"
        f" {baseline_after[1]:.1f} s), so the worker's full ladder takes"
        f" **{wall / baseline:.2f}x** the plain single-rendition encode's wall time and"
        f" **{float(figures['cpu']) / baseline_cpu:.2f}x** its CPU time. The machine (2 cores)"
        f" was shared with other work during the run, so the seconds are indicative only; the"
        f" ratios are the figures to compare (the CPU ratio moves least with the load).\n")
    print(text)
    if args.write:
        write_section("transcode", "Short video transcode", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
