"""The two scales of the paper's sweeps: ``paper`` (its settings, for a GPU) and ``cpu`` (stated
reductions that keep every trend measurable on two CPU cores in hours)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import implicit_planning as ip
from experiments.studies.options import SMALL_CONV_GPPN, SMALL_SYMVIN
from experiments.training.config import ConfigError

_SMALL_WIDTHS = {"symvin": SMALL_SYMVIN, "conv_gppn": SMALL_CONV_GPPN, "gppn": SMALL_CONV_GPPN}
"""The family_twins sizes: SymVIN at 20 regular Q fields (the paper: 100), the ConvGRU/ConvLSTM
families at 32 hidden channels (the paper: 150)."""


@dataclasses.dataclass(frozen=True)
class Scale:
  """How big every run of a figure's sweep is.

  Attributes:
    name: ``cpu`` or ``paper``.
    preset: the training preset of the 2D-navigation runs (`experiments.training.presets`).
    common: training flags every run gets (the user's ``--set`` and ``--seeds`` win).
    sizes: maze sides of the figures that scale the map.
    test_sizes: maze sides the generalisation figure (9) tests on, with ``test_maps`` maps each.
    test_maps: maps per tested size.
    family_widths: per planner family, the width flags (none: the paper's widths).
    size_flags: per maze side, flags that shrink its runs (fewer maps or epochs).
    note: the reductions, said once for the figure's caption and the README.
  """

  name: str
  preset: str
  common: Mapping[str, Any]
  sizes: tuple[int, ...]
  test_sizes: tuple[int, ...]
  test_maps: int
  family_widths: Mapping[str, Mapping[str, Any]]
  note: str
  size_flags: Mapping[int, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

  def planner_flags(self, planner: str) -> dict[str, Any]:
    """``planner`` and the width flags of its family at this scale."""
    return {"planner": planner, **self.family_widths.get(ip.planner_spec(planner).family_name, {})}

  def size_defaults(self, size: int) -> dict[str, Any]:
    """The flags that shrink runs on mazes of side ``size`` at this scale (a run's `Run.defaults`:
    the user's ``--set`` overrides them)."""
    return dict(self.size_flags.get(size, {}))


SCALES: dict[str, Scale] = {
  "paper": Scale(
    name="paper",
    preset="paper",
    common={"seeds": 5},
    sizes=(15, 27, 49),
    test_sizes=(15, 27, 43, 59, 79, 99),
    test_maps=1000,
    family_widths={},
    note="the paper's: 10k/2k/2k maps, 60 epochs, 5 seeds, the paper's widths; 15, 27 and 49 wide",
  ),
  "cpu": Scale(
    name="cpu",
    preset="quick",
    common={"seeds": 3},
    sizes=(15, 27),
    test_sizes=(15, 27, 49),
    test_maps=200,
    family_widths=_SMALL_WIDTHS,
    note="2000/500/500 maps, 20 epochs, 3 seeds; 27×27 on 1000/250/250 maps for 10 epochs, no 49×49; "
    "SymVIN 20 Q fields, ConvGPPN and GPPN 32 hidden channels; generalisation on 200 maps per size up to 49",
    size_flags={27: {"num_train": 1000, "num_val": 250, "num_test": 250, "epochs": 10}},
  ),
}


def get_scale(name: str) -> Scale:
  """The named scale; `ConfigError` lists the known ones."""
  if name not in SCALES:
    raise ConfigError(f"unknown scale {name!r}; known scales: {', '.join(SCALES)}")
  return SCALES[name]
