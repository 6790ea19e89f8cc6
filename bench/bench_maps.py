"""Map size and build time on synthetic units: 1,000 and 30,000 (quick: 1,000 only).

Run ``python bench/bench_maps.py`` or call ``run(quick)`` from the bench driver.
"""

from __future__ import annotations

import json
import sys

from territory.web.maps import measure_map_size


def run(quick: bool = False) -> dict:
    """HTML bytes, build and save seconds of ``scenario_map`` + ``save_map`` per size.

    Returns
    -------
    dict
        ``{"maps_1000_units": {...}, "maps_30000_units": {...}}`` (the second
        one only when ``quick`` is false); each entry as
        :func:`territory.maps.measure_map_size` reports it.
    """
    sizes = [1000] if quick else [1000, 30000]
    return {f"maps_{n}_units": measure_map_size(n) for n in sizes}


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
