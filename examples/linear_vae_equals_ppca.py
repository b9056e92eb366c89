"""A linear VAE converges to PPCA: its ELBO rises to PPCA's exact log-likelihood.

A VAE with no hidden layers (``hidden_layer_sizes=()``), a Gaussian decoder and
a learned scalar decoder variance (``decoder_variance="scalar"``) has the same
generative model as PPCA, ``x ~ N(mu, W W^T + g^2 I)``, and at its optimum the
ELBO equals PPCA's maximum log-likelihood (Lucas et al., 2019). vaekit reports
both in nats per sample with every constant included, so they can be compared
directly. The VAE is trained one epoch at a time with ``partial_fit`` (with a
step-wise decreasing learning rate) on scikit-learn's digits.

``linear_vae_equals_ppca.png`` shows

- the ELBO after each epoch against PPCA's exact log-likelihood (closed form);
- the same on a log scale: the gap between the two, in nats per sample;
- the importance-weighted (IWAE) estimate ``log_likelihood(X, n_samples=m)``
  as ``m`` grows, for the VAE early in training and at the end: it climbs from
  the ELBO (``m = 1``) towards the exact ``log p(x)`` of the VAE's own linear
  generative model (computed here in closed form, dashed).

Run with ``python examples/linear_vae_equals_ppca.py [--output-dir DIR]``
(about 20 seconds on 2 cores).
"""

import copy

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import multivariate_normal

from _common import Timer, load_digits_unit, parse_args, save
from vaekit import PPCA, VAE

N_COMPONENTS = 10
EARLY_EPOCH = 25
IWAE_SAMPLES = (1, 3, 10, 30, 100, 300, 1000)


def learning_rate(epoch, n_epochs):
    """3e-3, divided by 3, 10 and 30 over the last 5/8, 3/8 and 3/16 of the epochs."""
    progress = epoch / n_epochs
    return 3e-3 * (1 if progress < 3 / 8 else 1 / 3 if progress < 5 / 8 else 1 / 10 if progress < 13 / 16
                   else 1 / 30)


def exact_log_likelihood(vae, X):
    """Mean log p(x) of a linear VAE's generative model, N(mu, W W^T + g^2 I), in closed form."""
    W_transposed, = vae.decoder_coefs_          # (d, D): the one decoder layer
    mu, = vae.decoder_intercepts_
    covariance = W_transposed.T.astype(np.float64) @ W_transposed + vae.noise_variance_ * np.eye(X.shape[1])
    return multivariate_normal(mu, covariance).logpdf(X).mean()


def main():
    args = parse_args(__doc__.splitlines()[0])
    X, _ = load_digits_unit()
    n_epochs = 40 if args.quick else 480

    with Timer("PPCA"):
        ppca_log_likelihood = PPCA(n_components=N_COMPONENTS).fit(X).score(X)

    vae = VAE(n_components=N_COMPONENTS, hidden_layer_sizes=(), decoder_variance="scalar", batch_size=32,
              random_state=0)
    elbo = []
    with Timer(f"linear VAE, {n_epochs} epochs"):
        for epoch in range(n_epochs):
            vae.set_params(learning_rate=learning_rate(epoch, n_epochs))
            vae.partial_fit(X)
            elbo.append(vae.score_samples(X, n_mc_samples=10).mean())
            if epoch + 1 == EARLY_EPOCH:
                early_vae = copy.deepcopy(vae)
    epochs = np.arange(1, n_epochs + 1)
    elbo = np.array(elbo, dtype=np.float64)
    print(f"PPCA log-likelihood {ppca_log_likelihood:.3f} nats/sample, "
          f"linear VAE ELBO after {n_epochs} epochs {elbo[-1]:.3f}")

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    ax = axes[0]
    ax.plot(epochs, elbo, color="tab:blue", label="linear VAE: ELBO after each epoch")
    ax.axhline(ppca_log_likelihood, color="black", linestyle="--", label="PPCA: exact log-likelihood")
    ax.set_ylim(ppca_log_likelihood - 40, ppca_log_likelihood + 5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per sample")
    ax.set_title(f"ELBO of a linear VAE vs PPCA (digits, d = {N_COMPONENTS})")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)

    ax = axes[1]
    ax.semilogy(epochs, np.maximum(ppca_log_likelihood - elbo, 1e-3), color="tab:blue")
    ax.set_xlabel("epoch")
    ax.set_ylabel("PPCA log-likelihood - ELBO (nats per sample)")
    ax.set_title(f"The gap closes: {ppca_log_likelihood - elbo[-1]:.3f} nats after {n_epochs} epochs")
    rates = np.array([learning_rate(epoch, n_epochs) for epoch in range(n_epochs)])
    for epoch in np.flatnonzero(np.diff(rates)) + 1:
        ax.axvline(epoch, color="gray", linestyle=":", linewidth=1)
        ax.text(epoch + 4, 0.95, f"lr {rates[epoch]:.0e}", transform=ax.get_xaxis_transform(), fontsize=8,
                color="gray", va="top")
    ax.grid(alpha=0.3, which="both")

    ax = axes[2]
    checkpoints = [(f"after {EARLY_EPOCH} epochs", early_vae, "tab:orange"),
                   (f"after {n_epochs} epochs", vae, "tab:blue")]
    iwae_samples = IWAE_SAMPLES[:3] if args.quick else IWAE_SAMPLES
    for name, model, colour in checkpoints:
        with Timer(f"IWAE estimates, VAE {name}"):
            estimates = [model.log_likelihood(X, n_samples=m, random_state=0).mean() for m in iwae_samples]
        ax.semilogx(iwae_samples, estimates, marker="o", color=colour, label=f"IWAE estimate, VAE {name}")
        ax.axhline(exact_log_likelihood(model, X), color=colour, linestyle=":",
                   label="exact log p(x) of that VAE's model")
    ax.axhline(ppca_log_likelihood, color="black", linestyle="--", label="PPCA: exact log-likelihood")
    ax.set_xlabel("importance samples m")
    ax.set_ylabel("nats per sample")
    ax.set_title("IWAE estimate log_likelihood(X, n_samples=m)")
    ax.legend(loc="center right", fontsize=8)
    ax.grid(alpha=0.3, which="both")
    save(fig, args.output_dir, "linear_vae_equals_ppca.png")


if __name__ == "__main__":
    main()
