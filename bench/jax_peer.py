"""JAX peer of bench/compare.py: pytorch/examples' VAE written for the CPU.

The model of pytorch/examples' vae/main.py (an MLP encoder with ReLU hidden
layers giving the posterior mean and log-variance, an MLP decoder giving
Bernoulli logits or a Gaussian mean), trained with optax's Adam in float32
the way one writes it for speed on a CPU:

- the data are shuffled once, cut into full batches shaped
  (n_batches, batch_size, D) (the last partial batch is left out) and put
  on the device once;
- a whole epoch is ONE ``jax.jit`` call: ``jax.lax.scan`` over the batches,
  with the reparameterisation noise drawn inside the scan from a key carried
  along, and the parameters and optimiser state donated to the call;
- the encoder's mean and log-variance heads are one (hidden, 2 d) layer.

Imported by compare.py's child processes only: jax and optax are bench-only
dependencies, never imported by vaekit.
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

LOG_2PI = math.log(2.0 * math.pi)


def init_mlp(key, sizes):
    """(W, b) per layer, both drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    as torch.nn.Linear does, W of shape (fan_in, fan_out)."""
    layers = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        key, k_w, k_b = jax.random.split(key, 3)
        bound = 1.0 / math.sqrt(fan_in)
        layers.append((jax.random.uniform(k_w, (fan_in, fan_out), jnp.float32, -bound, bound),
                       jax.random.uniform(k_b, (fan_out,), jnp.float32, -bound, bound)))
    return layers


def mlp(layers, x):
    """ReLU after every layer but the last, which is linear."""
    for W, b in layers[:-1]:
        x = jax.nn.relu(x @ W + b)
    W, b = layers[-1]
    return x @ W + b


class JaxVAE:
    """A VAE on X with pre-made batches and a compiled epoch.

    Parameters
    ----------
    X : ndarray of shape (n, D), float32
    hidden : tuple of int
        Hidden layers of the encoder (the decoder's in reverse order).
    n_components : int
        Latent dimension d.
    likelihood : {"bernoulli", "gaussian"}
        Bernoulli with logits, or Gaussian with one learned log-variance
        (vaekit's default ``decoder_variance="scalar"``) starting at
        ``initial_log_variance``.
    batch_size : int
    seed : int
    """

    def __init__(self, X, hidden, n_components, likelihood="bernoulli", batch_size=128, initial_log_variance=0.0,
                 seed=0):
        n, D = X.shape
        self.n_components = n_components
        self.gaussian = likelihood == "gaussian"
        k_encoder, k_decoder, self.key = jax.random.split(jax.random.key(seed), 3)
        self.params = {"encoder": init_mlp(k_encoder, [D, *hidden, 2 * n_components]),
                       "decoder": init_mlp(k_decoder, [n_components, *hidden[::-1], D])}
        if self.gaussian:
            self.params["log_variance"] = jnp.asarray(initial_log_variance, jnp.float32)
        self.optimizer = optax.adam(1e-3)
        self.opt_state = self.optimizer.init(self.params)
        n_batches = n // batch_size
        order = np.random.default_rng(seed).permutation(n)[: n_batches * batch_size]
        self.batches = jax.device_put(X[order].reshape(n_batches, batch_size, D))
        self.samples = n_batches * batch_size  # per epoch
        self.traces = 0  # how often the epoch was traced (compiled): 1 after any number of epochs
        self.losses = []  # mean loss per sample of each epoch
        self._epoch = jax.jit(self._epoch_function, donate_argnums=(0, 1, 2))
        self._encode = jax.jit(self._encode_function)

    def _mean_and_log_variance(self, params, x):
        out = mlp(params["encoder"], x)
        return out[:, : self.n_components], out[:, self.n_components:]

    def _encode_function(self, params, x):
        return self._mean_and_log_variance(params, x)[0]

    def _loss(self, params, x, key):
        """Negative ELBO summed over the batch (pytorch/examples' loss), every constant included."""
        mu, log_var = self._mean_and_log_variance(params, x)
        z = mu + jnp.exp(0.5 * log_var) * jax.random.normal(key, mu.shape, mu.dtype)
        out = mlp(params["decoder"], z)
        if self.gaussian:
            log_var_x = params["log_variance"]
            squared_error = jnp.sum(jnp.square(x - out))
            reconstruction = 0.5 * (squared_error * jnp.exp(-log_var_x) + x.size * (log_var_x + LOG_2PI))
        else:
            reconstruction = jnp.sum(optax.sigmoid_binary_cross_entropy(out, x))
        kl = -0.5 * jnp.sum(1.0 + log_var - jnp.square(mu) - jnp.exp(log_var))
        return reconstruction + kl

    def _epoch_function(self, params, opt_state, key, batches):
        self.traces += 1  # Python side effect: runs when traced, not when the compiled epoch runs

        def step(carry, x):
            params, opt_state, key = carry
            key, noise_key = jax.random.split(key)
            loss, grads = jax.value_and_grad(self._loss)(params, x, noise_key)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state, key), loss

        (params, opt_state, key), losses = jax.lax.scan(step, (params, opt_state, key), batches)
        return params, opt_state, key, jnp.sum(losses)

    def epoch(self):
        """One epoch (one compiled call); returns its seconds. The mean loss
        per sample of the epoch is appended to ``self.losses``."""
        start = time.perf_counter()
        self.params, self.opt_state, self.key, loss = self._epoch(self.params, self.opt_state, self.key,
                                                                  self.batches)
        loss = float(loss)  # waits for the result
        seconds = time.perf_counter() - start
        self.losses.append(loss / self.samples)
        return seconds

    def encoder(self, X):
        """A function returning the posterior means of all of X (put on the
        device once) in one compiled call, waiting for the result."""
        data = jax.device_put(X)
        return lambda: self._encode(self.params, data).block_until_ready()
