"""The paper's "particle swarm" layout (section 3.2.4 and 3.2.5).

Despite its name, the authors' PSO is a deterministic force-directed n-body
simulation: no velocities, no personal or global bests. Every step, each
neuron moves by the mean over all others of ``(p_j - p_i) * F_ij`` where ``F``
mixes a *global* force, fixed by the neurons' NAP similarity (Eq. 1), and a
*local* force that depends only on the current positions (Eq. 2). The local
weight follows a tanh schedule (Eq. 3), so early steps cluster similar neurons
and late steps spread the swarm evenly. Constants and schedule follow
``shared/REFERENCE.md`` (the paper's ``dist / max(dist)^3`` is a typo for
``(dist / max dist)^3``).

The pairwise loop is compiled with numba and runs row-parallel in float64 with
O(N) extra memory (the reference keeps several N x N float64 arrays alive).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._base import LayoutProblem

#: Eq. 1 constants: attraction a, repulsion b, repulsion length c.
GLOBAL_A, GLOBAL_B, GLOBAL_C = 1.5, 0.5, 2.0
#: Eq. 2 constants.
LOCAL_A, LOCAL_B, LOCAL_C = 1.5, 15.0, 2.0
#: Particles closer than this are treated as this far apart (keeps Eq. 2 finite).
MIN_DISTANCE = 0.01


def weight_schedule(n_steps: int) -> np.ndarray:
    """Local-force weight ``w_l`` per step (Eq. 3); the global weight is ``1 - w_l``.

    Returns
    -------
    ndarray of shape (n_steps,)
        ``(tanh(s) + 1) / 2`` with ``s`` from -3 to 6, crossing 0.5 near a third of the run.
    """
    return (np.tanh(np.linspace(-3.0, 6.0, n_steps)) + 1.0) / 2.0


def global_force(distances: np.ndarray) -> np.ndarray:
    """Eq. 1: attraction of similar neurons minus repulsion, from the distance matrix.

    Parameters
    ----------
    distances : ndarray of shape (n_neurons, n_neurons)

    Returns
    -------
    ndarray of shape (n_neurons, n_neurons)
    """
    dmax = distances.max()
    rel = distances / dmax if dmax > 0 else distances
    return GLOBAL_A * (1.0 - rel**3) - GLOBAL_B * np.exp(-distances / GLOBAL_C)


@numba.njit(parallel=True, fastmath=False, cache=True)
def _step(pos, out, glob, w_l, w_g, use_global):  # pragma: no cover - compiled
    n = pos.shape[0]
    for i in numba.prange(n):
        xi = pos[i, 0]
        yi = pos[i, 1]
        sx = 0.0
        sy = 0.0
        for j in range(n):
            dx = pos[j, 0] - xi
            dy = pos[j, 1] - yi
            d = math.sqrt(dx * dx + dy * dy)
            if d < MIN_DISTANCE:
                d = MIN_DISTANCE
            dp1 = d + 1.0
            f = w_l * (LOCAL_A / (dp1 * dp1 * dp1) - LOCAL_B * math.exp(-d / LOCAL_C))
            if use_global:
                f += w_g * glob[i, j]
            f *= 0.5
            sx += dx * f
            sy += dy * f
        out[i, 0] = xi + sx / n
        out[i, 1] = yi + sy / n


def run_pso(
    problem: LayoutProblem,
    init: np.ndarray,
    *,
    use_global: bool,
    n_steps: int = 1000,
    report_every: int = 10,
) -> np.ndarray:
    """Run the force simulation from ``init``.

    Parameters
    ----------
    problem : LayoutProblem
    init : ndarray of shape (n_neurons, 2)
        Start positions (uniform random for plain PSO, another layout scaled to
        [0, 1] for the hybrids).
    use_global : bool
        False for the hybrids of paper 3.2.5, which use the local force only
        (``w_g = 0``) and so merely spread an already similarity-ordered layout.
    n_steps : int
        Number of steps T of the schedule.

    Returns
    -------
    ndarray of shape (n_neurons, 2)
        Unscaled positions (the swarm keeps expanding; callers scale to [0, 1]).
    """
    pos = np.ascontiguousarray(init, dtype=np.float64).copy()
    out = np.empty_like(pos)
    if use_global:
        glob = np.ascontiguousarray(global_force(problem.distances))
    else:
        glob = np.zeros((1, 1))
    w_local = weight_schedule(n_steps)
    for t in range(n_steps):
        w_l = float(w_local[t])
        w_g = 1.0 - w_l if use_global else 0.0
        _step(pos, out, glob, w_l, w_g, use_global)
        pos, out = out, pos
        if (t + 1) % report_every == 0 or t + 1 == n_steps:
            problem.report("PSO", t + 1, n_steps)
    return pos
