"""The ONNX graphs of vaekit's estimators (vaekit.onnx registers them with
skl2onnx; the estimators' ``to_onnx`` exports one network alone). Needs onnx.
Estimators are told apart by their ``_kind`` (the C++ model kind), so that
this module imports none of them."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

NEEDS_EXTRA = 'ONNX export needs the "onnx" extra: pip install "vaekit[onnx]" (onnx, skl2onnx)'
try:
    import onnx
    from onnx import helper, numpy_helper
except ImportError as error:
    raise ImportError(NEEDS_EXTRA) from error

from ._native import core

OPSET = 17
"""The opset of the standalone graphs of :func:`network_to_onnx`."""

_ACTIVATIONS = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "softplus": None, "identity": None}
_PARTS = ("encoder", "decoder")


class Graph:
    """Adds constants and nodes to a graph under construction, in one dtype.

    ``add_tensor(tensor)`` and ``add_node(op, inputs, outputs, attributes)``
    are those of the graph's owner (a skl2onnx container, or the lists of a
    standalone graph); ``unique(name)`` gives a fresh name.
    """

    def __init__(self, dtype, add_tensor, add_node, unique):
        self.dtype = np.dtype(dtype)
        self._add_tensor, self._add_node, self._unique = add_tensor, add_node, unique

    def constant(self, name, value, dtype=None):
        array = np.ascontiguousarray(value, dtype=self.dtype if dtype is None else dtype)
        name = self._unique(name)
        self._add_tensor(numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, name, output=None, **attributes):
        output = output or self._unique(name)
        self._add_node(op, list(inputs), [output], attributes)
        return output


def _columns(graph, x, start, stop, name, output=None):
    """x[:, start:stop]."""
    return graph.node("Slice", [x, graph.constant(f"{name}_starts", [start], np.int64),
                                graph.constant(f"{name}_ends", [stop], np.int64),
                                graph.constant(f"{name}_axes", [1], np.int64)], name, output)


def _network(graph, x, coefs, intercepts, activation, name, output=None):
    """An MLP of the fitted layers (scikit-learn's layout: act(x @ coef + intercept)),
    the hidden layers with ``activation``, the last one linear."""
    for layer, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        last = layer == len(coefs) - 1
        weights = graph.constant(f"{name}_W{layer}", coef)
        x = graph.node("Gemm", [x, weights, graph.constant(f"{name}_b{layer}", intercept)], f"{name}_affine{layer}",
                       output if last else None)
        if not last:
            x = _activation(graph, x, activation, f"{name}_{activation}{layer}")
    return x


def _activation(graph, x, activation, name):
    if activation == "identity":
        return x
    if activation != "softplus":
        return graph.node(_ACTIVATIONS[activation], [x], name)
    # softplus(v) = max(v, 0) + log(1 + e^-|v|), the core's stable form
    # (onnxruntime's Softplus has no float64 kernel).
    tail = graph.node("Exp", [graph.node("Neg", [graph.node("Abs", [x], f"{name}_abs")], f"{name}_neg")],
                      f"{name}_exp")
    tail = graph.node("Log", [graph.node("Add", [graph.constant(f"{name}_one", 1), tail], f"{name}_1p")],
                      f"{name}_log")
    return graph.node("Add", [graph.node("Relu", [x], f"{name}_relu"), tail], name)


def _encoder_input(graph, estimator, x):
    """What the encoder reads of x: the VAE's NaN set to 0, and with encoder_mask
    the mask of observed entries after them (vae.hpp)."""
    if estimator._kind != "VAE":
        return x
    missing = graph.node("IsNaN", [x], "missing")
    filled = graph.node("Where", [missing, graph.constant("zero", [0]), x], "filled")
    if not estimator.encoder_mask:
        return filled
    mask = graph.node("Cast", [graph.node("Not", [missing], "observed")], "mask",
                      to=helper.np_dtype_to_tensor_dtype(graph.dtype))
    return graph.node("Concat", [filled, mask], "encoder_input", axis=1)


def encoder(graph, estimator, x, outputs):
    """The encoder's graph; outputs: names of (code,) for the Autoencoder,
    (mean, log_variance or None) for the VAE."""
    hidden = _network(graph, _encoder_input(graph, estimator, x), estimator.encoder_coefs_,
                      estimator.encoder_intercepts_, estimator.activation, "encoder",
                      outputs[0] if estimator._kind == "Autoencoder" else None)
    if estimator._kind == "Autoencoder":
        return
    d = estimator.encoder_coefs_[-1].shape[1] // 2
    _columns(graph, hidden, 0, d, "mean", outputs[0])
    if outputs[1] is not None:
        low, high = core.log_variance_range
        raw = _columns(graph, hidden, d, 2 * d, "raw_log_variance")
        graph.node("Clip", [raw, graph.constant("log_variance_min", low), graph.constant("log_variance_max", high)],
                   "log_variance", outputs[1])


def decoder(graph, estimator, z, output):
    """The decoder mean (inverse_transform): the first n_features outputs of
    the decoder (a variance head may follow them), through a sigmoid for
    Bernoulli or "bce"."""
    n_features = estimator.n_features_in_
    head = estimator.decoder_coefs_[-1].shape[1] != n_features
    probabilities = estimator.likelihood == "bernoulli" if estimator._kind == "VAE" else estimator.loss == "bce"
    f = _network(graph, z, estimator.decoder_coefs_, estimator.decoder_intercepts_, estimator.activation, "decoder",
                 None if head or probabilities else output)
    if head:
        f = _columns(graph, f, 0, n_features, "decoder_mean", None if probabilities else output)
    if probabilities:
        graph.node("Sigmoid", [f], "probabilities", output)


def ppca(graph, estimator, x, output):
    """E[z|x] = M^-1 W^T (x - mu), as the core computes it: ((x - mu) W) M^-1."""
    native = estimator._model(graph.dtype)
    centred = graph.node("Sub", [x, graph.constant("mean", native.mean)], "centred")
    projected = graph.node("MatMul", [centred, graph.constant("W", native.components.T)], "projected")
    graph.node("MatMul", [projected, graph.constant("M_inverse", native.m_inverse())], "posterior_mean", output)


def n_components(estimator):
    return estimator.components_.shape[0] if estimator._kind == "PPCA" else estimator.decoder_coefs_[0].shape[0]


def network_to_onnx(estimator, part="encoder", dtype=None):
    """One network of a fitted :class:`~vaekit.VAE` or :class:`~vaekit.Autoencoder` as an ONNX model.

    Parameters
    ----------
    estimator : VAE or Autoencoder
        A fitted estimator.
    part : {"encoder", "decoder"}, default="encoder"
        ``"encoder"``: input ``X`` (n, n_features), outputs ``mean`` and
        ``log_variance`` (n, n_components) for the VAE (``encode``'s mean and
        ``2 log stddev``), ``Z`` for the Autoencoder (``transform``).
        ``"decoder"``: input ``Z`` (n, n_components), output ``X``
        (``inverse_transform``).
    dtype : {numpy.float32, numpy.float64} or None, default=None
        The graph's dtype; None: the estimator's.

    Returns
    -------
    onnx.ModelProto
        A checked model of opset :data:`OPSET`, with a dynamic batch dimension.
    """
    if getattr(estimator, "_kind", None) not in ("VAE", "Autoencoder"):
        raise TypeError(f"network_to_onnx exports a VAE or an Autoencoder, not {type(estimator).__name__}")
    if part not in _PARTS:
        raise ValueError(f"part must be one of {_PARTS}, got {part!r}")
    check_is_fitted(estimator)
    dtype = np.dtype(estimator._model_dtype() if dtype is None else dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    nodes, tensors, names = [], [], set()

    def unique(name):
        candidate, k = name, 0
        while candidate in names:
            k += 1
            candidate = f"{name}_{k}"
        names.add(candidate)
        return candidate

    def add_node(op, inputs, outputs, attributes):
        nodes.append(helper.make_node(op, inputs, outputs, name=unique(f"{op}_node"), **attributes))

    graph = Graph(dtype, tensors.append, add_node, unique)
    element = helper.np_dtype_to_tensor_dtype(dtype)
    n_features, d = estimator.n_features_in_, n_components(estimator)
    if part == "encoder":
        names.update({"X", "mean", "log_variance", "Z"})
        outputs = ("Z",) if estimator._kind == "Autoencoder" else ("mean", "log_variance")
        encoder(graph, estimator, "X", outputs)
        inputs = [helper.make_tensor_value_info("X", element, ["n", n_features])]
        outputs = [helper.make_tensor_value_info(name, element, ["n", d]) for name in outputs]
    else:
        names.update({"Z", "X"})
        decoder(graph, estimator, "Z", "X")
        inputs = [helper.make_tensor_value_info("Z", element, ["n", d])]
        outputs = [helper.make_tensor_value_info("X", element, ["n", n_features])]
    model = helper.make_model(
        helper.make_graph(nodes, f"vaekit_{type(estimator).__name__}_{part}", inputs, outputs, tensors),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="vaekit")
    onnx.checker.check_model(model, full_check=True)
    return model
