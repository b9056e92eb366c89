// Bindings of vaekit::PPCA<T> as PPCAFloat32 / PPCAFloat64. Arrays arrive as
// Eigen::Ref views of the numpy buffers (no copy when the dtype matches and
// the rows are contiguous); the GIL is released around every computation.
#include <sstream>
#include <string>
#include <utility>

#include "describe.hpp"
#include "pybind11.hpp"
#include "vaekit/ppca.hpp"

namespace vaekit::python {
namespace {

template <class T>
void register_ppca_type(py::module_& m, const char* name) {
  using Model = PPCA<T>;
  using Ref = ConstRowMatrixRef<T>;
  // module_local: the baseline and the AVX2 module each register the same C++ type.
  py::class_<Model>(m, name, py::module_local())
      .def(py::init<RowMatrix<T>, Vector<T>, T>(), py::arg("components"), py::arg("mean"),
           py::arg("noise_variance"))
      .def_static("restore", &Model::restore, py::arg("components"), py::arg("mean"), py::arg("noise_variance"),
                  py::arg("explained_variance"), py::arg("n_iter"), py::arg("log_likelihood_curve"))
      .def_static(
          "fit",
          [](Ref X, const py::dict& hyper_parameters, std::uint64_t seed, int n_threads, int verbose) {
            PPCAOptions options = config_from_dict<PPCAOptions>(hyper_parameters, Model::kKind);
            validate_fields(options, Model::kKind);
            options.seed = seed;
            options.n_threads = n_threads;
            bool interrupted = false;
            // Both run on the calling thread, during EM iterations and after
            // each: they take the GIL only to look for Ctrl-C and to print.
            ThrottledSignalCheck keep_going;
            options.keep_going = [&] {
              interrupted = !keep_going();
              return !interrupted;
            };
            options.on_iteration = [&](int iteration, double log_likelihood) {
              std::string line;
              if (verbose > 0) {
                std::ostringstream text;
                text.precision(12);
                text << "PPCA EM iteration " << iteration << " mean log-likelihood " << log_likelihood;
                line = text.str();
              }
              interrupted = !report_and_check_signals(line);
              return !interrupted;
            };
            Model model;
            {
              // Safe: X is a view kept alive by the caller's argument; no Python
              // object is touched until the GIL is re-acquired.
              py::gil_scoped_release release;
              model = Model::fit(X, options);
            }
            // (model, None), or after Ctrl-C (model of the last complete EM
            // iteration, the pending exception) for the caller to keep the
            // model and then raise.
            py::object interruption = py::none();
            if (interrupted) interruption = py::error_already_set().value();
            return py::make_tuple(std::move(model), interruption);
          },
          py::arg("X"), py::arg("hyper_parameters"), py::arg("seed"), py::arg("n_threads") = 0, py::arg("verbose") = 0)
      .def_property_readonly("components", &Model::components)
      .def_property_readonly("mean", &Model::mean)
      .def_property_readonly("noise_variance", &Model::noise_variance)
      .def_property_readonly("explained_variance", &Model::explained_variance)
      .def_property_readonly("n_iter", &Model::n_iter)
      .def_property_readonly("log_likelihood_curve", &Model::log_likelihood_curve)
      .def("transform", &Model::transform, py::arg("X"), py::arg("n_threads") = 0, py::arg("allow_missing") = true,
           py::call_guard<py::gil_scoped_release>())
      .def(
          "encode",
          [](const Model& m, Ref X, int n_threads, bool allow_missing) {
            RowMatrix<T> mean, stddev;
            {
              // Safe: X is a view kept alive by the caller's argument; no
              // Python object is touched until the GIL is re-acquired.
              py::gil_scoped_release release;
              m.encode(X, mean, stddev, n_threads, allow_missing);
            }
            // Moved: numpy takes the buffers over without a copy.
            return py::make_tuple(std::move(mean), std::move(stddev));
          },
          py::arg("X"), py::arg("n_threads") = 0, py::arg("allow_missing") = true)
      .def("score_samples", &Model::score_samples, py::arg("X"), py::arg("n_threads") = 0,
           py::arg("allow_missing") = true, py::call_guard<py::gil_scoped_release>())
      .def("inverse_transform", &Model::inverse_transform, py::arg("Z"), py::call_guard<py::gil_scoped_release>())
      .def("sample", &Model::sample, py::arg("n_samples"), py::arg("seed"), py::arg("n_threads") = 0,
           py::call_guard<py::gil_scoped_release>())
      .def("covariance", &Model::covariance, py::call_guard<py::gil_scoped_release>())
      .def("precision", &Model::precision, py::call_guard<py::gil_scoped_release>());
}

}  // namespace

void register_ppca(py::module_& m) {
  register_ppca_type<float>(m, "PPCAFloat32");
  register_ppca_type<double>(m, "PPCAFloat64");
}

}  // namespace vaekit::python
