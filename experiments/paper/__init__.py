"""The paper's figures and Table 1 as sweeps (``python -m experiments.sweep --sweep=fig2 --scale=cpu``):
one module per figure declares its runs at a scale (`scales`) and draws the figure from their results.

Figures 6 and 10 measure time and memory, not training: they are the benchmark's ``scaling`` and
``fixed_point`` suites (``python -m experiments.benchmark``).
"""

from experiments.paper import fig2, fig4, fig7, fig9, fig11, fig14, table1
from experiments.paper.figure import Figure
from experiments.paper.scales import SCALES, Scale, get_scale

FIGURES: dict[str, Figure] = {m.FIGURE.name: m.FIGURE for m in (fig2, fig4, fig7, fig9, fig11, fig14, table1)}

__all__ = ["FIGURES", "SCALES", "Figure", "Scale", "get_scale"]
