"""The paper's figures and Table 1 as sweeps (``python -m experiments.sweep --sweep=fig2 --scale=cpu``):
one module per figure declares its runs at a scale (`scales`) and draws the figure from their results.
Figures 6 and 10 measure time and memory instead of training (`MEASUREMENTS`: a ``measure(scale,
out_dir)`` function each, on the benchmarks' problems).
"""

from experiments.paper import fig2, fig4, fig6, fig7, fig9, fig10, fig11, fig14, table1
from experiments.paper.figure import Figure
from experiments.paper.scales import SCALES, Scale, get_scale

FIGURES: dict[str, Figure] = {m.FIGURE.name: m.FIGURE for m in (fig2, fig4, fig7, fig9, fig11, fig14, table1)}
MEASUREMENTS = {m.NAME: m for m in (fig6, fig10)}
"""Figures that are measured, not trained: their modules (``NAME``, ``CLAIM``, ``measure``)."""

__all__ = ["FIGURES", "MEASUREMENTS", "SCALES", "Figure", "Scale", "get_scale"]
