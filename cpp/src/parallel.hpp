// OpenMP helpers private to the library's sources (OpenMP 2.0 only, so that
// MSVC builds it; everything compiles without OpenMP too).
#pragma once

#ifdef _OPENMP
#include <omp.h>
#endif

#include <exception>
#include <mutex>

#include "vaekit/common.hpp"

namespace vaekit::detail {

// Sets the OpenMP thread count of the calling thread for the lifetime of the
// scope. The setting is a per-thread ICV, so concurrent calls from several
// Python threads do not disturb each other (Eigen::setNbThreads is global).
class ThreadScope {
 public:
  explicit ThreadScope(int n_threads) : threads_(resolve_threads(n_threads)) {
#ifdef _OPENMP
    previous_ = omp_get_max_threads();
    omp_set_num_threads(threads_);
#endif
  }
  ~ThreadScope() {
#ifdef _OPENMP
    omp_set_num_threads(previous_);
#endif
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;
  int threads() const { return threads_; }

 private:
  int threads_;
  int previous_ = 1;
};

// Upper bound on the team size of the next parallel region.
inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Exceptions must not leave an OpenMP region: the first one is kept here and
// rethrown by the caller after the region ends.
class ExceptionSlot {
 public:
  template <class F>
  void run(F&& body) noexcept {
    try {
      body();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_;
};

}  // namespace vaekit::detail
