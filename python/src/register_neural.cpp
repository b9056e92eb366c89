// Bindings of the neural models: vaekit::VAE<T> (VAEFloat32 / VAEFloat64) and
// vaekit::Autoencoder<T> (AutoencoderFloat32 / AutoencoderFloat64). Thin: they
// convert arguments, release the GIL and call the C++ library; training
// forwards its progress reports to Python callables and looks for Ctrl-C
// through the TrainingOptions callbacks.
#include <chrono>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "describe.hpp"
#include "pybind11.hpp"
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

// Forwards the training loop's reports to Python callables; the rendering
// (verbose) is Python's (vaekit/_progress.py). The callbacks run with the GIL
// released and take it only when Python has something to do:
// - after a batch, at most every 50 ms (ThrottledSignalCheck's rhythm) and,
//   with an on_batch, after the first one (a bar may be due at once): look for
//   Ctrl-C and call on_batch(epoch, batch, n_batches, samples_done, n_samples);
// - epoch reports are collected and delivered (on_epoch(report dict), in
//   order) at most every 200 ms, before the next batch report, and at the end
//   (finish), so that fast epochs never wait for the GIL.
// A Python exception (KeyboardInterrupt from a signal handler, or one the
// callables raise) is left pending and stops training; the binding raises it
// once the C++ loop has restored the last complete epoch.
class ProgressForwarder {
 public:
  using Clock = std::chrono::steady_clock;

  ProgressForwarder(py::object on_batch, py::object on_epoch)
      : on_batch_(std::move(on_batch)), on_epoch_(std::move(on_epoch)) {
    pending_.reserve(64);
    if (!on_batch_.is_none()) last_check_ = Clock::time_point();
  }

  bool batch(const BatchReport& report) {
    const Clock::time_point now = Clock::now();
    if (now - last_check_ < kCheckInterval) return true;
    last_check_ = now;
    py::gil_scoped_acquire gil;
    return run_python([&] {
      deliver_epochs();
      if (!on_batch_.is_none()) {
        on_batch_(report.epoch, report.batch, report.n_batches, report.samples_done, report.n_samples);
      }
    });
  }

  bool epoch(const EpochReport& report) {
    const Clock::time_point now = Clock::now();
    if (!on_epoch_.is_none()) pending_.push_back(report);
    if (now - last_delivery_ < kDeliveryInterval) {
      if (now - last_check_ < kCheckInterval) return true;
      last_check_ = now;
      py::gil_scoped_acquire gil;
      return run_python([] {});
    }
    last_delivery_ = last_check_ = now;
    py::gil_scoped_acquire gil;
    return run_python([&] { deliver_epochs(); });
  }

  // With the GIL held, once training has returned or thrown (no Python
  // exception pending): delivers the epoch reports not delivered yet.
  void finish() { deliver_epochs(); }

 private:
  static constexpr std::chrono::milliseconds kCheckInterval{50};
  static constexpr std::chrono::milliseconds kDeliveryInterval{200};

  // Runs `call` (GIL held), then looks for Ctrl-C; false, with the Python
  // exception left pending, if either raised: an exception must not cross
  // the C++ loop, which would skip its clean-up.
  template <class Call>
  bool run_python(Call&& call) {
    try {
      call();
    } catch (py::error_already_set& error) {
      error.restore();
      return false;
    }
    return PyErr_CheckSignals() == 0;
  }

  void deliver_epochs() {
    // Taken out first: a callable that raises leaves no report delivered twice.
    std::vector<EpochReport> reports;
    reports.swap(pending_);
    for (const EpochReport& report : reports) {
      py::dict fields;
      fields["epoch"] = report.epoch;
      fields["loss"] = report.loss;
      fields["reconstruction"] = report.reconstruction;
      fields["kl"] = report.kl;
      fields["validation_score"] = report.has_validation ? py::object(py::float_(report.validation_score)) : py::none();
      fields["seconds"] = report.seconds;
      fields["elapsed"] = report.elapsed;
      on_epoch_(fields);
    }
  }

  py::object on_batch_, on_epoch_;
  std::vector<EpochReport> pending_;
  Clock::time_point last_check_ = Clock::now();
  Clock::time_point last_delivery_ = Clock::now() - kDeliveryInterval;  // the first epoch's report at once
};

// Runs fit or partial_fit with the GIL released, reports going through
// ProgressForwarder. On Ctrl-C the C++ loop restores the last complete epoch
// and returns; the pending KeyboardInterrupt is then raised.
template <class Model>
void train(Model& model, BlockSource<typename Model::Scalar>& data, TrainingOptions options, bool single_epoch,
           py::object on_batch, py::object on_epoch) {
  bool interrupted = false;
  ProgressForwarder progress(std::move(on_batch), std::move(on_epoch));
  options.on_batch = [&](const BatchReport& report) {
    interrupted = !progress.batch(report);
    return !interrupted;
  };
  options.on_epoch = [&](const EpochReport& report) {
    interrupted = !progress.epoch(report);
    return !interrupted;
  };
  try {
    // Safe: the data are views of arrays the caller keeps alive (or that a
    // PythonBlocks source holds), and no Python object is touched until a
    // callback re-acquires the GIL.
    py::gil_scoped_release release;
    if (single_epoch) model.partial_fit(data, options);
    else model.fit(data, options);
  } catch (...) {  // TrainingDiverged, InvalidArgument: the epochs reported so far still show
    try {
      progress.finish();
    } catch (py::error_already_set&) {
    }
    throw;
  }
  if (interrupted) {
    py::error_already_set error;  // takes the pending exception, so that the reports can be delivered
    try {
      progress.finish();
    } catch (py::error_already_set&) {
    }
    throw error;
  }
  progress.finish();
}

// Training blocks from a Python callable fetch(b, next) -> a C-contiguous
// array of the model's dtype or a Csr object (a dask array's chunks: the
// callable prefetches `next`). Called with the GIL released; takes it to call
// Python, and holds the returned block until the next fetch.
template <class T>
class PythonBlocks final : public BlockSource<T> {
 public:
  PythonBlocks(std::vector<Index> rows, py::function fetch) : rows_(std::move(rows)), fetch_(std::move(fetch)) {}
  ~PythonBlocks() override {
    py::gil_scoped_acquire gil;
    current_ = py::object();
    fetch_ = py::function();
  }
  Index n_blocks() const override { return static_cast<Index>(rows_.size()); }
  Index block_rows(Index b) const override { return rows_[static_cast<std::size_t>(b)]; }
  DataBlock<T> fetch(Index b, Index next) override {
    py::gil_scoped_acquire gil;
    current_ = py::object();
    py::object block = fetch_(b, next);
    if (py::isinstance<CsrArrays<T>>(block)) {
      current_ = block;
      return DataBlock<T>::sparse(block.cast<const CsrArrays<T>&>().view());
    }
    auto array = py::array_t<T, py::array::c_style>::ensure(block);
    require(static_cast<bool>(array) && array.ndim() == 2,
            "a training block must be a 2-D array of the model's dtype or a sparse matrix");
    current_ = array;
    const auto rows = static_cast<Index>(array.shape(0)), cols = static_cast<Index>(array.shape(1));
    return DataBlock<T>::dense(Eigen::Map<const RowMatrix<T>>(array.data(), rows, cols));
  }

 private:
  std::vector<Index> rows_;
  py::function fetch_;
  py::object current_;
};

// Writes the layers (coefs (n_in, n_out), intercepts: scikit-learn's MLP
// layout) of one network into a parameter buffer.
template <class T>
void write_layers(const MLP<T>& net, const std::string& which, const std::vector<RowMatrix<T>>& coefs,
                  const std::vector<Vector<T>>& intercepts, Vector<T>& params) {
  require(static_cast<int>(coefs.size()) == net.n_layers() && static_cast<int>(intercepts.size()) == net.n_layers(),
          which + ": expected " + std::to_string(net.n_layers()) + " layers");
  for (int l = 0; l < net.n_layers(); ++l) {
    const DenseLayer& layer = net.layer(l);
    require(coefs[l].rows() == layer.n_in && coefs[l].cols() == layer.n_out && intercepts[l].size() == layer.n_out,
            which + " layer " + std::to_string(l) + ": expected coefs of shape (" + std::to_string(layer.n_in) +
                ", " + std::to_string(layer.n_out) + ")");
    net.weights(params.data(), l) = coefs[l];
    net.biases(params.data(), l) = intercepts[l];
  }
}

template <class T>
using Layers = std::tuple<std::vector<RowMatrix<T>>, std::vector<Vector<T>>>;

// A fitted model (Model(config, state), which validates the state): its
// parameters either flat or as the layers of the encoder and the decoder
// (plus the VAE's learned log-variances), Adam's state (m, v, step) and the
// history (a dict of TrainingHistory's curves and n_iter; missing keys: empty).
template <class Model>
Model restore_model(Index n_features, const py::dict& hyper_parameters,
                    std::optional<Vector<typename Model::Scalar>> parameters,
                    std::optional<Layers<typename Model::Scalar>> encoder,
                    std::optional<Layers<typename Model::Scalar>> decoder,
                    std::optional<Vector<typename Model::Scalar>> log_variance,
                    std::optional<std::tuple<Vector<typename Model::Scalar>, Vector<typename Model::Scalar>,
                                             std::int64_t>>
                        optimizer_state,
                    const py::dict& history) {
  using T = typename Model::Scalar;
  const Model shape = make_model<Model>(n_features, hyper_parameters);
  TrainingState<T> state;
  require(parameters.has_value() != (encoder.has_value() || decoder.has_value()),
          "give either parameters or the encoder and decoder layers");
  if (parameters) {
    require(!log_variance, "log_variance is part of the flat parameters");
    state.parameters = std::move(*parameters);
  } else {
    require(encoder && decoder, "give both the encoder and the decoder layers");
    state.parameters = Vector<T>::Zero(shape.n_parameters());
    write_layers(shape.encoder(), "encoder", std::get<0>(*encoder), std::get<1>(*encoder), state.parameters);
    write_layers(shape.decoder(), "decoder", std::get<0>(*decoder), std::get<1>(*decoder), state.parameters);
    if (log_variance) {
      if constexpr (std::is_same_v<Model, VAE<T>>) {
        require(log_variance->size() == shape.n_log_variance(),
                "log_variance must have " + std::to_string(shape.n_log_variance()) + " entries");
        state.parameters.segment(shape.log_variance_offset(), shape.n_log_variance()) = *log_variance;
      } else {
        require(false, "log_variance is a VAE's");
      }
    }
  }
  if (optimizer_state) {
    state.optimizer.first_moment = std::move(std::get<0>(*optimizer_state));
    state.optimizer.second_moment = std::move(std::get<1>(*optimizer_state));
    state.optimizer.step = std::get<2>(*optimizer_state);
  }
  for (const auto& [key, value] : history) {
    const std::string name = py::cast<std::string>(key);
    TrainingHistory& h = state.history;
    if (name == "n_iter") h.n_iter = py::cast<int>(value);
    else if (name == "loss_curve") h.loss_curve = py::cast<std::vector<double>>(value);
    else if (name == "validation_scores") h.validation_scores = py::cast<std::vector<double>>(value);
    else if (name == "reconstruction_curve") h.reconstruction_curve = py::cast<std::vector<double>>(value);
    else if (name == "kl_curve") h.kl_curve = py::cast<std::vector<double>>(value);
    else require(false, "history has no entry \"" + name + "\"");
  }
  return Model(shape.config(), std::move(state));
}

// The parts shared by both models: parameters, layers, optimiser state, history, training.
template <class Model, class Class>
void bind_common(Class& cls) {
  using T = typename Model::Scalar;
  using Ref = ConstRowMatrixRef<T>;
  cls.def(py::init(&make_model<Model>), py::arg("n_features"), py::arg("hyper_parameters"))
      .def_static("restore", &restore_model<Model>, py::arg("n_features"), py::arg("hyper_parameters"),
                  py::arg("parameters") = py::none(), py::kw_only(), py::arg("encoder") = py::none(),
                  py::arg("decoder") = py::none(), py::arg("log_variance") = py::none(),
                  py::arg("optimizer_state") = py::none(), py::arg("history") = py::dict())
      .def_property_readonly("n_parameters", &Model::n_parameters)
      .def_property_readonly("parameters", [](const Model& m) { return Vector<T>(m.parameters()); })
      .def(
          "initialize", [](Model& m, std::uint64_t seed, Ref X) { m.initialize(seed, X); }, py::arg("seed"),
          py::arg("X"), py::call_guard<py::gil_scoped_release>())
      .def(
          "initialize",
          [](Model& m, std::uint64_t seed, const CsrArrays<T>& X) { m.initialize(seed, DataBlock<T>::sparse(X.view())); },
          py::arg("seed"), py::arg("X"), py::call_guard<py::gil_scoped_release>())
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
      .def("get_optimizer_state",
           [](const Model& m) {
             const auto& s = m.optimizer_state();
             return py::make_tuple(Vector<T>(s.first_moment), Vector<T>(s.second_moment), s.step);
           })
      .def_property_readonly("loss_curve", [](const Model& m) { return m.history().loss_curve; })
      .def_property_readonly("reconstruction_curve", [](const Model& m) { return m.history().reconstruction_curve; })
      .def_property_readonly("kl_curve", [](const Model& m) { return m.history().kl_curve; })
      .def_property_readonly("validation_scores", [](const Model& m) { return m.history().validation_scores; })
      .def_property_readonly("best_loss", [](const Model& m) { return m.history().best_loss; })
      .def_property_readonly("best_validation_score", [](const Model& m) { return m.history().best_validation_score; })
      .def_property_readonly("n_iter", [](const Model& m) { return m.history().n_iter; })
      .def_property_readonly("converged", [](const Model& m) { return m.history().converged; })
      .def(
          "fit",
          [](Model& m, Ref X, const py::dict& options, std::uint64_t seed, int n_threads, bool partial,
             py::object on_batch, py::object on_epoch) {
            InMemoryBlock<T> data(DataBlock<T>::dense(X));
            train(m, data, make_options(options, seed, n_threads), partial, std::move(on_batch), std::move(on_epoch));
          },
          py::arg("X"), py::arg("options"), py::arg("seed"), py::arg("n_threads") = 0, py::arg("partial") = false,
          py::arg("on_batch") = py::none(), py::arg("on_epoch") = py::none())
      .def(
          "fit",
          [](Model& m, const CsrArrays<T>& X, const py::dict& options, std::uint64_t seed, int n_threads, bool partial,
             py::object on_batch, py::object on_epoch) {
            InMemoryBlock<T> data(DataBlock<T>::sparse(X.view()));
            train(m, data, make_options(options, seed, n_threads), partial, std::move(on_batch), std::move(on_epoch));
          },
          py::arg("X"), py::arg("options"), py::arg("seed"), py::arg("n_threads") = 0, py::arg("partial") = false,
          py::arg("on_batch") = py::none(), py::arg("on_epoch") = py::none())
      .def(
          "fit_blocks",
          [](Model& m, std::vector<Index> block_rows, py::function fetch, const py::dict& options, std::uint64_t seed,
             int n_threads, bool partial, py::object on_batch, py::object on_epoch) {
            PythonBlocks<T> data(std::move(block_rows), std::move(fetch));
            train(m, data, make_options(options, seed, n_threads), partial, std::move(on_batch), std::move(on_epoch));
          },
          py::arg("block_rows"), py::arg("fetch"), py::arg("options"), py::arg("seed"), py::arg("n_threads") = 0,
          py::arg("partial") = false, py::arg("on_batch") = py::none(), py::arg("on_epoch") = py::none())
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
  bind_common<Model>(cls);
  cls.def_property_readonly(
         "log_variance",
         [](const Model& m) { return Vector<T>(m.parameters().segment(m.log_variance_offset(), m.n_log_variance())); })
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
      .def("impute", &Model::impute, py::arg("X"), py::arg("n_samples"), py::arg("seed"), py::arg("sample"),
           py::arg("n_threads") = 0, py::call_guard<py::gil_scoped_release>())
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
  // The range the VAE clamps every log-variance to (vae.hpp).
  m.attr("log_variance_range") = py::make_tuple(kMinLogVariance, kMaxLogVariance);
}

}  // namespace vaekit::python
