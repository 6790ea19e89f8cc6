"""Real ZIP-level units: the Census ZCTA polygons, downloaded once and cached.

The Census Bureau publishes ZIP Code Tabulation Areas (ZCTAs) for the whole
country in one file:

* ``cb`` (default): the cartographic-boundary file ``cb_2020_us_zcta520_500k.zip``
  under https://www2.census.gov/geo/tiger/GENZ2020/shp/ (generalised, ~60 MB);
* ``tiger``: the full-resolution TIGER/Line file ``tl_2020_us_zcta520.zip`` under
  https://www2.census.gov/geo/tiger/TIGER2020/ZCTA520/ (~500 MB).

:func:`download_zcta` streams the file with ``requests`` (tqdm progress bar)
into ``<cache>/zcta/<name>.part``, resumes an interrupted download with an
HTTP ``Range`` request (or restarts when the server ignores it), checks the
byte count and the zip's CRCs, and only then renames the ``.part`` file and
writes a ``<name>.sha256`` sidecar (``sha256sum`` format). :func:`verify_zcta`
checks a cached file against that sidecar, so a truncated or corrupted cache is
detected and fetched again. The base URL can be changed with the
``TERRITORY_ZCTA_BASE_URL`` environment variable or the ``base_url`` argument
(tests point it at a local server).

:func:`zcta_units` reads the cached file as territory units (``unit_id`` =
5-digit ZCTA), optionally only the ZCTAs of some states. ZCTAs carry no state
field: a ZCTA belongs to the state containing its representative point
(:func:`territory.geo.reference.state_outlines`), so a ZCTA straddling a state line is
kept in exactly one state.

Offline and without a cached file, :class:`~territory.errors.DataUnavailableError`
names the URL and points at ``--zcta FILE``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache import cache_dir
from ..errors import DataUnavailableError, InputError

if TYPE_CHECKING:  # geopandas loads lazily: the CLI imports this module for its parser
    import geopandas as gpd

__all__ = [
    "SOURCES",
    "add_geo_parser",
    "cached_zcta_path",
    "cached_zcta_units",
    "cmd_fetch_zcta",
    "download_zcta",
    "filter_states",
    "verify_zcta",
    "zcta_units",
    "zcta_url",
]

log = logging.getLogger(__name__)

#: source name -> (default base URL, file name)
SOURCES: dict[str, tuple[str, str]] = {
    "cb": ("https://www2.census.gov/geo/tiger/GENZ2020/shp/", "cb_2020_us_zcta520_500k.zip"),
    "tiger": ("https://www2.census.gov/geo/tiger/TIGER2020/ZCTA520/", "tl_2020_us_zcta520.zip"),
}
ENV_BASE_URL = "TERRITORY_ZCTA_BASE_URL"
_CHUNK = 1 << 16
_ID_COLUMNS = ("ZCTA5CE20", "ZCTA5CE10", "GEOID20", "GEOID10", "ZCTA5", "unit_id")


def _source(source: str) -> tuple[str, str]:
    try:
        return SOURCES[source]
    except KeyError:
        raise InputError(f"ZCTA source must be one of {', '.join(SOURCES)}, got {source!r}") from None


def zcta_url(source: str = "cb", base_url: str | None = None) -> str:
    """The download URL of a ZCTA file.

    ``base_url`` wins, then ``$TERRITORY_ZCTA_BASE_URL``, then the Census URL.
    """
    default_base, name = _source(source)
    base = base_url or os.environ.get(ENV_BASE_URL) or default_base
    return base.rstrip("/") + "/" + name


def cached_zcta_path(source: str = "cb") -> Path:
    """Where the ZCTA zip of ``source`` lives in the cache (it may not exist yet)."""
    return cache_dir("zcta") / _source(source)[1]


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _zip_problem(path: Path) -> str | None:
    """None when ``path`` is a readable zip holding a shapefile, else what is wrong."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"not a valid zip ({exc})"
    if bad is not None:
        return f"member {bad} fails its CRC check"
    if not any(n.lower().endswith(".shp") for n in names):
        return "the zip holds no .shp file"
    return None


def verify_zcta(path: str | Path) -> str | None:
    """Check a cached ZCTA zip: size, sha256 sidecar, zip integrity.

    Returns
    -------
    str or None
        None when the file is good, else the reason it is not (missing file,
        missing sidecar, wrong size or hash, broken zip).
    """
    p = Path(path)
    if not p.is_file():
        return "not downloaded"
    side = _sidecar(p)
    if not side.is_file():
        return "no checksum sidecar (the download never completed)"
    parts = side.read_text(encoding="utf-8").split()
    if not parts:
        return "empty checksum sidecar"
    expected = parts[0].lower()
    size = p.stat().st_size
    if size < 22:  # the smallest zip (an empty archive) is 22 bytes
        return f"file is only {size} bytes"
    if _sha256(p) != expected:
        return "sha256 does not match the sidecar (file changed or truncated)"
    return _zip_problem(p)


def _stream(session, url: str, part: Path, timeout: float, progress: bool) -> None:
    """One attempt: append to ``part`` from its current size (Range), or restart."""
    import requests
    from tqdm.auto import tqdm

    have = part.stat().st_size if part.exists() else 0
    # identity encoding: byte ranges and Content-Length then count the file's own bytes
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with session.get(url, stream=True, timeout=timeout, headers=headers) as resp:
        if resp.status_code == 416 and have:  # the .part is no prefix we can extend
            part.unlink()
            raise requests.exceptions.ContentDecodingError("range not satisfiable; restarting")
        if resp.status_code == 404:
            raise DataUnavailableError(f"{url}: not found (HTTP 404)")
        resp.raise_for_status()
        if have and resp.status_code == 206:
            mode = "ab"
            total_hdr = resp.headers.get("Content-Range", "").rpartition("/")[2]
            total = int(total_hdr) if total_hdr.isdigit() else None
            start = int(resp.headers.get("Content-Range", "bytes 0-").split()[1].split("-")[0])
            if start != have:
                raise requests.exceptions.ContentDecodingError(
                    f"server resumed at byte {start}, expected {have}")
            log.info("resuming %s at byte %d", url, have)
        else:
            if have:
                log.info("server ignored the Range request; restarting %s", url)
            mode, have = "wb", 0
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=part.name.removesuffix(".part"), disable=not progress, leave=False)
        raw = resp.raw
        raw.decode_content = True
        # read1 hands over whatever arrived, so bytes received before a dropped
        # connection reach the .part file and the next attempt resumes after them
        read = getattr(raw, "read1", raw.read)
        with part.open(mode) as fh, bar:
            try:
                while chunk := read(_CHUNK):
                    fh.write(chunk)
                    bar.update(len(chunk))
            except Exception as exc:  # urllib3 errors: wrap for the retry loop
                if isinstance(exc, (requests.RequestException, OSError)):
                    raise
                raise requests.exceptions.ChunkedEncodingError(str(exc)) from exc
    got = part.stat().st_size
    if total is not None and got != total:
        raise requests.exceptions.ChunkedEncodingError(
            f"connection closed after {got:,} of {total:,} bytes")


def download_zcta(
    source: str = "cb",
    *,
    base_url: str | None = None,
    force: bool = False,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 60.0,
    session=None,
) -> Path:
    """Download (or reuse) the national ZCTA zip and return its cached path.

    Parameters
    ----------
    source
        ``"cb"`` (cartographic boundary, default) or ``"tiger"``.
    base_url
        Folder URL to download from (default ``$TERRITORY_ZCTA_BASE_URL`` or the Census).
    force
        Download again even if the cache verifies.
    progress
        Show a tqdm progress bar.
    retries
        Attempts after the first one when the connection drops; each attempt
        resumes the ``.part`` file where the last one stopped.
    session
        A ``requests.Session`` (tests, proxies); a new one when None.

    Raises
    ------
    DataUnavailableError
        The file is not cached and cannot be downloaded (offline, HTTP error,
        or it is corrupt after every attempt). The message names the URL and
        the ``--zcta FILE`` alternative.
    """
    import requests

    url = zcta_url(source, base_url)
    path = cached_zcta_path(source)
    part = path.with_name(path.name + ".part")
    if not force:
        problem = verify_zcta(path)
        if problem is None:
            log.info("using cached %s", path)
            return path
        if path.exists():
            log.warning("cached %s is unusable (%s); downloading it again", path.name, problem)
    for stale in (path, _sidecar(path)):
        stale.unlink(missing_ok=True)
    if force:
        part.unlink(missing_ok=True)
    sess = session or requests.Session()
    last: Exception | None = None
    try:
        for attempt in range(retries + 1):
            try:
                _stream(sess, url, part, timeout, progress)
            except DataUnavailableError:
                raise
            except (requests.RequestException, OSError) as exc:
                last = exc
                log.warning("download of %s interrupted (attempt %d of %d): %s",
                            url, attempt + 1, retries + 1, exc)
                continue
            problem = _zip_problem(part)
            if problem is None:
                digest = _sha256(part)
                os.replace(part, path)
                _sidecar(path).write_text(f"{digest}  {path.name}\n", encoding="utf-8")
                log.info("downloaded %s (%s bytes, sha256 %s)", path, f"{path.stat().st_size:,}",
                         digest[:12])
                return path
            last = InputError(f"downloaded file is corrupt: {problem}")
            log.warning("%s: %s; downloading it again", url, problem)
            part.unlink(missing_ok=True)
    finally:
        if session is None:
            sess.close()
    raise DataUnavailableError(
        f"cannot download the ZCTA polygons from {url} ({last}). Check the connection and run "
        "`territory geo fetch-zcta` again, or pass a local ZCTA shapefile / GeoPackage / GeoJSON "
        "with --zcta FILE (or use the approximate ZIP areas by omitting --zcta)."
    )


def filter_states(units: gpd.GeoDataFrame, states: list[str] | None) -> gpd.GeoDataFrame:
    """Keep the units whose representative point lies in one of ``states`` (two-letter codes).

    Adds a ``state`` column ('' outside every state outline) when it is missing.
    """
    from .units import unit_states

    out = units if "state" in units else units.assign(state=unit_states(units).to_numpy())
    if not states:
        return out
    wanted = [s.strip().upper() for s in states if s.strip()]
    out = out[out["state"].isin(wanted)].reset_index(drop=True)
    if out.empty:
        raise InputError(f"no ZCTA has its representative point in {', '.join(wanted)}")
    return out


def _read_units(path: Path, states: list[str] | None) -> gpd.GeoDataFrame:
    import geopandas as gpd

    from .reference import clean_units, state_outlines

    bbox = None
    if states:
        outline = state_outlines([s.upper() for s in states])
        if outline.empty:
            raise InputError(f"unknown state codes {states}")
        bbox = tuple(outline.to_crs("EPSG:4269").total_bounds)  # Census files are NAD83
    try:
        gdf = gpd.read_file(path, bbox=bbox)
    except Exception as exc:
        raise InputError(f"{path}: cannot read the ZCTA file: {exc}") from exc
    col = next((c for c in _ID_COLUMNS if c in gdf.columns), None)
    if col is None:
        raise InputError(f"{path}: no ZCTA id column (looked for {', '.join(_ID_COLUMNS)})")
    gdf = gpd.GeoDataFrame({"unit_id": gdf[col].astype(str).str.strip()},
                           geometry=gdf.geometry.values, crs=gdf.crs or "EPSG:4269")
    return clean_units(gdf)


def zcta_units(
    states: list[str] | None = None,
    *,
    source: str = "cb",
    path: str | Path | None = None,
    download: bool = True,
    base_url: str | None = None,
    progress: bool = True,
) -> gpd.GeoDataFrame:
    """ZCTA polygons as units: ``unit_id``, ``state``, ``geometry`` (EPSG:4326).

    Parameters
    ----------
    states
        Two-letter codes; only ZCTAs whose representative point lies in them are kept.
    path
        A local ZCTA file (any format geopandas reads); the cache is used when None.
    download
        Download the national file when it is not cached (else raise).
    """
    if path is None:
        cached = cached_zcta_path(source)
        if verify_zcta(cached) is not None:
            if not download:
                raise DataUnavailableError(
                    f"the ZCTA polygons are not cached ({cached}); run `territory geo fetch-zcta` "
                    f"(downloads {zcta_url(source, base_url)}) or pass --zcta FILE")
            cached = download_zcta(source, base_url=base_url, progress=progress)
        path = cached
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: ZCTA file not found")
    return filter_states(_read_units(p, states), states)


def cached_zcta_units(states: list[str] | None, source: str = "cb") -> gpd.GeoDataFrame | None:
    """The cached national ZCTAs of ``states`` when a verified download exists, else None.

    Never touches the network: the pipeline can prefer real ZCTAs over the
    approximate ZIP areas whenever ``territory geo fetch-zcta`` was run.
    """
    path = cached_zcta_path(source)
    if verify_zcta(path) is not None:
        return None
    return zcta_units(states, source=source, path=path, download=False)


# ----------------------------------------------------------------------------- CLI


def _states_arg(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [s.strip().upper() for s in text.split(",") if s.strip()]


def cmd_fetch_zcta(args: argparse.Namespace) -> int:
    """``territory geo fetch-zcta``: download and check the ZCTA file; optionally extract states."""
    path = download_zcta(args.source, base_url=args.base_url, force=args.force,
                         progress=not getattr(args, "quiet", False))
    print(f"ZCTA file: {path} ({path.stat().st_size:,} bytes, sha256 in {_sidecar(path).name})")
    states = _states_arg(args.states)
    if states or args.out:
        units = zcta_units(states, source=args.source, path=path, download=False)
        out = Path(args.out) if args.out else cache_dir("zcta") / (
            f"zcta_{'_'.join(states)}.gpkg" if states else "zcta_all.gpkg")
        out.parent.mkdir(parents=True, exist_ok=True)
        units.to_file(out, driver="GPKG" if out.suffix.lower() == ".gpkg" else None)
        where = f" in {', '.join(states)}" if states else ""
        print(f"{len(units):,} ZCTAs{where} written to {out}; use it with --zcta {out}")
    return 0


def add_geo_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``territory geo fetch-zcta`` to the CLI's subparsers."""
    geo = subparsers.add_parser("geo", help="download and cache geographic data (ZCTA polygons)",
                                description="Download and cache geographic data.")
    geo_sub = geo.add_subparsers(dest="geo_command", required=True, metavar="GEO_COMMAND")
    f = geo_sub.add_parser(
        "fetch-zcta", help="download the Census ZCTA polygons into the cache",
        description="Download the Census 2020 ZCTA shapefile (cartographic boundary 1:500k by "
                    "default, TIGER/Line with --source tiger) into the cache, check it (size, "
                    "zip CRCs, sha256 sidecar) and optionally extract some states to a "
                    "GeoPackage for --zcta. Resumes an interrupted download.")
    f.add_argument("--states", help="comma-separated state codes to extract, e.g. OH,IN")
    f.add_argument("--source", choices=sorted(SOURCES), default="cb",
                   help="cb = cartographic boundary 500k (default, ~60 MB); tiger = TIGER/Line "
                        "(full resolution, ~500 MB)")
    f.add_argument("--out", help="write the (filtered) ZCTAs to this GeoPackage / GeoJSON")
    f.add_argument("--force", action="store_true", help="download again even if cached")
    f.add_argument("--base-url", default=None,
                   help=f"download folder URL (default ${ENV_BASE_URL} or the Census site)")
    f.set_defaults(func=cmd_fetch_zcta)
    return geo
