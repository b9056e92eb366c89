"""vaekit: probabilistic PCA, autoencoders and variational autoencoders.

A C++ core (Eigen + OpenMP) under scikit-learn-style estimators.
"""

from ._cmake import get_cmake_dir
from ._config import show_config
from ._io import load
from ._native import core as _core_module
from .autoencoder import Autoencoder
from .impute import Imputer
from .ppca import PPCA
from .vae import VAE, PosteriorCollapseWarning

__version__ = _core_module.__version__

__all__ = ["PPCA", "Autoencoder", "VAE", "Imputer", "PosteriorCollapseWarning", "load", "get_cmake_dir", "show_config",
           "__version__"]
