"""The optimizer: which rep gets which unit.

Modules, in the order data flows (each imports only those before it):

* :mod:`.problem` -- the question and the answer as plain data (:class:`AssignProblem`,
  :class:`Band`, :class:`BandRules`, :class:`Disruption`, :class:`AssignResult`) and
  model-independent checks;
* :mod:`.formulation` -- the model, written once as arrays (candidate pairs, columns,
  ranged rows);
* :mod:`.backends` -- :class:`Solver`, and the formulation solved through PuLP or highspy;
* :mod:`.lp` -- :func:`lp_relaxation`, priced over every pair;
* :mod:`.repair`, :mod:`.contiguity` -- whole-plan arithmetic and repair for the search;
* :mod:`.lns` -- the large-instance engine; :mod:`.explain` -- why no plan exists;
* :mod:`.seed` -- k-means / LP centres and root units;
* :mod:`.solve` -- :func:`solve`, the public door.
"""

from .backends import Progress, Solver
from .explain import Infeasibility, explain_infeasible
from .lp import LPRelaxation, lp_relaxation
from .problem import (AssignProblem, AssignResult, Balancing, Band, BandRules, Disruption, RepCounts,
                      RepTargets, check_plan, feasible_rep_counts, inertia_cost, rep_targets)
from .solve import solve

__all__ = [
    "AssignProblem", "AssignResult", "Balancing", "Band", "BandRules", "Disruption", "Infeasibility",
    "LPRelaxation", "Progress", "RepCounts", "RepTargets", "Solver", "check_plan",
    "explain_infeasible", "feasible_rep_counts", "inertia_cost", "lp_relaxation", "rep_targets",
    "solve",
]
