// The extension module: only wires the register_* files together and reports
// how it was built.
#include "pybind11.hpp"

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_AMD64))
#include <immintrin.h>
#include <intrin.h>
#endif

namespace {

// Which x86-64 micro-architecture level the CPU and the OS support: 3 means
// AVX2, FMA, BMI2, F16C (the _core_avx2 variant), 4 adds AVX-512 F/BW/CD/DQ/VL
// (the _core_avx512 variant). 1 otherwise, and on other architectures.
int x86_64_level() {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
                  __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c");
  if (!v3) return 1;
  const bool v4 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("avx512vl");
  return v4 ? 4 : 3;
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_AMD64))
  int info[4];
  __cpuid(info, 1);
  const bool fma = (info[2] & (1 << 12)) != 0, osxsave = (info[2] & (1 << 27)) != 0,
             avx = (info[2] & (1 << 28)) != 0, f16c = (info[2] & (1 << 29)) != 0;
  if (!(fma && osxsave && avx && f16c)) return 1;
  const unsigned long long xcr0 = _xgetbv(0);
  if ((xcr0 & 0x6) != 0x6) return 1;  // the OS saves the YMM registers
  __cpuidex(info, 7, 0);
  const auto bit = [&](int b) { return (info[1] & (1 << b)) != 0; };
  if (!(bit(3) && bit(5) && bit(8))) return 1;  // BMI1, AVX2, BMI2
  const bool avx512 = bit(16) && bit(17) && bit(28) && bit(30) && bit(31);  // F, DQ, CD, BW, VL
  return (avx512 && (xcr0 & 0xE0) == 0xE0) ? 4 : 3;  // the OS saves the ZMM registers
#else
  return 1;
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
  m.def("x86_64_level", &x86_64_level,
        "x86-64 level this CPU and OS support: 4 (AVX-512), 3 (AVX2/FMA) or 1 (baseline or not x86).");
  m.def("default_threads", [] { return vaekit::resolve_threads(0); }, "Threads used when n_threads is None.");

  // Invalid arguments at the C++ boundary become ValueError.
  pybind11::register_local_exception<vaekit::InvalidArgument>(m, "InvalidArgument", PyExc_ValueError);

  vaekit::python::register_ppca(m);
  vaekit::python::register_neural(m);
  vaekit::python::register_io(m);
  vaekit::python::register_models(m);
}
