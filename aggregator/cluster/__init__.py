"""Clustering stage: articles → copies (near-duplicate text) → stories (same event).

Public API (the rest of the system codes against these names only):
``ClusterParams``, ``Features``, ``featurize``, ``Decision``, ``Clusterer``.
See ``clusterer.py`` for the decision procedure and ``params.py`` for the tunables.
"""

from .clusterer import Clusterer, Decision
from .features import Features, featurize
from .params import ClusterParams
from .roles import COPY, REPORT, WIRE

__all__ = ["COPY", "REPORT", "WIRE", "ClusterParams", "Clusterer", "Decision", "Features", "featurize"]
