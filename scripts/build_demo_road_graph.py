"""Build the demo road graph ``data/columbus_drive.graphml.gz`` (and the test extract).

The demo graph is the Columbus, Ohio drive network of OpenStreetMap
(© OpenStreetMap contributors, ODbL 1.0), taken from
``shared/data/columbus_oh_drive.osm.bz2`` (a 2015 extract). It is loaded with
the same code the product uses (``travel.source = "file"``: the default road
filter, osmnx simplification with list attributes put in a fixed order,
``add_edge_speeds`` + ``add_edge_travel_times``), cut to its largest strongly
connected component and written as compact, deterministic GraphML: node
``x``/``y`` and edge ``travel_time`` only, gzip with a fixed header. The
product reads it in well under a second and never needs ``shared/``.

Usage::

    python scripts/build_demo_road_graph.py            # data/columbus_drive.graphml.gz
    python scripts/build_demo_road_graph.py --test-extract
        # tests/data/columbus_downtown_small.osm.bz2 (a ~2.5 km clip for the unit tests)
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: shared/data beside the repository (a clone) or beside a worktree folder's parent.
SHARED = next((p / "shared" / "data" for p in ROOT.parents if (p / "shared" / "data").is_dir()),
              ROOT.parent / "shared" / "data")
SOURCE = SHARED / "columbus_oh_drive.osm.bz2"
DOWNTOWN = SHARED / "columbus_oh_downtown_drive.osm.bz2"
OUT = ROOT / "data" / "columbus_drive.graphml.gz"
TEST_OUT = ROOT / "tests" / "data" / "columbus_downtown_small.osm.bz2"
#: (min lon, min lat, max lon, max lat) of the test clip: downtown Columbus, ~2.5 x 2.5 km.
TEST_BOX = (-83.000, 39.950, -82.975, 39.975)


def build_demo(source: Path, out: Path) -> None:
    from territory.travel import network as _osm
    from territory.config import TravelConfig
    from territory.travel.matrix import network_from_arrays

    cfg = TravelConfig(source="file", path=str(source))
    t0 = time.perf_counter()
    G = _osm.graph_from_osm_xml(source, cfg.custom_filter, cfg.fallback_speeds_kph,
                                cfg.estimate_speed_kph)
    arr = _osm.graph_to_arrays(G)
    net = network_from_arrays(arr, "build")
    # keep the nodes and edges of the largest strongly connected component
    keep = np.isin(np.arange(len(arr.node_id)), _scc_positions(arr, net))
    pos = np.full(len(arr.node_id), -1)
    pos[keep] = np.arange(int(keep.sum()))
    e = keep[arr.src] & keep[arr.dst]
    small = _osm.GraphArrays(arr.node_id[keep], arr.lon[keep], arr.lat[keep],
                             pos[arr.src[e]], pos[arr.dst[e]], arr.seconds[e])
    _osm.save_compact_graphml(small, out, meta={
        "source": f"OpenStreetMap extract {source.name} (2015), drive network",
        "license": "ODbL 1.0, (c) OpenStreetMap contributors",
        "speeds": "osmnx add_edge_speeds + add_edge_travel_times (free flow), seconds",
    })
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    print(f"{out}: {out.stat().st_size:,} bytes, {len(small.node_id):,} nodes, "
          f"{len(small.src):,} edges, sha256 {digest}, built in {time.perf_counter() - t0:.1f} s")


def _scc_positions(arr, net) -> np.ndarray:
    """Positions in ``arr`` of the nodes kept by ``net`` (matched on coordinates)."""
    key = {(x, y): i for i, (x, y) in enumerate(zip(arr.lon.tolist(), arr.lat.tolist()))}
    return np.array([key[(x, y)] for x, y in zip(net.node_lon.tolist(), net.node_lat.tolist())])


def clip_extract(source: Path, out: Path, box: tuple[float, float, float, float]) -> None:
    """Keep every way with a node inside ``box`` (whole), and the nodes they use."""
    with bz2.open(source) as fh:
        root = ET.parse(fh).getroot()
    inside = set()
    for n in root.iter("node"):
        x, y = float(n.get("lon")), float(n.get("lat"))
        if box[0] <= x <= box[2] and box[1] <= y <= box[3]:
            inside.add(n.get("id"))
    keep_ways = [w for w in root.iter("way")
                 if any(nd.get("ref") in inside for nd in w.iter("nd"))]
    used = {nd.get("ref") for w in keep_ways for nd in w.iter("nd")}
    new = ET.Element("osm", {"version": "0.6", "generator": "territory build_demo_road_graph.py"})
    ET.SubElement(new, "bounds", {"minlon": str(box[0]), "minlat": str(box[1]),
                                  "maxlon": str(box[2]), "maxlat": str(box[3])})
    for n in root.iter("node"):
        if n.get("id") in used:
            new.append(n)
    for w in keep_ways:
        new.append(w)
    data = ET.tostring(new, encoding="utf-8", xml_declaration=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bz2.compress(data, 9))
    print(f"{out}: {out.stat().st_size:,} bytes, {len(used):,} nodes, {len(keep_ways):,} ways")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--test-extract", action="store_true",
                    help="write the small unit-test OSM clip instead of the demo graph")
    args = ap.parse_args(argv)
    if args.test_extract:
        clip_extract(args.source or DOWNTOWN, args.out or TEST_OUT, TEST_BOX)
        return 0
    src = args.source or SOURCE
    if not src.is_file():
        print(f"source not found: {src}", file=sys.stderr)
        return 2
    build_demo(src, args.out or OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
