"""The comparison notebook runs top to bottom (nbclient, straight-line drive times)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "compare_scenarios.ipynb"
DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.slow
def test_notebook_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    if not (DATA / "accounts.csv").is_file():
        pytest.skip("demo data not found")
    monkeypatch.setenv("TERRITORY_NB_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("TERRITORY_NB_ESTIMATE", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert html.count("TT.scenario(") >= 3  # three maps inline
    assert "cdn.jsdelivr" not in html
    assert (tmp_path / "out" / "compare.html").is_file()
    assert len(list((tmp_path / "out").glob("moved_accounts_*.csv"))) == 3
