"""vaekit: probabilistic PCA, autoencoders and variational autoencoders.

A C++ core (Eigen + OpenMP) under scikit-learn-style estimators.
"""

from ._native import core as _core_module
from .ppca import PPCA

__version__ = _core_module.__version__

__all__ = ["PPCA", "__version__"]
