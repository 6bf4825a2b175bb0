"""The notebooks run top to bottom on a smoke run of the tiny cohort, so they cannot rot."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from mumap.evaluation.report import FIGURES, write_report

pytestmark = pytest.mark.slow  # each notebook runs in a kernel on a trained smoke run
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def smoke_report(smoke_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(smoke_run, "test", max_studies=1, out=out, progress=False)
    return out


def _execute(name: str, env: dict[str, str], tmp_path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    nbformat.write(notebook, tmp_path / name)
    return notebook


def _outputs(notebook: nbformat.NotebookNode) -> str:
    return "".join(str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
                   for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs)


def test_evaluation_notebook_shows_the_report(smoke_report, tmp_path):
    notebook = _execute("evaluation_report.ipynb", {"MUMAP_REPORT": str(smoke_report)}, tmp_path)
    assert "1 studies" in _outputs(notebook)
    assert sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs) == len(FIGURES)  # Fig. 4–8


def test_walkthrough_notebook_runs_one_study(tiny_cohort, smoke_run, tmp_path):
    notebook = _execute("study_walkthrough.ipynb", {"MUMAP_DATA": str(tiny_cohort), "MUMAP_RUN": str(smoke_run)},
                        tmp_path)
    assert "max |live − cohort| / max" in _outputs(notebook)
    images = sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
                 for output in cell.outputs)
    assert images >= 6  # the figures are shown inline, not dropped by a headless backend
