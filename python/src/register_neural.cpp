// Bindings of the neural models: vaekit::VAE<T> (VAEFloat32 / VAEFloat64) and
// vaekit::Autoencoder<T> (AutoencoderFloat32 / AutoencoderFloat64). Thin: they
// convert arguments, release the GIL and call the C++ library; training
// reports progress and looks for Ctrl-C through the TrainingOptions callbacks.
#include <string>
#include <tuple>
#include <vector>

#include "describe.hpp"
#include "pybind11.hpp"
#include "training_progress.hpp"
#include "vaekit/autoencoder.hpp"
#include "vaekit/vae.hpp"

namespace vaekit::python {
namespace {

// The training hyper-parameters (TrainingOptions::fields) from a dict, and
// the run's own arguments.
TrainingOptions make_options(const py::dict& hyper_parameters, std::uint64_t seed, int n_threads) {
  TrainingOptions options = config_from_dict<TrainingOptions>(hyper_parameters, "training");
  validate_fields(options, "training");
  options.seed = seed;
  options.n_threads = n_threads;
  return options;
}

// A model of n_features from a dict of its configuration's fields.
template <class Model>
Model make_model(Index n_features, const py::dict& hyper_parameters) {
  auto config = config_from_dict<typename Model::Config>(hyper_parameters, Model::kKind);
  config.n_features = n_features;
  return Model(config);
}

// Runs fit or partial_fit with the GIL released; progress (verbose) and
// Ctrl-C go through TrainingProgress. On Ctrl-C the C++ loop restores the
// last complete epoch and returns; the pending KeyboardInterrupt is then raised.
template <class Model>
void train(Model& model, ConstRowMatrixRef<typename Model::Scalar> X, TrainingOptions options, int verbose,
           bool single_epoch, double progress_bar_delay) {
  bool interrupted = false;
  TrainingProgress progress(verbose, options.max_iter, single_epoch, progress_bar_delay);
  options.on_batch = [&](const BatchReport& report) {
    interrupted = !progress.on_batch(report);
    return !interrupted;
  };
  options.on_epoch = [&](const EpochReport& report) {
    interrupted = !progress.on_epoch(report);
    return !interrupted;
  };
  try {
    // Safe: X is a view of an array the caller keeps alive, and no Python
    // object is touched until a callback re-acquires the GIL.
    py::gil_scoped_release release;
    if (single_epoch) model.partial_fit(X, options);
    else model.fit(X, options);
  } catch (...) {  // TrainingDiverged, InvalidArgument: the lines printed so far still show
    try {
      progress.finish();
    } catch (py::error_already_set&) {
    }
    throw;
  }
  if (interrupted) {
    py::error_already_set error;  // takes the pending exception, so that print can run
    progress.finish();
    throw error;
  }
  progress.finish();
}

// The parts shared by both models: parameters, layers, optimiser state, history, training.
template <class Model, class Class>
void bind_common(Class& cls) {
  using T = typename Model::Scalar;
  using Ref = ConstRowMatrixRef<T>;
  cls.def_property_readonly("n_parameters", &Model::n_parameters)
      .def_property("parameters", [](const Model& m) { return Vector<T>(m.parameters()); },
                    [](Model& m, const Vector<T>& p) { m.set_parameters(p); })
      .def("initialize", &Model::initialize, py::arg("seed"))
      // (coefs, intercepts) of "encoder" or "decoder": lists in scikit-learn's MLP layout.
      .def("get_layers",
           [](const Model& m, const std::string& which) {
             const MLP<T>& net = which == "encoder" ? m.encoder() : m.decoder();
             require(which == "encoder" || which == "decoder", "which must be \"encoder\" or \"decoder\"");
             py::list coefs, intercepts;
             for (int l = 0; l < net.n_layers(); ++l) {
               coefs.append(RowMatrix<T>(net.weights(m.parameters().data(), l)));
               intercepts.append(Vector<T>(net.biases(m.parameters().data(), l)));
             }
             return py::make_tuple(coefs, intercepts);
           },
           py::arg("which"))
      .def("set_layers",
           [](Model& m, const std::string& which, const std::vector<RowMatrix<T>>& coefs,
              const std::vector<Vector<T>>& intercepts) {
             require(which == "encoder" || which == "decoder", "which must be \"encoder\" or \"decoder\"");
             const MLP<T>& net = which == "encoder" ? m.encoder() : m.decoder();
             require(static_cast<int>(coefs.size()) == net.n_layers() &&
                         static_cast<int>(intercepts.size()) == net.n_layers(),
                     which + ": expected " + std::to_string(net.n_layers()) + " layers");
             Vector<T> params = m.parameters();
             for (int l = 0; l < net.n_layers(); ++l) {
               const DenseLayer& layer = net.layer(l);
               require(coefs[l].rows() == layer.n_in && coefs[l].cols() == layer.n_out &&
                           intercepts[l].size() == layer.n_out,
                       which + " layer " + std::to_string(l) + ": expected coefs of shape (" +
                           std::to_string(layer.n_in) + ", " + std::to_string(layer.n_out) + ")");
               net.weights(params.data(), l) = coefs[l];
               net.biases(params.data(), l) = intercepts[l];
             }
             m.set_parameters(params);
           },
           py::arg("which"), py::arg("coefs"), py::arg("intercepts"))
      .def("get_optimizer_state",
           [](const Model& m) {
             const auto& s = m.optimizer_state();
             return py::make_tuple(Vector<T>(s.first_moment), Vector<T>(s.second_moment), s.step);
           })
      .def("set_optimizer_state",
           [](Model& m, const Vector<T>& first, const Vector<T>& second, std::int64_t step) {
             require(first.size() == m.n_parameters() && second.size() == m.n_parameters(),
                     "optimizer state does not match the number of parameters");
             auto& s = m.optimizer_state();
             s.first_moment = first;
             s.second_moment = second;
             s.step = step;
           })
      .def_property_readonly("loss_curve", [](const Model& m) { return m.history().loss_curve; })
      .def_property_readonly("validation_scores", [](const Model& m) { return m.history().validation_scores; })
      .def_property_readonly("best_loss", [](const Model& m) { return m.history().best_loss; })
      .def_property_readonly("best_validation_score", [](const Model& m) { return m.history().best_validation_score; })
      .def_property_readonly("n_iter", [](const Model& m) { return m.history().n_iter; })
      .def_property_readonly("converged", [](const Model& m) { return m.history().converged; })
      .def("set_history",
           [](Model& m, const std::vector<double>& loss_curve, const std::vector<double>& validation_scores,
              int n_iter) {
             auto& h = m.history();
             h.loss_curve = loss_curve;
             h.validation_scores = validation_scores;
             h.n_iter = n_iter;
           })
      .def(
          "fit",
          [](Model& m, Ref X, const py::dict& options, std::uint64_t seed, int n_threads, int verbose, bool partial,
             double progress_bar_delay) {
            train(m, X, make_options(options, seed, n_threads), verbose, partial, progress_bar_delay);
          },
          py::arg("X"), py::arg("options"), py::arg("seed"), py::arg("n_threads") = 0, py::arg("verbose") = 0,
          py::arg("partial") = false, py::arg("progress_bar_delay") = 0.5)
      .def("transform", &Model::transform, py::arg("X"), py::arg("n_threads") = 0,
           py::call_guard<py::gil_scoped_release>())
      .def("inverse_transform", &Model::inverse_transform, py::arg("Z"), py::arg("n_threads") = 0,
           py::call_guard<py::gil_scoped_release>());
}

template <class T>
void register_vae_type(py::module_& m, const char* name) {
  using Model = VAE<T>;
  using Ref = ConstRowMatrixRef<T>;
  // module_local: the baseline and the AVX2 module each register the same C++ type.
  py::class_<Model> cls(m, name, py::module_local());
  cls.def(py::init(&make_model<Model>), py::arg("n_features"), py::arg("hyper_parameters"));
  bind_common<Model>(cls);
  cls.def_property(
         "log_variance",
         [](const Model& m) { return Vector<T>(m.parameters().segment(m.log_variance_offset(), m.n_log_variance())); },
         [](Model& m, const Vector<T>& values) {
           require(values.size() == m.n_log_variance(), "log_variance has the wrong size");
           Vector<T> params = m.parameters();
           params.segment(m.log_variance_offset(), m.n_log_variance()) = values;
           m.set_parameters(params);
         })
      .def_property_readonly("noise_variance", &Model::noise_variance)
      .def(
          "loss_and_gradient",
          [](const Model& m, const Vector<T>& params, Ref X, Ref eps) {
            Vector<T> gradient;
            double loss;
            {
              py::gil_scoped_release release;
              loss = m.loss_and_gradient(params, X, eps, gradient);
            }
            return py::make_tuple(loss, gradient);
          },
          py::arg("parameters"), py::arg("X"), py::arg("eps"))
      .def(
          "encode",
          [](const Model& m, Ref X, int n_threads) {
            RowMatrix<T> mean, stddev;
            {
              py::gil_scoped_release release;
              m.encode(X, mean, stddev, n_threads);
            }
            return py::make_tuple(mean, stddev);
          },
          py::arg("X"), py::arg("n_threads") = 0)
      .def("kl_per_dimension", &Model::kl_per_dimension, py::arg("X"), py::arg("n_threads") = 0,
           py::call_guard<py::gil_scoped_release>())
      .def("latent_activity", &Model::latent_activity, py::arg("X"), py::arg("n_threads") = 0,
           py::call_guard<py::gil_scoped_release>())
      .def("sample", &Model::sample, py::arg("n_samples"), py::arg("seed"), py::arg("noise"),
           py::arg("n_threads") = 0, py::call_guard<py::gil_scoped_release>())
      .def("score_samples", &Model::score_samples, py::arg("X"), py::arg("n_mc_samples"), py::arg("seed"),
           py::arg("n_threads") = 0, py::call_guard<py::gil_scoped_release>())
      .def(
          "log_likelihood",
          [](const Model& m, Ref X, int n_samples, std::uint64_t seed, const std::string& method, int n_threads) {
            // method: "importance" or "prior" (parse_enum raises ValueError otherwise).
            return m.log_likelihood(X, n_samples, seed, parse_enum<LogLikelihoodMethod>(method), n_threads);
          },
          py::arg("X"), py::arg("n_samples"), py::arg("seed"), py::arg("method") = "importance",
          py::arg("n_threads") = 0, py::call_guard<py::gil_scoped_release>());
}

template <class T>
void register_autoencoder_type(py::module_& m, const char* name) {
  using Model = Autoencoder<T>;
  using Ref = ConstRowMatrixRef<T>;
  py::class_<Model> cls(m, name, py::module_local());
  cls.def(py::init(&make_model<Model>), py::arg("n_features"), py::arg("hyper_parameters"));
  bind_common<Model>(cls);
  cls.def(
         "loss_and_gradient",
         [](const Model& m, const Vector<T>& params, Ref X) {
           Vector<T> gradient;
           double loss;
           {
             py::gil_scoped_release release;
             loss = m.loss_and_gradient(params, X, gradient);
           }
           return py::make_tuple(loss, gradient);
         },
         py::arg("parameters"), py::arg("X"))
      .def("score_samples", &Model::score_samples, py::arg("X"), py::arg("n_threads") = 0,
           py::call_guard<py::gil_scoped_release>());
}

}  // namespace

void register_neural(py::module_& m) {
  // A diverging fit is a ValueError, as in scikit-learn's MLP.
  py::register_local_exception<TrainingDiverged>(m, "TrainingDiverged", PyExc_ValueError);
  register_vae_type<float>(m, "VAEFloat32");
  register_vae_type<double>(m, "VAEFloat64");
  register_autoencoder_type<float>(m, "AutoencoderFloat32");
  register_autoencoder_type<double>(m, "AutoencoderFloat64");
}

}  // namespace vaekit::python
