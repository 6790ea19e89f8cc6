"""The one way the benchmarks run a command in a fresh interpreter under a timeout."""

from __future__ import annotations

import subprocess
import time

__all__ = ["run_timed"]


def run_timed(cmd: list[str], timeout: float, *, tail: int = 800,
              **kwargs) -> tuple[int | None, str, float]:
    """Run ``cmd``: its exit code (None when it timed out), the last ``tail`` characters
    of its stdout + stderr (``"timed out"``), and its wall seconds.

    ``kwargs`` go to :func:`subprocess.run` (``cwd``, ``env``).
    """
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
        code, out = proc.returncode, (proc.stdout + proc.stderr)[-tail:]
    except subprocess.TimeoutExpired:
        code, out = None, "timed out"
    return code, out, time.perf_counter() - t0
