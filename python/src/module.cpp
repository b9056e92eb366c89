// The extension module: only wires the register_* files together and reports
// how it was built.
#include "pybind11.hpp"

#define VAEKIT_STRINGIFY_(x) #x
#define VAEKIT_STRINGIFY(x) VAEKIT_STRINGIFY_(x)

PYBIND11_MODULE(_core, m) {
  m.doc() = "vaekit's C++ core (Eigen + OpenMP); use the estimators in the vaekit package instead.";
  m.attr("__version__") = VAEKIT_VERSION;
  m.def("openmp_enabled", &vaekit::openmp_enabled, "Whether the core was compiled with OpenMP.");
  m.def("x86_64_level", &vaekit::x86_64_level,
        "x86-64 level this CPU and OS support: 4 (AVX-512), 3 (AVX2/FMA) or 1 (baseline or not x86).");
  m.def("active_isa", &vaekit::active_isa,
        "The instruction set of the kernels in use: baseline, avx2 or avx512 (VAEKIT_ISA forces one).");
  m.def("compiled_isas", &vaekit::compiled_isas,
        "The instruction sets this build holds kernels for, best first (whether or not this CPU runs them).");
  m.def("default_threads", [] { return vaekit::resolve_threads(0); }, "Threads used when n_threads is None.");
  m.attr("eigen_version") = VAEKIT_STRINGIFY(EIGEN_WORLD_VERSION) "." VAEKIT_STRINGIFY(
      EIGEN_MAJOR_VERSION) "." VAEKIT_STRINGIFY(EIGEN_MINOR_VERSION);
#ifdef _OPENMP
  m.attr("openmp_version") = _OPENMP;  // the specification's date, e.g. 201511 (4.5)
#else
  m.attr("openmp_version") = 0;
#endif
  m.attr("compiler") = VAEKIT_COMPILER;
  m.attr("build_flags") = VAEKIT_BUILD_FLAGS;
  m.attr("kernel_flags") = VAEKIT_KERNEL_FLAGS;

  // Invalid arguments at the C++ boundary become ValueError.
  pybind11::register_local_exception<vaekit::InvalidArgument>(m, "InvalidArgument", PyExc_ValueError);

  vaekit::python::register_ppca(m);
  vaekit::python::register_neural(m);
  vaekit::python::register_io(m);
  vaekit::python::register_models(m);
}
