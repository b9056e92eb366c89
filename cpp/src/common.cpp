#include "vaekit/common.hpp"

#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace vaekit {

void check_n_threads(int n_threads) {
  require(n_threads <= kMaxThreads, "n_threads must be at most " + std::to_string(kMaxThreads) + ", got " +
                                        std::to_string(n_threads));
}

int resolve_threads(int n_threads) {
  check_n_threads(n_threads);
  if (n_threads > 0) return n_threads;
#ifdef _OPENMP
  // The calling thread's OpenMP setting: all cores unless OMP_NUM_THREADS (or
  // threadpoolctl, or a joblib worker) asks for fewer, which avoids oversubscription.
  return omp_get_max_threads();
#else
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
#endif
}

bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace vaekit
