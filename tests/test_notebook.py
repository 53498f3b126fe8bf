"""The project notebook runs headless and its cells hold the plots."""
from __future__ import annotations

import nbformat
from helpers import ROOT
from nbclient import NotebookClient

HOLOVIEWS_MIME = "application/vnd.holoviews_exec.v0+json"


def test_notebook_runs_and_displays_views():
    notebook = nbformat.read(ROOT / "silent_leak_detector.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    mimes = [set().union(*[o.get("data", {}).keys() for o in c.outputs]) for c in code]
    plots = [i for i, m in enumerate(mimes) if HOLOVIEWS_MIME in m]
    # pn.extension() loads the JS (cell 0); funnel, map, heatmap, the model's widgets with a
    # bound view, and the whole dashboard are live plots
    assert plots == [0, 2, 3, 4, 6, 7], mimes
    kpis = code[1].outputs[0]["data"]["text/plain"]
    assert "'sessions': 100000" in kpis
    takeaways = code[5].outputs[0]["data"]["text/plain"]
    assert "mobile" in takeaways
