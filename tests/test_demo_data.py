"""The shipped demo book lies on the shipped road graph: every visit of it can be routed.

`scripts/make_demo_data.py` fits the demo's ZCTAs, rep homes and accounts to
`data/columbus_drive.graphml.gz`; these checks fail if the data and the graph drift apart
(a ZCTA, a home or an account beyond `max_snap_km` would price its legs by the straight-line
estimate, and the demo's `routed_share` would fall below 1).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from territory.config import load_config
from territory.io.roster import read_reps
from territory.travel.matrix import load_road_network, local_pace, travel_matrix

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def demo():
    if not (DATA / "columbus_drive.graphml.gz").is_file():
        pytest.skip("data/columbus_drive.graphml.gz not built")
    cfg = load_config(DATA / "scenarios" / "balanced.toml")
    return cfg, load_road_network(cfg.travel)


def _sites() -> tuple[gpd.GeoDataFrame, np.ndarray, np.ndarray]:
    """Unit polygons, every place a visit starts or ends ((lon, lat) rows), and their names."""
    zctas = gpd.read_file(DATA / "columbus_zctas.geojson")
    rp = zctas.geometry.representative_point()
    reps = read_reps(DATA / "reps.csv")
    acc = pd.read_csv(DATA / "accounts.csv", dtype=str, keep_default_na=False)
    lat, lon = pd.to_numeric(acc["lat"], errors="coerce"), pd.to_numeric(acc["lon"], errors="coerce")
    own = lat.between(-90, 90) & lon.between(-180, 180)
    pts = np.r_[np.column_stack([rp.x, rp.y]), reps[["lon", "lat"]].to_numpy(float),
                np.column_stack([lon[own], lat[own]])]
    names = np.r_[zctas["ZCTA5CE10"].to_numpy(), reps["rep_id"].to_numpy(),
                  acc.loc[own, "account_id"].to_numpy()]
    return zctas, pts, names


def test_every_visit_site_and_home_is_on_the_graph(demo):
    cfg, net = demo
    zctas, pts, names = _sites()
    _, km = net.snap(pts[:, 0], pts[:, 1])
    assert len(zctas) == 24 and len(pts) > 24 + 7
    off = names[km > cfg.travel.max_snap_km]
    assert not len(off), f"off the road graph: {list(off)}"
    homes = pts[len(zctas):len(zctas) + 7]  # from every home, every site is reached by road
    tm = travel_matrix(net, homes, pts, cfg.travel)
    assert tm.coverage == 1.0 and not tm.estimated.any()


def test_every_unit_has_a_pace_measured_on_the_graph(demo):
    cfg, net = demo
    zctas = gpd.read_file(DATA / "columbus_zctas.geojson")
    rp = zctas.geometry.representative_point()
    area = zctas.to_crs("EPSG:6933").area.to_numpy() / 1e6
    pace, measured = local_pace(net, rp.x.to_numpy(), rp.y.to_numpy(), np.sqrt(area / np.pi),
                                cfg.travel)
    assert measured.all()
    assert 60 < float(np.median(pace)) < 150  # s per straight-line km: a city's roads


def test_the_demo_book_fits_the_scenarios_bands(demo):
    cfg, _ = demo
    acc = pd.read_csv(DATA / "accounts.csv", dtype=str, keep_default_na=False)
    rev = pd.to_numeric(acc.drop_duplicates("account_id")["revenue"], errors="coerce").dropna()
    rev = rev[rev >= 0]  # the clean rows (money text and the like are rejected or few)
    units = np.where(rev >= cfg.tiers.a_min_revenue, 3, np.where(rev >= cfg.tiers.b_min_revenue, 2, 1))
    lo, hi = cfg.balance.account_units_min, cfg.balance.account_units_max
    fewer = load_config(DATA / "scenarios" / "one_rep_fewer.toml").n_reps
    for n in (len(read_reps(DATA / "reps.csv")), fewer):
        assert lo < units.sum() / n < hi, (n, units.sum() / n)
