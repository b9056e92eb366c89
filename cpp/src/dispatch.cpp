// Picks the kernels of one instruction set (kernels.hpp) at first use.
#include <cstdlib>
#include <string>
#include <type_traits>

#include "kernels.hpp"
#include "vaekit/common.hpp"

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_AMD64))
#include <immintrin.h>
#include <intrin.h>
#endif

// The copies of isa_kernels.cpp this build holds (CMakeLists.txt): each
// VAEKIT_ISA_<name> is defined when the copy for <name> is linked in.
#define VAEKIT_DECLARE_ISA(name)                         \
  namespace vaekit::detail::name {                       \
  const Kernels<float>* kernels_float();                 \
  const Kernels<double>* kernels_double();               \
  }
#ifdef VAEKIT_ISA_baseline
VAEKIT_DECLARE_ISA(baseline)
#endif
#ifdef VAEKIT_ISA_avx2
VAEKIT_DECLARE_ISA(avx2)
#endif
#ifdef VAEKIT_ISA_avx512
VAEKIT_DECLARE_ISA(avx512)
#endif

namespace vaekit {

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

namespace detail {
namespace {

struct Isa {
  const char* name;
  int level;  // x86_64_level() it needs
  const Kernels<float>* (*float_kernels)();
  const Kernels<double>* (*double_kernels)();
};

// Best first.
constexpr Isa kIsas[] = {
#ifdef VAEKIT_ISA_avx512
    {"avx512", 4, &avx512::kernels_float, &avx512::kernels_double},
#endif
#ifdef VAEKIT_ISA_avx2
    {"avx2", 3, &avx2::kernels_float, &avx2::kernels_double},
#endif
#ifdef VAEKIT_ISA_baseline
    {"baseline", 1, &baseline::kernels_float, &baseline::kernels_double},
#endif
};

const Isa& choose() {
  const int level = x86_64_level();
  const char* requested = std::getenv("VAEKIT_ISA");
  const std::string name = requested == nullptr ? "" : requested;
  if (name.empty() || name == "auto") {
    for (const Isa& isa : kIsas)
      if (level >= isa.level) return isa;
    return kIsas[sizeof(kIsas) / sizeof(kIsas[0]) - 1];
  }
  std::string known;
  for (const Isa& isa : kIsas) {
    if (name == isa.name) {
      require(level >= isa.level, "VAEKIT_ISA=" + name + " was requested but this CPU does not support it");
      return isa;
    }
    known += (known.empty() ? "" : ", ") + std::string(isa.name);
  }
  throw InvalidArgument("VAEKIT_ISA=" + name + " is not an instruction set of this build; use auto or one of " +
                        known);
}

const Isa& chosen() {
  static const Isa& isa = choose();  // thread-safe; retried after a throw
  return isa;
}

// An instruction set's table for T.
template <class T>
const Kernels<T>* table(const Isa& isa) {
  if constexpr (std::is_same_v<T, float>) return isa.float_kernels();
  else return isa.double_kernels();
}

}  // namespace

template <class T>
const Kernels<T>& kernels() {
  static const Kernels<T>& chosen_table = *table<T>(chosen());
  return chosen_table;
}

template <class T>
const Kernels<T>* kernels_for(const char* name) {
  for (const Isa& isa : kIsas)
    if (std::string(name) == isa.name) return x86_64_level() >= isa.level ? table<T>(isa) : nullptr;
  return nullptr;
}

template const Kernels<float>& kernels<float>();
template const Kernels<double>& kernels<double>();
template const Kernels<float>* kernels_for<float>(const char*);
template const Kernels<double>* kernels_for<double>(const char*);

}  // namespace detail

const char* active_isa() { return detail::chosen().name; }

std::vector<std::string> compiled_isas() {
  std::vector<std::string> names;
  for (const detail::Isa& isa : detail::kIsas) names.emplace_back(isa.name);
  return names;
}

bool all_finite(const float* values, Index n) { return detail::kernels<float>().all_finite(values, n); }
bool all_finite(const double* values, Index n) { return detail::kernels<double>().all_finite(values, n); }

}  // namespace vaekit
