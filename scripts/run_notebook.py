#!/usr/bin/env python3
"""Executes a notebook top to bottom and writes the executed copy; checks the outputs committed with the notebook.

usage: run_notebook.py NOTEBOOK.ipynb --out EXECUTED.ipynb [--timeout 600] [--pythonpath DIR] [--update]

Fails (exit status 1) when a cell raises — printing that cell's source and its error — or when no output of the
notebook is an image/png (every tutorial notebook draws at least one plot). Prints the wall time.

Notebooks are committed with their outputs, so that the repository page shows the plots. Without --update the source
notebook is never modified, and the run also fails when its committed outputs are not those of a run of its current
cells: every code cell run once, in order, without an error, stamped with the hash of the cells that ran, and a plot
wherever this run draws one. --update (`make notebooks`) writes the stamped, executed notebook over the source.
The kernel is `python3` (Debian's /usr/bin/python3 with python3-torch); plural must be importable in it: put
build/python on PYTHONPATH, or pass --pythonpath build/python.
"""
import argparse
import copy
import hashlib
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from atomic_write import atomic_path


def cell_has_png(cell) -> bool:
    return any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))


def has_png(nb) -> bool:
    return any(cell_has_png(cell) for cell in nb.cells)


def failing_cell(nb):
    """(index, cell, error output) of the first cell whose outputs hold an error, else None."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return i, cell, out
    return None


def cells_hash(nb) -> str:
    """What the outputs depend on in the notebook itself: its code cells' sources, in order."""
    code = "\x00".join(c.source for c in nb.cells if c.cell_type == "code")
    return hashlib.sha256(code.encode()).hexdigest()


def committed_problems(committed, executed) -> list:
    """Why the committed outputs are not from a run of the current cells ([] when they are)."""
    stamp = committed.metadata.get("plural", {}).get("cells_sha256")
    if stamp != cells_hash(committed):
        return ["its code cells changed since its outputs were committed" if stamp else "it has no committed outputs"]
    problems = []
    code = [c for c in committed.cells if c.cell_type == "code"]
    ran = [c for c in executed.cells if c.cell_type == "code"]
    for i, (c, e) in enumerate(zip(code, ran)):
        if c.get("execution_count") != i + 1:
            problems.append(f"code cell {i + 1} has execution count {c.get('execution_count')}, not {i + 1}")
        if any(o.get("output_type") == "error" for o in c.get("outputs", [])):
            problems.append(f"code cell {i + 1} has a committed error")
        if cell_has_png(e) and not cell_has_png(c):
            problems.append(f"code cell {i + 1} draws a plot that its committed outputs lack")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook")
    ap.add_argument("--out", required=True, help="where to write the executed copy")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    ap.add_argument("--pythonpath", action="append", default=[],
                    help="prepend this folder to PYTHONPATH for the kernel (repeatable)")
    ap.add_argument("--kernel", default="python3", help="kernel name (default python3)")
    ap.add_argument("--update", action="store_true",
                    help="write the executed notebook, stamped, over the source (its committed outputs)")
    args = ap.parse_args()

    src = os.path.abspath(args.notebook)
    out = os.path.abspath(args.out)
    if out == src:
        sys.exit("run_notebook: --out must differ from the notebook (the source is never modified)")
    if not os.path.isfile(src):
        sys.exit(f"run_notebook: no such notebook: {src}")

    # The kernel inherits this process's environment.
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    if args.pythonpath:
        parts = [os.path.abspath(p) for p in args.pythonpath]
        if os.environ.get("PYTHONPATH"):
            parts.append(os.environ["PYTHONPATH"])
        os.environ["PYTHONPATH"] = os.pathsep.join(parts)

    nb = nbformat.read(src, as_version=4)
    committed = copy.deepcopy(nb)
    for cell in nb.cells:  # run from a clean slate: no output of the committed run may leak into this one
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(nb, timeout=args.timeout, kernel_name=args.kernel,
                            resources={"metadata": {"path": os.path.dirname(src)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
        error = e
    wall = time.perf_counter() - start

    if os.path.dirname(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
    with atomic_path(out) as tmp:
        nbformat.write(nb, tmp)

    name = os.path.basename(src)
    if error is not None:
        found = failing_cell(nb)
        if found is not None:
            i, cell, err = found
            print(f"run_notebook: {name}: cell {i} failed after {wall:.1f} s:\n"
                  f"----- cell {i} -----\n{cell.source}\n-----\n{err.get('ename')}: {err.get('evalue')}",
                  file=sys.stderr)
        else:
            print(f"run_notebook: {name}: failed after {wall:.1f} s: {type(error).__name__}: {error}",
                  file=sys.stderr)
        print(f"run_notebook: executed copy (up to the failure) written to {out}", file=sys.stderr)
        return 1
    if not has_png(nb):
        print(f"run_notebook: {name}: ran in {wall:.1f} s but no output is an image/png (no plot)", file=sys.stderr)
        return 1
    if args.update:
        nb.metadata["plural"] = {"cells_sha256": cells_hash(nb)}
        with atomic_path(src) as tmp:
            nbformat.write(nb, tmp)
        print(f"run_notebook: {name}: ok in {wall:.1f} s wall; its outputs written to {src}")
        return 0
    problems = committed_problems(committed, nb)
    if problems:
        print(f"run_notebook: {name}: ran in {wall:.1f} s, but its committed outputs are not from a run of its current "
              f"cells: {'; '.join(problems)}. Refresh them with `make notebooks`.", file=sys.stderr)
        return 1
    print(f"run_notebook: {name}: ok in {wall:.1f} s wall -> {out} (committed outputs match its cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
