"""The example notebook runs from top to bottom (its code cells in order, in one namespace)."""

import json
import pathlib

import matplotlib

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "examples" / "tour.ipynb"


def test_the_tour_notebook_runs(capsys):
  matplotlib.use("Agg")
  cells = json.loads(NOTEBOOK.read_text())["cells"]
  namespace: dict = {}
  for index, cell in enumerate(cells):
    if cell["cell_type"] == "code":
      exec(compile("".join(cell["source"]), f"{NOTEBOOK.name} cell {index}", "exec"), namespace)
  printed = capsys.readouterr().out
  assert "relative difference" in printed and "as trained: forward residual" in printed
  for name in ("d/d rewards", "d/d gamma"):  # the chain's implicit and unrolled gradients agree
    line = next(line for line in printed.splitlines() if line.startswith(name))
    assert float(line.rsplit(" ", 1)[1]) < 1e-4, line
  assert namespace["report"]["relative_error"] < 1e-6  # the last report: converged solves
  budgets = [line for line in printed.splitlines() if line.startswith("K_fwd = ")][1:]  # the test-time loop
  success = [float(line.rsplit(" ", 1)[1]) for line in budgets]
  assert len(success) == 3 and success == sorted(success)  # more planning steps never lose cells
