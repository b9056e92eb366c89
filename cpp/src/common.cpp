#include "vaekit/common.hpp"

#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace vaekit {

int resolve_threads(int n_threads) {
  if (n_threads > 0) return n_threads;
#ifdef _OPENMP
  return omp_get_num_procs();
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
