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

// Runs fit(options) with the GIL released, options from the hyper-parameters
// plus the run's seed and threads, EM's progress printed (verbose) and Ctrl-C
// checked on the way. Returns (model, None), or after Ctrl-C (the model of
// the last complete EM iteration, the pending exception) for the caller to
// keep the model and then raise.
template <class T, class Fit>
py::tuple fit_reporting(const py::dict& hyper_parameters, std::uint64_t seed, int n_threads, int verbose, Fit&& fit) {
  PPCAOptions options = config_from_dict<PPCAOptions>(hyper_parameters, PPCA<T>::kKind);
  validate_fields(options, PPCA<T>::kKind);
  options.seed = seed;
  options.n_threads = n_threads;
  bool interrupted = false;
  // Both run on the calling thread, during EM iterations and after each: they
  // take the GIL only to look for Ctrl-C and to print.
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
  PPCA<T> model;
  {
    // No Python object is touched until the GIL is re-acquired (callbacks take it).
    py::gil_scoped_release release;
    model = fit(options);
  }
  py::object interruption = py::none();
  if (interrupted) interruption = py::error_already_set().value();
  return py::make_tuple(std::move(model), interruption);
}

// PPCAMoments cross the binding as (count, mean, sum_of_squares, scatter or None).
template <class T>
py::tuple moments_to_tuple(PPCAMoments<T> m) {
  py::object scatter = py::none();
  if (m.scatter.size() > 0) scatter = py::cast(std::move(m.scatter));
  return py::make_tuple(m.count, std::move(m.mean), m.sum_of_squares, scatter);
}

template <class T>
PPCAMoments<T> moments_from_tuple(const py::tuple& t) {
  require(t.size() == 4, "moments must be a (count, mean, sum_of_squares, scatter) tuple");
  PPCAMoments<T> m;
  m.count = t[0].cast<double>();
  m.mean = t[1].cast<Eigen::VectorXd>();
  m.sum_of_squares = t[2].cast<double>();
  if (!t[3].is_none()) m.scatter = t[3].cast<Matrix<T>>();
  require(m.count >= 0, "moments: the count must be non-negative");
  require(m.scatter.size() == 0 || (m.scatter.rows() == m.mean.size() && m.scatter.cols() == m.mean.size()),
          "moments: the scatter must be D x D");
  return m;
}

// PPCAMissingStatistics cross the binding as
// (rows, observed, sum_x, sum_xx, zz, z, xz, log_likelihood).
template <class T>
py::tuple missing_statistics_to_tuple(PPCAMissingStatistics<T> s) {
  return py::make_tuple(s.rows, std::move(s.observed), std::move(s.sum_x), std::move(s.sum_xx), std::move(s.zz),
                        std::move(s.z), std::move(s.xz), s.log_likelihood);
}

template <class T>
PPCAMissingStatistics<T> missing_statistics_from_tuple(const py::tuple& t) {
  require(t.size() == 8, "missing-value statistics must be a (rows, observed, sum_x, sum_xx, zz, z, xz, "
                         "log_likelihood) tuple");
  PPCAMissingStatistics<T> s;
  s.rows = t[0].cast<double>();
  s.observed = t[1].cast<Eigen::VectorXd>();
  s.sum_x = t[2].cast<Eigen::VectorXd>();
  s.sum_xx = t[3].cast<Eigen::VectorXd>();
  s.zz = t[4].cast<Eigen::MatrixXd>();
  s.z = t[5].cast<Eigen::MatrixXd>();
  s.xz = t[6].cast<Eigen::MatrixXd>();
  s.log_likelihood = t[7].cast<double>();
  const Index D = s.observed.size(), d = s.z.rows();
  require(s.sum_x.size() == D && s.sum_xx.size() == D && s.zz.rows() == d * (d + 1) / 2 && s.zz.cols() == D &&
              s.z.cols() == D && s.xz.rows() == D && s.xz.cols() == d,
          "missing-value statistics: inconsistent shapes");
  return s;
}

template <class T>
void register_ppca_type(py::module_& m, const char* name, const char* csr_name) {
  using Model = PPCA<T>;
  using Ref = ConstRowMatrixRef<T>;
  using Csr = CsrArrays<T>;
  using Moments = PPCAMoments<T>;
  py::class_<Csr>(m, csr_name, py::module_local())
      .def(py::init<typename Csr::ValueArray, typename Csr::IndexArray, typename Csr::IndexArray, Index, Index>(),
           py::arg("data"), py::arg("indices"), py::arg("indptr"), py::arg("n_rows"), py::arg("n_cols"));
  // module_local: the baseline and the AVX2 module each register the same C++ type.
  py::class_<Model>(m, name, py::module_local())
      .def(py::init<RowMatrix<T>, Vector<T>, T>(), py::arg("components"), py::arg("mean"),
           py::arg("noise_variance"))
      .def_static("restore", &Model::restore, py::arg("components"), py::arg("mean"), py::arg("noise_variance"),
                  py::arg("explained_variance"), py::arg("n_iter"), py::arg("log_likelihood_curve"))
      .def_static(
          "fit",
          [](Ref X, const py::dict& hyper_parameters, std::uint64_t seed, int n_threads, int verbose) {
            // Safe: X is a view kept alive by the caller's argument.
            return fit_reporting<T>(hyper_parameters, seed, n_threads, verbose,
                                    [&](const PPCAOptions& options) { return Model::fit(X, options); });
          },
          py::arg("X"), py::arg("hyper_parameters"), py::arg("seed"), py::arg("n_threads") = 0, py::arg("verbose") = 0)
      .def_static(
          "fit",
          [](const Csr& X, const py::dict& hyper_parameters, std::uint64_t seed, int n_threads, int verbose) {
            return fit_reporting<T>(hyper_parameters, seed, n_threads, verbose,
                                    [&](const PPCAOptions& options) { return Model::fit(X.view(), options); });
          },
          py::arg("X"), py::arg("hyper_parameters"), py::arg("seed"), py::arg("n_threads") = 0, py::arg("verbose") = 0)
      .def_static(
          "fit_moments",
          [](const py::tuple& moments, Index n_components, int n_threads) {
            const Moments m = moments_from_tuple<T>(moments);
            py::gil_scoped_release release;
            return Model::fit(m, n_components, n_threads);
          },
          py::arg("moments"), py::arg("n_components"), py::arg("n_threads") = 0)
      .def_static(
          "fit_em",
          [](const py::tuple& moments, const py::function& scatter_product, const py::dict& hyper_parameters,
             std::uint64_t seed, int n_threads, int verbose) {
            const Moments m = moments_from_tuple<T>(moments);
            // Called on the fitting thread with the GIL released: takes it for
            // the Python callback (a dask reduction, say), whose exceptions
            // propagate out of fit_em unchanged.
            const auto product = [&](const Matrix<T>& W) {
              py::gil_scoped_acquire gil;
              return scatter_product(W).template cast<Matrix<T>>();
            };
            return fit_reporting<T>(hyper_parameters, seed, n_threads, verbose,
                                    [&](const PPCAOptions& options) { return Model::fit_em(m, product, options); });
          },
          py::arg("moments"), py::arg("scatter_product"), py::arg("hyper_parameters"), py::arg("seed"),
          py::arg("n_threads") = 0, py::arg("verbose") = 0)
      .def_static(
          "fit_em_missing",
          [](const py::function& statistics, const py::dict& hyper_parameters, std::uint64_t seed, int n_threads,
             int verbose) {
            // As fit_em: the callback runs on the fitting thread, taking the GIL.
            const auto of = [&](const Matrix<T>& W, const Vector<T>& mean, T noise_variance) {
              py::gil_scoped_acquire gil;
              return missing_statistics_from_tuple<T>(statistics(W, mean, noise_variance));
            };
            return fit_reporting<T>(hyper_parameters, seed, n_threads, verbose,
                                    [&](const PPCAOptions& options) { return Model::fit_em(of, options); });
          },
          py::arg("statistics"), py::arg("hyper_parameters"), py::arg("seed"), py::arg("n_threads") = 0,
          py::arg("verbose") = 0)
      .def_static(
          "missing_statistics",
          [](Ref X, const Matrix<T>& W, const Vector<T>& mean, T noise_variance, int n_threads) {
            PPCAMissingStatistics<T> s;
            {
              py::gil_scoped_release release;
              s = PPCAMissingStatistics<T>::of(X, W, mean, noise_variance, n_threads);
            }
            return missing_statistics_to_tuple<T>(std::move(s));
          },
          py::arg("X"), py::arg("W"), py::arg("mean"), py::arg("noise_variance"), py::arg("n_threads") = 0)
      .def_static(
          "missing_statistics",
          [](const Csr& X, const Matrix<T>& W, const Vector<T>& mean, T noise_variance, int n_threads) {
            PPCAMissingStatistics<T> s;
            {
              py::gil_scoped_release release;
              s = PPCAMissingStatistics<T>::of(X.view(), W, mean, noise_variance, n_threads);
            }
            return missing_statistics_to_tuple<T>(std::move(s));
          },
          py::arg("X"), py::arg("W"), py::arg("mean"), py::arg("noise_variance"), py::arg("n_threads") = 0)
      .def_static(
          "merge_missing_statistics",
          [](const py::tuple& a, const py::tuple& b) {
            PPCAMissingStatistics<T> s = missing_statistics_from_tuple<T>(a);
            s.merge(missing_statistics_from_tuple<T>(b));
            return missing_statistics_to_tuple<T>(std::move(s));
          },
          py::arg("a"), py::arg("b"))
      .def_static(
          "moments",
          [](Ref X, bool with_scatter, int n_threads) {
            Moments m;
            {
              py::gil_scoped_release release;
              m = Moments::of(X, with_scatter, n_threads);
            }
            return moments_to_tuple<T>(std::move(m));
          },
          py::arg("X"), py::arg("with_scatter") = true, py::arg("n_threads") = 0)
      .def_static(
          "moments",
          [](const Csr& X, bool with_scatter, int n_threads) {
            Moments m;
            {
              py::gil_scoped_release release;
              m = Moments::of(X.view(), with_scatter, n_threads);
            }
            return moments_to_tuple<T>(std::move(m));
          },
          py::arg("X"), py::arg("with_scatter") = true, py::arg("n_threads") = 0)
      .def_static(
          "merge_moments",
          [](const py::tuple& a, const py::tuple& b) {
            Moments m = moments_from_tuple<T>(a);
            const Moments other = moments_from_tuple<T>(b);
            {
              py::gil_scoped_release release;
              m.merge(other);
            }
            return moments_to_tuple<T>(std::move(m));
          },
          py::arg("a"), py::arg("b"))
      .def_static(
          "scatter_product",
          [](Ref X, const Vector<T>& mean, const Matrix<T>& W, int n_threads) {
            return Model::scatter_product(X, mean, W, n_threads);
          },
          py::arg("X"), py::arg("mean"), py::arg("W"), py::arg("n_threads") = 0,
          py::call_guard<py::gil_scoped_release>())
      .def_static(
          "scatter_product",
          [](const Csr& X, const Vector<T>& mean, const Matrix<T>& W, int n_threads) {
            return Model::scatter_product(X.view(), mean, W, n_threads);
          },
          py::arg("X"), py::arg("mean"), py::arg("W"), py::arg("n_threads") = 0,
          py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("components", &Model::components)
      .def_property_readonly("mean", &Model::mean)
      .def_property_readonly("noise_variance", &Model::noise_variance)
      .def_property_readonly("explained_variance", &Model::explained_variance)
      .def_property_readonly("n_iter", &Model::n_iter)
      .def_property_readonly("log_likelihood_curve", &Model::log_likelihood_curve)
      .def("m_inverse", &Model::m_inverse, "M^-1, M = W^T W + sigma^2 I: transform(x) = M^-1 W^T (x - mean).")
      .def("transform", py::overload_cast<Ref, int, bool>(&Model::transform, py::const_), py::arg("X"),
           py::arg("n_threads") = 0, py::arg("allow_missing") = true, py::call_guard<py::gil_scoped_release>())
      .def(
          "transform",
          [](const Model& m, const Csr& X, int n_threads, bool allow_missing) {
            return m.transform(X.view(), n_threads, allow_missing);
          },
          py::arg("X"), py::arg("n_threads") = 0, py::arg("allow_missing") = true,
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
      .def(
          "encode",
          [](const Model& m, const Csr& X, int n_threads, bool allow_missing) {
            RowMatrix<T> mean, stddev;
            {
              py::gil_scoped_release release;
              m.encode(X.view(), mean, stddev, n_threads, allow_missing);
            }
            return py::make_tuple(std::move(mean), std::move(stddev));
          },
          py::arg("X"), py::arg("n_threads") = 0, py::arg("allow_missing") = true)
      .def("score_samples", py::overload_cast<Ref, int, bool>(&Model::score_samples, py::const_), py::arg("X"),
           py::arg("n_threads") = 0, py::arg("allow_missing") = true, py::call_guard<py::gil_scoped_release>())
      .def(
          "score_samples",
          [](const Model& m, const Csr& X, int n_threads, bool allow_missing) {
            return m.score_samples(X.view(), n_threads, allow_missing);
          },
          py::arg("X"), py::arg("n_threads") = 0, py::arg("allow_missing") = true,
          py::call_guard<py::gil_scoped_release>())
      // Safe without the GIL: X is a view of a numpy buffer kept alive by the
      // caller's argument, and the result is cast after the GIL is re-acquired.
      .def("impute", &Model::impute, py::arg("X"), py::arg("sample") = false, py::arg("seed") = 0,
           py::arg("n_threads") = 0, py::call_guard<py::gil_scoped_release>())
      .def("inverse_transform", &Model::inverse_transform, py::arg("Z"), py::call_guard<py::gil_scoped_release>())
      .def("sample", &Model::sample, py::arg("n_samples"), py::arg("seed"), py::arg("n_threads") = 0,
           py::call_guard<py::gil_scoped_release>())
      .def("covariance", &Model::covariance, py::call_guard<py::gil_scoped_release>())
      .def("precision", &Model::precision, py::call_guard<py::gil_scoped_release>());
}

}  // namespace

void register_ppca(py::module_& m) {
  register_ppca_type<float>(m, "PPCAFloat32", "CsrFloat32");
  register_ppca_type<double>(m, "PPCAFloat64", "CsrFloat64");
}

}  // namespace vaekit::python
