"""Does the 96x96 workspace image hold a 99 % configuration space? A reading that infers convex
obstacles' edges: each 8-connected obstacle blob whose pixels fill at least `solidity` of their
convex hull is read as that hull (of the pixel centres, dilated by `delta` pixels); the other blobs
(overlapping obstacles) by the pixel reading (`configuration_space_from_image`).

Usage (repository root): PYTHONPATH=. python records/.../hull_reading.py <problems> <delta> <solidity>...
"""

import numpy as np, scipy.ndimage as ndi, scipy.spatial as sp, sys
from data_gen import manipulation as m

d = np.load("data/manip_workspace_18x18_n10000-2000-2000_seed0.npz")
N = int(sys.argv[1])
images, truth = d["test/workspace"][:N], d["test/maps"][:N]
P = m.ArmParams()
size, ext = P.image_size, P.extent
p = 2 * ext / size
oct_ = np.stack([np.cos(np.arange(16) * np.pi / 8), np.sin(np.arange(16) * np.pi / 8)], -1)


def split(img, delta, solid_min):
  lab, n = ndi.label(img, structure=np.ones((3, 3)))
  polys, rest = [], np.zeros_like(img)
  for k in range(1, n + 1):
    mask = lab == k
    r, c = np.nonzero(mask)
    pts = np.stack([-ext + (c + 0.5) * p, ext - (r + 0.5) * p], -1)
    ok = False
    if len(pts) >= 3:
      try:
        hd = sp.ConvexHull((pts[:, None, :] + 0.5 * p * oct_[None]).reshape(-1, 2))
        solidity = len(pts) * p * p / hd.volume
        ok = solidity >= solid_min
      except Exception:
        ok = False
    if ok:
      q = (pts[:, None, :] + delta * p * oct_[None]).reshape(-1, 2)
      h = sp.ConvexHull(q)
      polys.append(q[h.vertices])
    else:
      rest |= mask.astype(img.dtype)
  return polys, rest


for solid_min in [float(x) for x in sys.argv[3:]]:
  delta = float(sys.argv[2])
  out = [split(im, delta, solid_min) for im in images]
  allp = [o[0] for o in out]
  rest = np.stack([o[1] for o in out])
  O = max(1, max(len(x) for x in allp))
  V = max(3, max((len(v) for x in allp for v in x), default=3))
  verts = np.zeros((N, O, V, 2))
  present = np.zeros((N, O), bool)
  for i, x in enumerate(allp):
    for j, v in enumerate(x):
      verts[i, j, : len(v)] = v
      verts[i, j, len(v) :] = v[-1]
      present[i, j] = True
  pred = np.minimum(
    m.configuration_space(m.Obstacles(verts, present), 18, P), m.configuration_space_from_image(rest, 18, P)
  )
  print(
    f"delta {delta} solidity>={solid_min}: {100 * (pred == truth).mean():.2f}  hull share {present.sum() / max(1, present.sum() + sum(ndi.label(r, structure=np.ones((3, 3)))[1] for r in rest)):.2f}",
    flush=True,
  )
