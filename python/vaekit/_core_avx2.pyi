from ._core import *  # noqa: F403  (the same API, compiled for AVX2)
from ._core import __version__ as __version__, variant as variant
