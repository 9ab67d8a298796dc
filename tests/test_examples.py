"""Every notebook in examples/ runs top to bottom, offline, in its quick (smoke) mode."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_without_errors(notebook, tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient", reason="pip install nbclient nbformat ipykernel")
    import nbformat

    # The kernel inherits this process's environment: the tiny sizes, the backend.
    monkeypatch.setenv("KERAS_RESNET_SMOKE", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(notebook, as_version=4)
    client = nbclient.NotebookClient(
        book,
        timeout=900,
        kernel_name="python3",
        # Files a notebook writes by relative path land in the test's folder.
        resources={"metadata": {"path": str(tmp_path)}},
    )
    # A cell error raises CellExecutionError, naming the cell and its traceback.
    client.execute()


def test_examples_folder_has_notebooks():
    assert {"01_quickstart", "02_custom_resnet", "04_transfer_learning"} <= {
        path.stem for path in NOTEBOOKS
    }
