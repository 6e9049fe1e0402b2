"""The check that the notebooks' committed outputs come from a run of their current cells (scripts/run_notebook.py)."""
import copy
import os
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import run_notebook  # noqa: E402

PNG = new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})


def executed():
    nb = new_notebook(cells=[new_code_cell("x = 1", execution_count=1),
                             new_code_cell("plot(x)", execution_count=2, outputs=[PNG])])
    return nb


def committed_from(nb):
    c = copy.deepcopy(nb)
    c.metadata["plural"] = {"cells_sha256": run_notebook.cells_hash(c)}
    return c


def test_outputs_of_a_run_of_the_current_cells_pass():
    nb = executed()
    assert run_notebook.committed_problems(committed_from(nb), nb) == []


def test_stale_missing_or_broken_outputs_are_named():
    nb = executed()
    bare = copy.deepcopy(nb)
    assert run_notebook.committed_problems(bare, nb) == ["it has no committed outputs"]
    edited = committed_from(nb)
    edited.cells[0].source = "x = 2"  # a cell changed after its outputs were committed
    assert "changed since" in run_notebook.committed_problems(edited, nb)[0]
    no_plot = committed_from(nb)
    no_plot.cells[1].outputs = []
    assert run_notebook.committed_problems(no_plot, nb) == ["code cell 2 draws a plot that its committed outputs lack"]
    failed = committed_from(nb)
    failed.cells[0].outputs = [new_output("error", ename="ValueError", evalue="bad", traceback=[])]
    assert run_notebook.committed_problems(failed, nb) == ["code cell 1 has a committed error"]
    out_of_order = committed_from(nb)
    out_of_order.cells[1].execution_count = 7
    assert run_notebook.committed_problems(out_of_order, nb) == ["code cell 2 has execution count 7, not 2"]


def test_every_committed_notebook_is_stamped():
    folder = os.path.join(os.path.dirname(__file__), "..", "..", "notebooks")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".ipynb"):
            nb = nbformat.read(os.path.join(folder, name), as_version=4)
            assert nb.metadata.get("plural", {}).get("cells_sha256") == run_notebook.cells_hash(nb), name
