"""Which feature of the obstacles decides the cells the pixel reading gets wrong: a corner or an edge?

For 300 workspaces drawn as the training split's (seed 123, as `errors_by_clearance.py`), every
configuration whose arm passes within a pixel of an obstacle (or reaches less than a pixel deep
into one: the signed clearance of `errors_by_clearance.py`) is classed by how it meets its nearest obstacle:

- free, *corner*: the closest pair of points is a polygon vertex and a point inside a link;
- free, *arm end*: the closest pair is the elbow or the tip and a point inside an edge
  (or a vertex, counted here);
- blocked, *corner cut*: a link enters and leaves the polygon (it cuts off a corner: a shallow
  crossing of a convex polygon goes through two adjacent edges);
- blocked, *arm end inside*: the elbow or the tip is inside the polygon.

and the table counts them and the pixel reading's wrong ones (`manipulation.configuration_space_from_image`).

Usage (repository root): PYTHONPATH=. python records/.../workspace_distance_field/contacts.py
"""

import os
import sys

import numpy as np

from data_gen import manipulation as m

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "workspace_field_supervision"))
from errors_by_clearance import clearance, cross, segment_foot  # noqa: E402

BINS, NUM, SEED = 18, 300, 123


def classify(start: np.ndarray, end: np.ndarray, polygon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """For links ``[C, 2]`` and a convex polygon ``[V, 2]``: the gap (0 if they meet), whether the
  closest feature is a corner (free) or the link crosses through (blocked), and whether it meets."""
  following = np.roll(polygon, -1, 0)
  corner_gap, t = segment_foot(start, end, polygon[:, None])  # [V, C]: each vertex to each link
  corner_gap = np.where((t > 0) & (t < 1), corner_gap, np.inf).min(0)
  end_gap = np.min([segment_foot(polygon[:, None], following[:, None], p[None])[0].min(0) for p in (start, end)], 0)
  meets = m.segments_hit_polygons(start, end, polygon[None])[0]
  inside = lambda p: np.all(cross(following - polygon, p[:, None] - polygon) >= 0, -1)  # noqa: E731
  crossing = meets & ~inside(start) & ~inside(end)
  return np.where(meets, 0.0, np.minimum(corner_gap, end_gap)), np.where(meets, crossing, corner_gap < end_gap), meets


def main() -> None:
  params = m.ArmParams()
  pixel = 2 * params.extent / params.image_size
  obstacles = m.random_obstacles(np.random.default_rng(SEED), NUM, params)
  blocked = m.configuration_space(obstacles, BINS, params) == 0
  wrong = (m.configuration_space_from_image(m.rasterize(obstacles, params), BINS, params) == 0) != blocked
  depth_or_gap = clearance(obstacles, params) / pixel  # signed, pixels: below 0 inside
  theta = m.bin_angles(BINS)
  elbow, tip = (a.reshape(-1, 2) for a in m.arm_points(theta[:, None], theta[None, :], params.link_lengths))
  counts = {}
  for n, (vertices, present) in enumerate(zip(obstacles.vertices, obstacles.present)):
    gap, corner = np.full(BINS * BINS, np.inf), np.zeros(BINS * BINS, bool)
    for polygon in vertices[present]:
      for start, end in ((np.zeros_like(elbow), elbow), (elbow, tip)):
        link_gap, link_corner, _ = classify(start, end, polygon)
        closer = link_gap < gap
        gap, corner = np.where(closer, link_gap, gap), np.where(closer, link_corner, corner)
    near = np.abs(depth_or_gap[n].reshape(-1)) < 1
    for cell in np.flatnonzero(near):
      state = "blocked" if blocked[n].reshape(-1)[cell] else "free"
      kind = {"free": ("arm end", "corner"), "blocked": ("arm end inside", "corner cut")}[state][int(corner[cell])]
      total, missed = counts.get((state, kind), (0, 0))
      counts[(state, kind)] = total + 1, missed + int(wrong[n].reshape(-1)[cell])
  print(
    f"{NUM} workspaces; cells whose arm passes within a pixel of an obstacle or reaches less than a pixel into one; the pixel reading wrong"
  )
  print("| cell | nearest feature | cells | pixel reading wrong |\n|---|---|---|---|")
  for (state, kind), (total, missed) in sorted(counts.items()):
    print(f"| {state} | {kind} | {total} | {missed} ({100 * missed / total:.1f} %) |")
  print(f"wrong in all: {int(wrong.sum())} of {wrong.size}")


if __name__ == "__main__":
  main()
