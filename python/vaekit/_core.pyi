"""Type stubs of vaekit's compiled core (python/src/*.cpp).

One module for every CPU of a platform: its hot kernels are compiled for
several instruction sets and chosen at first use (``active_isa``). These are
internal: use the estimators (``vaekit.PPCA``,
``vaekit.Autoencoder``, ``vaekit.VAE``), which validate their input.

Arrays: ``X`` and ``Z`` are C-contiguous arrays of the class's dtype, passed
without a copy (rows are samples); other array arguments are converted.
``n_threads <= 0`` means the default thread count; seeds are unsigned 64-bit.

The generic ``_PPCA``, ``_NeuralModel``, ``_VAE`` and ``_Autoencoder`` bases
exist only in this stub, to spell each API once for float32 and float64.
"""

import os
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

_F = TypeVar("_F", np.float32, np.float64)

HyperParameters = dict[str, bool | int | float | str | Sequence[int]]
"""{field name: value} of a configuration struct's fields() (cpp/include/vaekit/describe.hpp)."""

__version__: str

def openmp_enabled() -> bool:
    """Whether the core was compiled with OpenMP."""

def x86_64_level() -> int:
    """x86-64 level this CPU and OS support: 4 (AVX-512), 3 (AVX2/FMA) or 1 (baseline or not x86)."""

def active_isa() -> str:
    """The instruction set of the kernels in use: baseline, avx2 or avx512 (VAEKIT_ISA forces one)."""

def compiled_isas() -> list[str]:
    """The instruction sets this build holds kernels for, best first (whether or not this CPU runs them)."""

eigen_version: str
"""The Eigen version the core was compiled with."""
openmp_version: int
"""The _OPENMP date of the OpenMP specification compiled against (0 without OpenMP)."""
compiler: str
"""The compiler's id and version."""
build_flags: str
"""The C++ flags of the build (its build type's)."""
kernel_flags: str
"""The flags each instruction set's copy of the kernels adds, "isa: flags, ..."."""

def default_threads() -> int:
    """Threads used when n_threads is None."""

log_variance_range: tuple[float, float]
"""(min, max) that the VAE clamps every log-variance to."""

class InvalidArgument(ValueError):
    """An invalid argument at the C++ API boundary (vaekit::InvalidArgument)."""

class TrainingDiverged(ValueError):
    """A non-finite loss or gradient during training (vaekit::TrainingDiverged)."""

# ------------------------------------------------------------ sparse input
class _Csr(Generic[_F]):
    """A scipy.sparse CSR matrix as the core reads it (no copy): data of the class's dtype, 64-bit indices."""
    def __init__(self, data: NDArray[_F], indices: NDArray[np.int64], indptr: NDArray[np.int64], n_rows: int,
                 n_cols: int) -> None: ...

class CsrFloat32(_Csr[np.float32]): ...
class CsrFloat64(_Csr[np.float64]): ...

Moments = tuple[float, NDArray[np.float64], float, NDArray[np.generic] | None]
"""PPCAMoments: (count, mean, sum of squared deviations, D x D scatter (lower triangle) or None)."""

MissingStatistics = tuple[float, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                          NDArray[np.float64], NDArray[np.float64], float]
"""PPCAMissingStatistics: (rows, observed counts (D), sums of x (D), of x^2 (D), packed sums of <z z^T>
(d (d + 1) / 2 x D), sums of <z> (d x D), sums of x <z> (D x d), log-likelihood), each feature's sums over
the rows where it is observed."""

# ------------------------------------------------------------------ PPCA
class _PPCA(Generic[_F]):
    def __init__(self, components: ArrayLike, mean: ArrayLike, noise_variance: float) -> None: ...
    @property
    def components(self) -> NDArray[_F]: ...
    @property
    def mean(self) -> NDArray[_F]: ...
    @property
    def noise_variance(self) -> float: ...
    @property
    def explained_variance(self) -> NDArray[_F]: ...
    @property
    def n_iter(self) -> int: ...
    @property
    def log_likelihood_curve(self) -> list[float]: ...
    def m_inverse(self) -> NDArray[_F]: ...
    def transform(self, X: NDArray[_F] | _Csr[_F], n_threads: int = 0, allow_missing: bool = True) -> NDArray[_F]:
        """allow_missing: NaN entries (stored ones, for a CSR X) are missing values; else a NaN raises
        ValueError, as infinity does."""
    def encode(self, X: NDArray[_F] | _Csr[_F], n_threads: int = 0,
               allow_missing: bool = True) -> tuple[NDArray[_F], NDArray[_F]]:
        """(mean, std) of p(z|x) = N(M^-1 W^T (x - mu), sigma^2 M^-1); rows with NaN use their own M_n."""
    def inverse_transform(self, Z: NDArray[_F]) -> NDArray[_F]: ...
    def score_samples(self, X: NDArray[_F] | _Csr[_F], n_threads: int = 0,
                      allow_missing: bool = True) -> NDArray[_F]: ...
    def impute(self, X: NDArray[_F], sample: bool = False, seed: int = 0, n_threads: int = 0) -> NDArray[_F]:
        """X with each NaN filled from p(x_missing | x_observed): its mean, or a draw (sample) from the
        Philox stream of (seed, hash of the row's bytes); infinity raises ValueError."""
    def sample(self, n_samples: int, seed: int, n_threads: int = 0) -> NDArray[_F]: ...
    @staticmethod
    def fit_moments(moments: Moments, n_components: int, n_threads: int = 0) -> _PPCA[_F]:
        """The closed-form fit from moments with their scatter."""
    @staticmethod
    def fit_em(moments: Moments, scatter_product: Callable[[NDArray[_F]], ArrayLike],
               hyper_parameters: HyperParameters, seed: int, n_threads: int = 0,
               verbose: int = 0) -> tuple[_PPCA[_F], BaseException | None]:
        """EM with each E-step's data pass a callback: scatter_product(W) returns
        sum (x - mu)(x - mu)^T W over all samples (D x d); its exceptions propagate."""
    @staticmethod
    def fit_em_missing(statistics: Callable[[NDArray[_F], NDArray[_F], float], MissingStatistics],
                       hyper_parameters: HyperParameters, seed: int, n_threads: int = 0,
                       verbose: int = 0) -> tuple[_PPCA[_F], BaseException | None]:
        """EM on data with missing values: statistics(W, mean, noise_variance) returns the statistics of all
        the rows (first called with an empty W and mean: the counts and sums only); its exceptions propagate."""
    @staticmethod
    def missing_statistics(X: NDArray[_F] | _Csr[_F], W: ArrayLike, mean: ArrayLike, noise_variance: float,
                           n_threads: int = 0) -> MissingStatistics:
        """X's part of fit_em_missing's statistics (NaN entries missing; W empty: the counts and sums)."""
    @staticmethod
    def merge_missing_statistics(a: MissingStatistics, b: MissingStatistics) -> MissingStatistics:
        """The statistics of both sets of rows (sums)."""
    @staticmethod
    def moments(X: NDArray[_F] | _Csr[_F], with_scatter: bool = True, n_threads: int = 0) -> Moments:
        """X's PPCAMoments (a block's part of a fit on blocks)."""
    @staticmethod
    def merge_moments(a: Moments, b: Moments) -> Moments:
        """The moments of both sets of samples (Chan, Golub & LeVeque's pairwise update)."""
    @staticmethod
    def scatter_product(X: NDArray[_F] | _Csr[_F], mean: ArrayLike, W: ArrayLike, n_threads: int = 0) -> NDArray[_F]:
        """sum over X's rows of (x - mean)(x - mean)^T W: a block's part of fit_em's E-step."""
    def covariance(self) -> NDArray[_F]: ...
    def precision(self) -> NDArray[_F]: ...

class PPCAFloat32(_PPCA[np.float32]):
    @staticmethod
    def fit(X: NDArray[np.float32] | CsrFloat32, hyper_parameters: HyperParameters, seed: int, n_threads: int = 0,
            verbose: int = 0) -> tuple[PPCAFloat32, BaseException | None]:
        """hyper_parameters: PPCAOptions' fields (model_descriptions()["PPCA"]); with method "em", NaN
        entries (stored ones, for a CSR X) are missing values. Returns the model and the KeyboardInterrupt (or None) that
        stopped EM after its last complete iteration."""
    @staticmethod
    def restore(components: ArrayLike, mean: ArrayLike, noise_variance: float, explained_variance: ArrayLike,
                n_iter: int, log_likelihood_curve: Sequence[float]) -> PPCAFloat32:
        """A fitted model from saved parameters (model files), kept as they are."""

class PPCAFloat64(_PPCA[np.float64]):
    @staticmethod
    def fit(X: NDArray[np.float64] | CsrFloat64, hyper_parameters: HyperParameters, seed: int, n_threads: int = 0,
            verbose: int = 0) -> tuple[PPCAFloat64, BaseException | None]:
        """hyper_parameters: PPCAOptions' fields (model_descriptions()["PPCA"]); with method "em", NaN
        entries (stored ones, for a CSR X) are missing values. Returns the model and the KeyboardInterrupt (or None) that
        stopped EM after its last complete iteration."""
    @staticmethod
    def restore(components: ArrayLike, mean: ArrayLike, noise_variance: float, explained_variance: ArrayLike,
                n_iter: int, log_likelihood_curve: Sequence[float]) -> PPCAFloat64:
        """A fitted model from saved parameters (model files), kept as they are."""

# ------------------------------------------------------- neural models
class _NeuralModel(Generic[_F]):
    """What VAE<T> and Autoencoder<T> share: one flat parameter buffer, Adam, training history."""

    @property
    def n_parameters(self) -> int: ...
    @property
    def parameters(self) -> NDArray[_F]: ...
    def initialize(self, seed: int, X: NDArray[_F] | _Csr[_F]) -> None:
        """Random initial parameters; a learned decoder variance starts at X's mean feature variance."""
    def get_layers(self, which: str) -> tuple[list[NDArray[_F]], list[NDArray[_F]]]:
        """(coefs, intercepts) of "encoder" or "decoder", coefs[l] of shape (n_in, n_out)."""
    def get_optimizer_state(self) -> tuple[NDArray[_F], NDArray[_F], int]:
        """Adam's (first moment, second moment, step)."""
    @property
    def loss_curve(self) -> list[float]: ...
    @property
    def reconstruction_curve(self) -> list[float]:
        """The reconstruction term of loss_curve per epoch (NaN where not recorded)."""
    @property
    def kl_curve(self) -> list[float]:
        """The KL term of loss_curve per epoch (loss = reconstruction + beta * kl; 0 for the Autoencoder)."""
    @property
    def validation_scores(self) -> list[float]: ...
    @property
    def best_loss(self) -> float: ...
    @property
    def best_validation_score(self) -> float: ...
    @property
    def n_iter(self) -> int: ...
    @property
    def converged(self) -> bool: ...
    def fit(self, X: NDArray[_F] | _Csr[_F], options: HyperParameters, seed: int, n_threads: int = 0,
            partial: bool = False, on_batch: Callable[[int, int, int, int, int], object] | None = None,
            on_epoch: Callable[[dict[str, object]], object] | None = None) -> None:
        """Train (partial=True: one epoch, continuing); raises TrainingDiverged or KeyboardInterrupt.

        options: TrainingOptions' fields (model_descriptions()[kind]["training"]), by name.

        on_batch(epoch, batch, n_batches, samples_done, n_samples) is called at
        most every 50 ms; on_epoch(report) receives each epoch's report (epoch,
        loss, reconstruction, kl, validation_score or None, seconds, elapsed),
        collected and delivered at most every 200 ms and at the end. An
        exception they raise stops training at the last complete epoch."""
    def fit_blocks(self, block_rows: Sequence[int], fetch: Callable[[int, int], NDArray[_F] | _Csr[_F]],
                   options: HyperParameters, seed: int, n_threads: int = 0, partial: bool = False,
                   on_batch: Callable[[int, int, int, int, int], object] | None = None,
                   on_epoch: Callable[[dict[str, object]], object] | None = None) -> None:
        """fit on data in blocks (of block_rows rows each): fetch(b, next) returns block b and may
        start reading block next (-1: none); each epoch visits the blocks in a seeded order."""
    def transform(self, X: NDArray[_F], n_threads: int = 0) -> NDArray[_F]: ...
    def inverse_transform(self, Z: NDArray[_F], n_threads: int = 0) -> NDArray[_F]: ...

_Layers = tuple[Sequence[ArrayLike], Sequence[ArrayLike]]

class _VAE(_NeuralModel[_F]):
    def __init__(self, n_features: int, hyper_parameters: HyperParameters) -> None:
        """hyper_parameters: VAEConfig's fields (model_descriptions()["VAE"]); missing ones keep their defaults."""
    @staticmethod
    def restore(n_features: int, hyper_parameters: HyperParameters, parameters: ArrayLike | None = None, *,
                encoder: _Layers | None = None, decoder: _Layers | None = None, log_variance: ArrayLike | None = None,
                optimizer_state: tuple[ArrayLike, ArrayLike, int] | None = None,
                history: dict[str, object] = ...) -> _VAE[_F]:
        """A fitted model: the flat parameters, or the (coefs, intercepts) of the encoder and the decoder
        (and the learned log-variances); Adam's (m, v, step); the history (loss_curve, validation_scores,
        reconstruction_curve, kl_curve, n_iter). Validated: sizes, finiteness."""
    @property
    def log_variance(self) -> NDArray[_F]:
        """The learned decoder log-variances (1 for "scalar", n_features for "diagonal", else none)."""
    @property
    def noise_variance(self) -> NDArray[_F]: ...
    def loss_and_gradient(self, parameters: ArrayLike, X: NDArray[_F], eps: NDArray[_F]) -> tuple[float, NDArray[_F]]:
        """The training objective (-ELBO_beta or -IWAE_beta; NaN in X: missing) averaged over the rows
        of X and its gradient, for given draws eps."""
    def impute(self, X: NDArray[_F], n_samples: int, seed: int, sample: bool, n_threads: int = 0) -> NDArray[_F]:
        """X with its NaN filled: E[x_mis | x_obs] by self-normalised importance sampling, or with
        sample=True a draw from p(x_mis | x_obs) by sampling importance resampling."""
    def encode(self, X: NDArray[_F], n_threads: int = 0) -> tuple[NDArray[_F], NDArray[_F]]:
        """(posterior mean h(x), posterior std k(x))."""
    def kl_per_dimension(self, X: NDArray[_F], n_threads: int = 0) -> NDArray[_F]:
        """Mean over the rows of KL(q(z_j|x) || N(0, 1)) per latent dimension j."""
    def latent_activity(self, X: NDArray[_F], n_threads: int = 0) -> NDArray[_F]:
        """Variance over the rows of the posterior mean h_j(x) (Burda et al. 2016's activity)."""
    def sample(self, n_samples: int, seed: int, noise: bool, n_threads: int = 0) -> NDArray[_F]: ...
    def score_samples(self, X: NDArray[_F], n_mc_samples: int, seed: int, n_threads: int = 0) -> NDArray[_F]: ...
    def log_likelihood(self, X: NDArray[_F], n_samples: int, seed: int, method: str = "importance",
                       n_threads: int = 0) -> NDArray[_F]:
        """Estimate of log p(x) per row from n_samples draws: method "importance" (IWAE) or "prior"."""

class _Autoencoder(_NeuralModel[_F]):
    def __init__(self, n_features: int, hyper_parameters: HyperParameters) -> None:
        """hyper_parameters: AutoencoderConfig's fields (model_descriptions()["Autoencoder"])."""
    @staticmethod
    def restore(n_features: int, hyper_parameters: HyperParameters, parameters: ArrayLike | None = None, *,
                encoder: _Layers | None = None, decoder: _Layers | None = None, log_variance: None = None,
                optimizer_state: tuple[ArrayLike, ArrayLike, int] | None = None,
                history: dict[str, object] = ...) -> _Autoencoder[_F]:
        """A fitted model, as _VAE.restore (no log-variances)."""
    def loss_and_gradient(self, parameters: ArrayLike, X: NDArray[_F]) -> tuple[float, NDArray[_F]]: ...
    def score_samples(self, X: NDArray[_F], n_threads: int = 0) -> NDArray[_F]: ...

class VAEFloat32(_VAE[np.float32]): ...
class VAEFloat64(_VAE[np.float64]): ...
class AutoencoderFloat32(_Autoencoder[np.float32]): ...
class AutoencoderFloat64(_Autoencoder[np.float64]): ...

# ----------------------------------------------------------- model files
_Model = PPCAFloat32 | PPCAFloat64 | VAEFloat32 | VAEFloat64 | AutoencoderFloat32 | AutoencoderFloat64

def save_model(path: str | os.PathLike[str], model: _Model, metadata: dict[str, str]) -> None:
    """Writes the model to a safetensors file (atomically); `metadata` adds string entries to the header."""

def model_metadata(model: _Model) -> dict[str, str]:
    """The metadata the C++ library writes for this model (kind, sizes, hyper-parameters)."""

def load_model(path: str | os.PathLike[str]) -> tuple[_Model, dict[str, object]]:
    """The model in a file and its header information; ValueError or OSError for a bad file."""

def model_kinds() -> list[str]:
    """The kinds of model the model files hold, as their "kind" entry spells them."""

def model_descriptions() -> dict[str, dict[str, object]]:
    """{kind: {"kind", "hyper_parameters", "training", "allows_missing"}}: each hyper-parameter's name,
    type (bool, int, float, str, int_list), default, choices (str) and range (min, max, min_inclusive,
    max_inclusive); whether the neural model takes NaN as a missing value."""

def read_model_info(path: str | os.PathLike[str]) -> dict[str, object]:
    """The header information of a model file (kind, dtype, versions, metadata) without its tensors."""
