"""Where territory keeps downloaded and derived data."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_dir(*parts: str) -> Path:
    """The cache folder (``$TERRITORY_CACHE_DIR`` or the user cache dir), created on demand."""
    root = os.environ.get("TERRITORY_CACHE_DIR") or platformdirs.user_cache_dir("territory")
    path = Path(root).joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
