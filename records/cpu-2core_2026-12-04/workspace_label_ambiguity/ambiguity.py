"""How much of the 18x18 configuration space does the 96x96 workspace image decide?

Obstacles are drawn as the dataset draws them (`manipulation.random_obstacles`; at least one per
workspace, as in the datasets' test splits), each a convex
polygon with vertices on a circle: parameters centre, radius and the vertices' angles. For each
polygon a random-walk Metropolis chain samples these parameters uniformly over the set whose own
raster equals the original polygon's raster (the dataset's prior is flat at the pixel scale), started
at the truth and moving one parameter at a time. Every kept sample of a workspace's polygons gives a configuration space consistent
with the image; over the samples, p(cell free) estimates the posterior, and E[min(p, 1 - p)] the
error of the best possible reader of the image (Bayes). Requiring each polygon's own raster to stay
the same (not only the union's) and keeping the vertex count fixed make the set smaller than the
image allows, so the estimate errs towards the image deciding more than it does.

Usage (repository root): PYTHONPATH=. python records/.../ambiguity.py <workspaces> <step_pixels> <steps> <chains>
"""

import sys
import time

import numpy as np

from data_gen import manipulation as m

BINS, THIN, BURN = 18, 10, 50


def circle_parameters(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """Centre [P, 2], radius [P], angles [P, V] and vertex count [P] of polygons inscribed in circles."""
  a, b, c = vertices[:, 0], vertices[:, 1], vertices[:, 2]
  d = 2 * (a[:, 0] * (b[:, 1] - c[:, 1]) + b[:, 0] * (c[:, 1] - a[:, 1]) + c[:, 0] * (a[:, 1] - b[:, 1]))
  sq = lambda p: (p**2).sum(-1)
  ux = (sq(a) * (b[:, 1] - c[:, 1]) + sq(b) * (c[:, 1] - a[:, 1]) + sq(c) * (a[:, 1] - b[:, 1])) / d
  uy = (sq(a) * (c[:, 0] - b[:, 0]) + sq(b) * (a[:, 0] - c[:, 0]) + sq(c) * (b[:, 0] - a[:, 0])) / d
  centre = np.stack([ux, uy], -1)
  offset = vertices - centre[:, None]
  radius = np.linalg.norm(offset[:, 0], axis=-1)
  angles = np.mod(np.arctan2(offset[..., 1], offset[..., 0]), 2 * np.pi)
  count = 1 + (np.abs(np.diff(vertices, axis=1)).sum(-1) > 0).sum(-1)
  return centre, radius, angles, count


def polygon(centre, radius, angles, count) -> np.ndarray:
  """Vertices [P, V, 2] (counter-clockwise, the last repeated past `count`)."""
  v = angles.shape[1]
  keep = np.arange(v) < count[:, None]
  angles = np.sort(np.where(keep, angles, np.inf), axis=-1)
  angles = np.where(keep, angles, np.take_along_axis(angles, count[:, None] - 1, axis=-1))
  return centre[:, None] + radius[:, None, None] * np.stack([np.cos(angles), np.sin(angles)], -1)


def own_rasters(vertices: np.ndarray, params: m.ArmParams) -> np.ndarray:
  """Each polygon's raster alone, [P, S, S]."""
  return m.rasterize(m.Obstacles(vertices[:, None], np.ones((len(vertices), 1), bool)), params)


def main(num: int, step_pixels: float, steps: int, chains: int) -> None:
  params = m.ArmParams()
  pixel = 2 * params.extent / params.image_size
  rng = np.random.default_rng(2026_12_04)
  drawn = m.random_obstacles(rng, 2 * num, params)
  # as the datasets' validation and test splits: (map, goal) pairs are unique across splits, and the
  # train split takes the few obstacle-free ones, so test workspaces have at least one obstacle
  keep = np.flatnonzero(drawn.present.any(axis=1))[:num]
  obstacles = m.Obstacles(drawn.vertices[keep], drawn.present[keep])
  truth = m.configuration_space(obstacles, BINS, params)
  images = m.rasterize(obstacles, params)
  reading = m.configuration_space_from_image(images, BINS, params)
  owner, slot = np.nonzero(obstacles.present)
  centre, radius, angles, count = circle_parameters(obstacles.vertices[owner, slot])
  assert np.allclose(polygon(centre, radius, angles, count), obstacles.vertices[owner, slot], atol=1e-9)
  target = own_rasters(obstacles.vertices[owner, slot], params)
  # chains of every polygon side by side: [C * P]
  state = [np.tile(x, (chains,) + (1,) * (x.ndim - 1)) for x in (centre, radius, angles)]
  count_c, target_c = np.tile(count, chains), np.tile(target, (chains, 1, 1))
  samples, accepted, start = [], 0, time.time()
  for step in range(steps):
    c, r, a = state
    sigma = step_pixels * pixel
    # one parameter per polygon moves (component-wise Metropolis): x, y, radius or one vertex's angle
    which = (rng.random(len(r)) * (3 + count_c)).astype(int)
    noise = sigma * rng.standard_normal(len(r))
    proposal = (
      c + (which[:, None] == np.arange(2)) * noise[:, None],
      r + (which == 2) * noise,
      a + (which[:, None] == 3 + np.arange(a.shape[1])) * (noise / r)[:, None],
    )
    same = np.zeros(len(r), bool)
    for s in range(0, len(r), 4096):
      part = slice(s, s + 4096)
      verts = polygon(proposal[0][part], proposal[1][part], proposal[2][part], count_c[part])
      same[part] = (own_rasters(verts, params) == target_c[part]).all(axis=(1, 2))
    state = [np.where(same.reshape((-1,) + (1,) * (x.ndim - 1)), y, x) for x, y in zip(state, proposal)]
    accepted += same.mean()
    if step >= BURN and (step - BURN) % THIN == 0:
      samples.append(polygon(*state, count_c))
    if step % 20 == 0:
      print(f"step {step}/{steps}  acceptance {accepted / (step + 1):.2f}  {time.time() - start:.0f} s", flush=True)
  free = []
  for verts in samples:
    for chain in range(chains):
      v = obstacles.vertices.copy()
      v[owner, slot] = verts[chain * len(owner) : (chain + 1) * len(owner)]
      free.append(m.configuration_space(m.Obstacles(v, obstacles.present), BINS, params))
  p = np.mean(free, axis=0)  # [N, bins, bins] posterior probability of free
  bayes_error = np.minimum(p, 1 - p).mean()
  undecided = ((p > 0) & (p < 1)).mean()
  majority = (p >= 0.5) == truth.astype(bool)
  print(
    f"{num} workspaces, {len(free)} samples each (step {step_pixels} px, {steps} steps, {chains} chains, "
    f"acceptance {accepted / steps:.2f}):\n"
    f"  pixel reading: {100 * (reading == truth).mean():.2f} % of cells right\n"
    f"  cells the image leaves undecided (some samples free, some blocked): {100 * undecided:.2f} %\n"
    f"  best possible reader's expected accuracy, 1 - E[min(p, 1 - p)]: {100 * (1 - bayes_error):.2f} %\n"
    f"  the posterior majority's accuracy against the drawn truth: {100 * majority.mean():.2f} %\n"
    f"  pixel reading's misses on undecided cells: "
    f"{100 * ((reading != truth) & (p > 0) & (p < 1)).sum() / max(1, (reading != truth).sum()):.1f} %"
  )


if __name__ == "__main__":
  main(int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
