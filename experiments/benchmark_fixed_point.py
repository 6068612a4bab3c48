r"""Benchmarks implicit (`fixed_point`) against explicit (`unroll`) differentiation.

`jax.value_and_grad` of a scalar loss through ``K`` steps of a VIN-like Bellman
map (max over ``channels`` of a 3×3 convolution of ``[reward, v]``) on a
``grid × grid`` map, vmapped over a batch, in float32:

  * implicit: ``fixed_point`` with ``ForwardIteration(max_iter=K, tol=0)``
    forward and ``Anderson(max_iter=15)`` backward;
  * explicit: ``unroll(num_iters=K)``.

For each it reports the median wall time over ``--repeats`` runs after a
warm-up call, and XLA's compiled temporary memory. It also counts the
iterations Anderson and forward iteration need on a linear problem of spectral
radius 0.95 (float64, to 1e-8) and on the VIN-like map (float32, to 1e-5).

  python -m experiments.benchmark_fixed_point [--out_dir=results/benchmarks]

The full preset takes a few minutes on one CPU core (``taskset -c 0``).
"""

from __future__ import annotations

import json
import os

from absl import app, flags

from experiments import huge_pages
from experiments.benchmarks.fixed_point import format_tables, run_benchmark

_OUT_DIR = flags.DEFINE_string("out_dir", "results/benchmarks", "Where to write fixed_point.json.")
_GRID = flags.DEFINE_integer("grid", 49, "Side of the square map.")
_BATCH = flags.DEFINE_integer("batch", 32, "Maps per batch (vmapped).")
_CHANNELS = flags.DEFINE_integer("channels", 10, "Q channels l_q the map maximises over.")
_KS = flags.DEFINE_list("ks", ["30", "80", "200"], "Iteration counts K.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed runs per configuration (after one warm-up).")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed of the problem data.")


def main(argv: list[str]) -> None:
  del argv
  huge_pages.reexec_with_huge_pages()
  ks = [int(k) for k in _KS.value]
  result = run_benchmark(_GRID.value, _BATCH.value, _CHANNELS.value, ks, _REPEATS.value, _SEED.value)
  print(format_tables(result["timing"], result["iterations"]))
  os.makedirs(_OUT_DIR.value, exist_ok=True)
  path = os.path.join(_OUT_DIR.value, "fixed_point.json")
  with open(path, "w") as f:
    json.dump(result, f, indent=2)
  print(f"Wrote {path}")


if __name__ == "__main__":
  app.run(main)
