"""ONNX export: vaekit's estimators as graphs of standard ONNX operators.

Needs the ``onnx`` extra (``pip install "vaekit[onnx]"``: onnx and skl2onnx).
Importing this module registers skl2onnx converters for :class:`~vaekit.PPCA`,
:class:`~vaekit.Autoencoder` and :class:`~vaekit.VAE`, so that
``skl2onnx.to_onnx(pipeline, X[:1])`` converts scikit-learn pipelines that
contain them; their ``transform`` becomes:

- PPCA: the posterior mean ``M^-1 W^T (x - mu)`` of complete rows (a row
  with NaN, which ``PPCA(method="em").transform`` handles with its own
  ``M``, is not supported by the graph);
- Autoencoder: the encoder's output;
- VAE: the encoder's mean ``h(x)``; a NaN input is a missing value, read as
  0 (and, with ``encoder_mask=True``, given as the mask) exactly as
  ``transform`` reads it.

``VAE.to_onnx(part=...)`` and ``Autoencoder.to_onnx(part=...)`` (or
:func:`network_to_onnx`) export one network alone: the encoder (for the VAE
two outputs, ``mean`` and ``log_variance``, the latter clamped as
``encode`` clamps it) or the decoder (``inverse_transform``: the decoder
mean, the probabilities for a Bernoulli VAE or a "bce" Autoencoder).

Graphs compute in the dtype of their input (float32 or float64) with the
fitted weights in that dtype; the operators are MatMul, Gemm, Add, Sub,
Relu, Tanh, Sigmoid, Abs, Neg, Exp, Log (softplus), Clip, Slice, IsNaN,
Where, Not, Cast and Concat.
"""

from __future__ import annotations

from ._onnx_graph import NEEDS_EXTRA, OPSET, Graph, encoder, n_components, network_to_onnx, ppca

try:
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import guess_numpy_type
except ImportError as error:
    raise ImportError(NEEDS_EXTRA) from error

from .autoencoder import Autoencoder
from .ppca import PPCA
from .vae import VAE

__all__ = ["network_to_onnx", "OPSET"]

# ----------------------------------------------------------------- skl2onnx

def _shape_calculator(operator):
    input_type = operator.inputs[0].type
    operator.outputs[0].type = input_type.__class__([input_type.shape[0], n_components(operator.raw_operator)])


def _converter(scope, operator, container):
    estimator = operator.raw_operator
    x, output = operator.inputs[0].full_name, operator.outputs[0].full_name
    graph = Graph(guess_numpy_type(operator.inputs[0].type), lambda tensor: container.add_initializer(
        tensor.name, tensor.data_type, list(tensor.dims), tensor),
        lambda op, inputs, outputs, attributes: container.add_node(
            op, inputs, outputs, name=scope.get_unique_operator_name(op), **attributes),
        scope.get_unique_variable_name)
    if isinstance(estimator, PPCA):
        ppca(graph, estimator, x, output)
    else:
        encoder(graph, estimator, x, (output, None))


for _estimator in (PPCA, Autoencoder, VAE):
    update_registered_converter(_estimator, f"Vaekit{_estimator.__name__}", _shape_calculator, _converter,
                                overwrite=True)
