"""ZCTA download and cache, against a local HTTP server serving a small real shapefile zip.

The zip is built in the test from real ZCTAs (tests/data/zcta_dc_md_va.geojson:
4 in DC, 2 in Maryland, 2 in Virginia) written as a shapefile with the 2020
file's id column ``ZCTA5CE20``, under the real Census file name.
"""

from __future__ import annotations

import argparse
import hashlib
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import geopandas as gpd
import pytest

from territory.geo import zcta
from territory.errors import DataUnavailableError, InputError
from territory.geo.units import load_unit_polygons

DATA = Path(__file__).parent / "data"
CB_NAME = "cb_2020_us_zcta520_500k.zip"


@pytest.fixture(scope="module")
def zcta_zip(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("shp")
    src = gpd.read_file(DATA / "zcta_dc_md_va.geojson")
    gdf = gpd.GeoDataFrame({"ZCTA5CE20": src["ZCTA5CE10"], "GEOID20": src["ZCTA5CE10"],
                            "ALAND20": src["ALAND10"]},
                           geometry=src.geometry.values, crs="EPSG:4326").to_crs("EPSG:4269")
    stem = CB_NAME.removesuffix(".zip")
    gdf.to_file(folder / f"{stem}.shp")
    out = folder / CB_NAME
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.glob(f"{stem}.*")):
            if f.suffix != ".zip":
                zf.write(f, f.name)
    data = out.read_bytes()
    assert len(data) > 3000
    return data


class _Server:
    """A tiny HTTP file server with knobs: drop the connection, ignore Range, 404."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[dict] = []
        self.drop_after: list[int] = []   # per request, in order: bytes sent before dropping
        self.honour_range = True
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output quiet
                pass

            def do_GET(self):  # noqa: N802
                owner.requests.append({"path": self.path, "range": self.headers.get("Range")})
                name = self.path.rsplit("/", 1)[-1]
                body = owner.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and owner.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                payload = body[start:]
                if owner.drop_after:
                    cut = owner.drop_after.pop(0)
                    if cut is not None:
                        self.wfile.write(payload[:cut])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)  # the server drops mid-body
                        return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/geo/shp/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server(zcta_zip):
    srv = _Server({CB_NAME: zcta_zip})
    yield srv
    srv.close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_verifies_and_caches(server, zcta_zip, tmp_path):
    path = zcta.download_zcta(base_url=server.url, progress=False)
    assert path == zcta.cached_zcta_path() and path.parent.name == "zcta"
    assert path.read_bytes() == zcta_zip
    side = path.with_name(path.name + ".sha256")
    assert side.read_text().split() == [_sha(zcta_zip), CB_NAME]
    assert not path.with_name(path.name + ".part").exists()
    assert zcta.verify_zcta(path) is None
    assert [r["path"] for r in server.requests] == ["/geo/shp/" + CB_NAME]
    # a second call uses the cache
    assert zcta.download_zcta(base_url=server.url, progress=False) == path
    assert len(server.requests) == 1


def test_interrupted_download_resumes_with_range(server, zcta_zip):
    half = len(zcta_zip) // 2
    server.drop_after = [half]
    path = zcta.download_zcta(base_url=server.url, progress=False, retries=2)
    assert path.read_bytes() == zcta_zip
    assert [r["range"] for r in server.requests] == [None, f"bytes={half}-"]
    assert zcta.verify_zcta(path) is None


def test_interrupted_download_restarts_when_range_is_ignored(server, zcta_zip):
    server.drop_after = [1000]
    server.honour_range = False
    path = zcta.download_zcta(base_url=server.url, progress=False)
    assert path.read_bytes() == zcta_zip
    assert len(server.requests) == 2 and server.requests[1]["range"] == "bytes=1000-"


def test_leftover_part_file_is_resumed(server, zcta_zip):
    part = zcta.cached_zcta_path().with_name(CB_NAME + ".part")
    part.write_bytes(zcta_zip[:777])
    path = zcta.download_zcta(base_url=server.url, progress=False)
    assert path.read_bytes() == zcta_zip
    assert server.requests[0]["range"] == "bytes=777-"


def test_every_attempt_interrupted_is_a_clear_error(server):
    server.drop_after = [100, 100, 100]
    with pytest.raises(DataUnavailableError) as err:
        zcta.download_zcta(base_url=server.url, progress=False, retries=1)
    msg = str(err.value)
    assert server.url + CB_NAME in msg and "--zcta FILE" in msg
    assert not zcta.cached_zcta_path().exists()


@pytest.mark.parametrize("damage", ["flip_bytes", "truncate", "no_sidecar", "garbage"])
def test_corrupt_cache_is_detected_and_refetched(server, zcta_zip, damage):
    path = zcta.download_zcta(base_url=server.url, progress=False)
    side = path.with_name(path.name + ".sha256")
    if damage == "flip_bytes":
        data = bytearray(path.read_bytes())
        data[len(data) // 3: len(data) // 3 + 64] = b"\0" * 64
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(zcta_zip[: len(zcta_zip) // 2])
    elif damage == "no_sidecar":
        side.unlink()
    else:
        path.write_bytes(b"<html>captive portal</html>")
        side.write_text(_sha(path.read_bytes()) + "  " + CB_NAME + "\n")
    assert zcta.verify_zcta(path) is not None
    zcta.download_zcta(base_url=server.url, progress=False)
    assert len(server.requests) == 2
    assert path.read_bytes() == zcta_zip and zcta.verify_zcta(path) is None


def test_server_sending_a_corrupt_zip_is_refused(zcta_zip):
    srv = _Server({CB_NAME: zcta_zip[:200] + b"\0" * 500 + zcta_zip[700:]})
    try:
        with pytest.raises(DataUnavailableError, match="corrupt"):
            zcta.download_zcta(base_url=srv.url, progress=False, retries=1)
    finally:
        srv.close()
    assert not zcta.cached_zcta_path().exists()


def test_offline_error_names_url_and_zcta_option():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    base = f"http://127.0.0.1:{port}/shp/"
    with pytest.raises(DataUnavailableError) as err:
        zcta.download_zcta(base_url=base, progress=False, retries=0, timeout=5)
    assert f"{base}{CB_NAME}" in str(err.value) and "--zcta FILE" in str(err.value)
    assert err.value.exit_code == 2
    with pytest.raises(DataUnavailableError, match="not cached"):
        zcta.zcta_units(["DC"], download=False)
    assert zcta.cached_zcta_units(["DC"]) is None


def test_not_found_is_reported(server):
    with pytest.raises(DataUnavailableError, match="404"):
        zcta.download_zcta("tiger", base_url=server.url, progress=False)


def test_urls_and_env_override(monkeypatch, server, zcta_zip):
    assert zcta.zcta_url() == ("https://www2.census.gov/geo/tiger/GENZ2020/shp/"
                               "cb_2020_us_zcta520_500k.zip")
    assert zcta.zcta_url("tiger") == ("https://www2.census.gov/geo/tiger/TIGER2020/ZCTA520/"
                                      "tl_2020_us_zcta520.zip")
    with pytest.raises(InputError):
        zcta.zcta_url("bogus")
    monkeypatch.setenv(zcta.ENV_BASE_URL, server.url)
    assert zcta.zcta_url() == server.url + CB_NAME
    units = zcta.zcta_units(["DC"], progress=False)  # downloads from the env URL
    assert sorted(units["unit_id"]) == ["20001", "20002", "20005", "20036"]


def test_states_filter_by_representative_point(server):
    zcta.download_zcta(base_url=server.url, progress=False)
    every = zcta.zcta_units(download=False)
    assert len(every) == 8 and every.crs.to_epsg() == 4326
    assert dict(zip(every["unit_id"], every["state"])) == {
        "20001": "DC", "20002": "DC", "20005": "DC", "20036": "DC",
        "20910": "MD", "20912": "MD", "22201": "VA", "22209": "VA"}
    md_va = zcta.zcta_units(["md", "VA"], download=False)
    assert sorted(md_va["unit_id"]) == ["20910", "20912", "22201", "22209"]
    cached = zcta.cached_zcta_units(["VA"])
    assert sorted(cached["unit_id"]) == ["22201", "22209"]
    with pytest.raises(InputError, match="no ZCTA"):
        zcta.zcta_units(["DE"], download=False)


def test_cli_fetch_zcta(server, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="territory")
    parser.add_argument("-q", "--quiet", action="store_true")
    zcta.add_geo_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "dc.gpkg"
    args = parser.parse_args(["-q", "geo", "fetch-zcta", "--states", "DC,MD",
                              "--base-url", server.url, "--out", str(out)])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "6 ZCTAs in DC, MD" in printed and f"--zcta {out}" in printed
    units = load_unit_polygons(out)
    assert len(units) == 6
