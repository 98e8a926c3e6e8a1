#!/usr/bin/python3
"""Execute notebooks headless with the `transfusion` kernel and export them.

Usage: /usr/bin/python3 scripts/run-notebooks.py [--out DIR] [--cwd DIR] [--json FILE] [notebook.ipynb ...]
(default: every notebooks/*.ipynb, into out/, each run in its own folder)

Writes DIR/<name>.ipynb (executed, with outputs) and DIR/<name>.html (nbconvert's HTML export), and prints per
notebook its wall time and the CPU time of its kernel (the kernel process and what it waited for, user + system,
read with getrusage(RUSAGE_CHILDREN) once the kernel has exited): the cost of the notebook, not of this script.
`--cwd DIR` runs every notebook in DIR instead of its own folder, so the runs it records go under DIR/runs/.
`--json FILE` also writes those numbers as a JSON list (scripts/results.ts reads it).
A cell error stops that notebook, names the notebook and the cell, and makes the run exit 1.
Notebooks read TRANSFUSION_SIZE (`ci` in CI, `full` otherwise) to pick their problem size.
TRANSFUSION_CELL_TIMEOUT limits each cell (seconds, default 1200; 0 for no limit, as a full-size sweep needs).

Uses nbclient/nbconvert (Jupyter's own executor and exporter) rather than driving the kernel by hand.
"""
import argparse
import json
import os
import resource
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


def children_cpu() -> float:
    """User + system CPU seconds of this process's exited and waited-for children (the kernels run so far)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(path: Path, out: Path, cwd: Path | None) -> dict:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(cwd or path.parent)}},
    )
    start = time.time()
    cpu_before = children_cpu()
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
    # execute() has shut the kernel down and waited for it by now, so its CPU time is in RUSAGE_CHILDREN.
    wall, cpu = time.time() - start, children_cpu() - cpu_before
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / path.name)
    html, _ = HTMLExporter().from_notebook_node(nb)
    (out / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    status = "ok" if ok else "FAILED"
    print(f"{status} {path.name} in {wall:.1f}s, kernel CPU {cpu:.1f}s -> {out / path.name}, {out / path.stem}.html", flush=True)
    return {"notebook": path.name, "ok": ok, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def main(argv):
    parser = argparse.ArgumentParser(description="Execute notebooks headless with the transfusion kernel and export them.")
    parser.add_argument("--out", type=Path, default=ROOT / "out", help="folder of the executed notebooks and HTML exports (default out/)")
    parser.add_argument("--cwd", type=Path, default=None, help="folder every notebook runs in (default: its own folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write each notebook's status, wall and kernel CPU seconds here")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not paths:
        sys.stderr.write("no notebooks found under notebooks/\n")
        return 1
    cwd = args.cwd.resolve() if args.cwd else None
    if cwd:
        cwd.mkdir(parents=True, exist_ok=True)
    results = [run(p, args.out.resolve(), cwd) for p in paths]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    passed = sum(r["ok"] for r in results)
    print(f"notebooks: {passed} passed, {len(results) - passed} failed", flush=True)
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
