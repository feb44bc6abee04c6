"""The lecture notebook runs from top to bottom in a fresh kernel, with no error."""

import pytest

from helpers import REPO

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat: pip install '.[test]'")
NotebookClient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient").NotebookClient

NOTEBOOK = REPO / "notebooks" / "backprop.ipynb"


@pytest.mark.slow  # a Jupyter kernel, and the lecture's 30 epochs
def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the kernel imports this checkout's gpubp
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "column form = row form: True" in text and "row form = gpubp: True" in text
    assert "test accuracy after 30 epochs" in text and "CPU: " in text
