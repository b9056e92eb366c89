"""How many samples a log-likelihood estimate needs: sampling z from the prior or from the encoder.

A VAE's ``log p(x) = log E_{p(z)}[p(x | z)]`` has no closed form, and
``VAE.log_likelihood(X, n_samples=m, method=...)`` estimates it from ``m``
draws of ``z``:

- ``method="prior"``: ``z_j ~ N(0, I)``, ``log (1/m) sum_j p(x | z_j)``, the
  naive Monte Carlo estimate. Most prior draws land where ``p(z | x)`` has
  little mass and explain ``x`` badly, so ``m`` must be very large, and the
  more so as the latent dimension grows.
- ``method="importance"`` (the default; the IWAE bound of Burda et al., 2016):
  ``z_j ~ q(z | x)``, the encoder's posterior, weighted by ``p(z_j) / q(z_j | x)``.
  When ``q`` is close to ``p(z | x)``, a few samples suffice.

Both are lower bounds on ``log p(x)`` in expectation and converge to it. A
linear VAE (no hidden layers, a learned scalar decoder variance) has the exact
``log p(x) = log N(x; b, W W^T + g^2 I)``, so the estimates can be compared
with the truth. ``log_likelihood_estimators.png`` shows the mean estimate
against ``m`` for a 2-D latent space (the iris data, 4 features) and a
10-D one (scikit-learn's digits, 64 pixels).

Run with ``python examples/log_likelihood_estimators.py [--output-dir DIR]``
(a few seconds on 2 cores).
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import multivariate_normal
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler

from _common import Timer, load_digits_unit, parse_args, save
from vaekit import VAE

N_ROWS = 20


def exact_log_likelihood(vae, X):
    """log p(x) per row of a linear VAE's generative model, N(b, W W^T + g^2 I), in closed form."""
    W_transposed, = vae.decoder_coefs_          # (d, D): the one decoder layer
    b, = vae.decoder_intercepts_
    covariance = W_transposed.T.astype(np.float64) @ W_transposed + vae.noise_variance_ * np.eye(X.shape[1])
    return multivariate_normal(b, covariance).logpdf(X)


def main():
    args = parse_args(__doc__.splitlines()[0])
    iris = StandardScaler().fit_transform(load_iris().data)
    digits, _ = load_digits_unit()
    # Each model is trained on its data set and evaluated on N_ROWS rows of it, with m = 1, 10, ..., 10^5.
    cases = [("iris (D = 4), d = 2", iris, 2, 200), ("digits (D = 64), d = 10", digits[:300], 10, 100)]
    sample_counts = 10 ** np.arange(4 if args.quick else 6)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    for ax, (name, X, n_components, epochs) in zip(axes, cases):
        vae = VAE(n_components=n_components, hidden_layer_sizes=(), decoder_variance="scalar",
                  learning_rate=1e-2, batch_size=32, max_iter=epochs // 10 if args.quick else epochs,
                  random_state=0).fit(X)
        X = X[:N_ROWS]
        exact = exact_log_likelihood(vae, X).mean()
        with Timer(f"{name}: estimates for m = 1 .. {sample_counts[-1]}"):
            for method, colour in (("importance", "tab:blue"), ("prior", "tab:red")):
                estimates = [vae.log_likelihood(X, n_samples=int(m), method=method, random_state=0).mean()
                             for m in sample_counts]
                ax.semilogx(sample_counts, estimates, marker="o", markersize=4, color=colour,
                            label=f'method="{method}"')
                print(f"{name}, {method}: " + ", ".join(f"m = {m}: {estimate:.3f}" for m, estimate
                                                        in zip(sample_counts, estimates))
                      + f" (exact {exact:.3f} nats per sample)")
        ax.axhline(exact, color="black", linestyle="--", label="exact log p(x)")
        ax.set_ylim(exact - (6 if n_components <= 2 else 60), exact + (0.5 if n_components <= 2 else 5))
        ax.set_xlabel("samples m per data point")
        ax.set_ylabel(f"mean estimate of log p(x) over {N_ROWS} rows, nats")
        ax.set_title(f"linear VAE on {name}")
        ax.legend(loc="lower right")
        ax.grid(alpha=0.3, which="both")
    save(fig, args.output_dir, "log_likelihood_estimators.png")


if __name__ == "__main__":
    main()
