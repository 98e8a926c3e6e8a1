#!/usr/bin/python3
"""Execute notebooks headless with the `transfusion` kernel and export them.

Usage: /usr/bin/python3 scripts/run-notebooks.py [notebook.ipynb ...]   (default: every notebooks/*.ipynb)

Writes out/<name>.ipynb (executed, with outputs) and out/<name>.html (nbconvert's HTML export).
A cell error stops that notebook, names the notebook and the cell, and makes the run exit 1.
Notebooks read TRANSFUSION_SIZE (`ci` in CI, `full` otherwise) to pick their problem size.

Uses nbclient/nbconvert (Jupyter's own executor and exporter) rather than driving the kernel by hand.
"""
import os
import sys
import time
from pathlib import Path

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from nbconvert import HTMLExporter
except ImportError as e:  # the one sentence a user without Jupyter sees
    sys.stderr.write(
        f"Jupyter's Python packages are missing ({e.name}): install them with "
        "`sudo apt-get install jupyter-client python3-nbclient python3-nbconvert` "
        "(or `pip install nbclient nbconvert`).\n"
    )
    sys.exit(2)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out"
KERNEL = os.environ.get("TRANSFUSION_KERNEL", "transfusion")
CELL_TIMEOUT = int(os.environ.get("TRANSFUSION_CELL_TIMEOUT", "1200"))


def failing_cell(nb, err):
    """Index and first source line of the cell that raised, found from the outputs nbclient recorded."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                first = next((l for l in cell.source.splitlines() if l.strip()), "")
                return i, first
    return None, ""


def run(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.time()
    ok = True
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        ok = False
        index, first = failing_cell(nb, err)
        where = f"cell {index}" if index is not None else "a cell"
        kind = type(err).__name__
        detail = str(err).strip().splitlines()
        summary = next((l for l in reversed(detail) if l.strip()), kind)
        sys.stderr.write(f"FAILED {path.name}, {where} ({first!r}): {kind}: {summary}\n")
    OUT.mkdir(exist_ok=True)
    nbformat.write(nb, OUT / path.name)
    html, _ = HTMLExporter().from_notebook_node(nb)
    (OUT / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    status = "ok" if ok else "FAILED"
    print(f"{status} {path.name} in {time.time() - start:.1f}s -> out/{path.name}, out/{path.stem}.html", flush=True)
    return ok


def main(argv):
    paths = [Path(a).resolve() for a in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not paths:
        sys.stderr.write("no notebooks found under notebooks/\n")
        return 1
    results = [run(p) for p in paths]
    print(f"notebooks: {sum(results)} passed, {len(results) - sum(results)} failed", flush=True)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
