// The extension module: only wires the register_* files together and reports
// how it was built.
#include "pybind11.hpp"

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_AMD64))
#include <immintrin.h>
#include <intrin.h>
#endif

namespace {

// True when the CPU and the OS support the x86-64-v3 level (AVX2, FMA, BMI2,
// F16C): the condition for importing the _core_avx2 variant.
bool cpu_supports_x86_64_v3() {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
         __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c");
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_AMD64))
  int info[4];
  __cpuid(info, 1);
  const bool fma = (info[2] & (1 << 12)) != 0, osxsave = (info[2] & (1 << 27)) != 0,
             avx = (info[2] & (1 << 28)) != 0, f16c = (info[2] & (1 << 29)) != 0;
  if (!(fma && osxsave && avx && f16c)) return false;
  if ((_xgetbv(0) & 0x6) != 0x6) return false;  // the OS saves the YMM registers
  __cpuidex(info, 7, 0);
  const bool bmi1 = (info[1] & (1 << 3)) != 0, avx2 = (info[1] & (1 << 5)) != 0, bmi2 = (info[1] & (1 << 8)) != 0;
  return bmi1 && avx2 && bmi2;
#else
  return false;
#endif
}

#define VAEKIT_STRINGIFY_(x) #x
#define VAEKIT_STRINGIFY(x) VAEKIT_STRINGIFY_(x)

}  // namespace

PYBIND11_MODULE(VAEKIT_MODULE_NAME, m) {
  m.doc() = "vaekit's C++ core (Eigen + OpenMP); use the estimators in the vaekit package instead.";
  m.attr("__version__") = VAEKIT_VERSION;
  m.attr("variant") = VAEKIT_STRINGIFY(VAEKIT_MODULE_NAME);
  m.def("openmp_enabled", &vaekit::openmp_enabled, "Whether the core was compiled with OpenMP.");
  m.def("cpu_supports_x86_64_v3", &cpu_supports_x86_64_v3,
        "Whether this CPU and OS run the x86-64-v3 (AVX2/FMA) variant of the core.");
  m.def("default_threads", [] { return vaekit::resolve_threads(0); }, "Threads used when n_threads is None.");

  // Invalid arguments at the C++ boundary become ValueError.
  pybind11::register_local_exception<vaekit::InvalidArgument>(m, "InvalidArgument", PyExc_ValueError);

  vaekit::python::register_ppca(m);
  vaekit::python::register_neural(m);
}
