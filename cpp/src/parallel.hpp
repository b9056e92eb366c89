// OpenMP helpers private to the library's sources (OpenMP 2.0 only, so that
// MSVC builds it; everything compiles without OpenMP too).
#pragma once

#ifdef _OPENMP
#include <omp.h>
#endif

#include <exception>
#include <mutex>
#include <vector>

#include "products.hpp"
#include "vaekit/common.hpp"

namespace vaekit::detail {

// ------------------------------------------------------ when to go parallel
// The one policy for every parallel region of the library: a region is worth
// a thread team when its work would keep one core busy for at least
// kMinParallelSeconds. Below that, waking the team (and, when the cores are
// shared with other work, waiting for a descheduled team member) costs more
// than the split saves. Work is counted in two currencies, converted to time
// by one core's throughput: arithmetic in blocked, vectorised kernels
// (products: 2 m k n flops) and values streamed by element-wise passes (scans,
// activations, residuals). Call sites state their work; the thresholds live
// here only. (How finely a region splits its work once it has a team, e.g.
// BatchSlicer's rows per slice, is the call site's.)
struct Work {
  double flops = 0;   // multiply-adds count 2
  double values = 0;  // values read or written by element-wise passes
  static Work of_flops(double flops) { return {flops, 0}; }
  static Work of_values(double values) { return {0, values}; }
};
constexpr double kMinParallelSeconds = 1e-4;
constexpr double kFlopsPerSecond = 2e10;   // one core in a blocked product (conservative: no AVX-512, float64)
constexpr double kValuesPerSecond = 2e9;   // one core in an element-wise pass
inline double single_core_seconds(const Work& work) {
  return work.flops / kFlopsPerSecond + work.values / kValuesPerSecond;
}
inline bool worth_parallel(const Work& work) { return single_core_seconds(work) >= kMinParallelSeconds; }

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

inline int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
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

// Products split across threads by rows. Eigen's own GEMM threading is off
// (EIGEN_DONT_PARALLELIZE): its threads spin-wait for each other at every
// block, and when another process shares the cores that turns a 0.1 s product
// into 1.5 s. Here each thread takes one contiguous slice of rows and meets
// the others once, at the end.

// Whether a product of A and B (or A^T and B) is worth more than one thread.
template <class Lhs, class Rhs>
bool product_worth_parallel(const Lhs& A, const Rhs& B) {
  return worth_parallel(
      Work::of_flops(2.0 * static_cast<double>(A.rows()) * static_cast<double>(A.cols()) * static_cast<double>(B.cols())));
}

// The contiguous slice [begin, end) of n rows that the calling thread of the
// current parallel region owns (all of them outside a region).
struct RowSlice {
  Index begin, end;
  Index size() const { return end - begin; }
};
inline RowSlice this_thread_rows(Index n) {
#ifdef _OPENMP
  const Index threads = omp_get_num_threads(), t = omp_get_thread_num();
#else
  const Index threads = 1, t = 0;
#endif
  return {n * t / threads, n * (t + 1) / threads};
}

// out = A * B, the rows of A (and out) split among the threads; the
// products run in the dispatched kernels (products.hpp).
template <class Out, class Lhs, class Rhs>
void parallel_product(Out& out, const Lhs& A, const Rhs& B) {
#pragma omp parallel if(product_worth_parallel(A, B))
  {
    const RowSlice rows = this_thread_rows(A.rows());
    if (rows.size() > 0) gemm(A.middleRows(rows.begin, rows.size()), B, out.middleRows(rows.begin, rows.size()));
  }
}

// A^T * B (A is n x p, B is n x q: a p x q result summed over n), each
// thread summing one slice of rows; the partial sums are added in thread
// order, so a given thread count always gives the same bits.
template <class T, class Lhs, class Rhs>
Matrix<T> parallel_transposed_product(const Lhs& A, const Rhs& B) {
  const int threads = product_worth_parallel(A, B) ? max_threads() : 1;
  std::vector<Matrix<T>> partial(threads, Matrix<T>::Zero(A.cols(), B.cols()));
#pragma omp parallel num_threads(threads) if(threads > 1)
  {
    const RowSlice rows = this_thread_rows(A.rows());
    if (rows.size() > 0) {
      gemm(A.middleRows(rows.begin, rows.size()).transpose(), B.middleRows(rows.begin, rows.size()),
           partial[thread_id()]);
    }
  }
  for (int t = 1; t < threads; ++t) partial[0] += partial[t];
  return partial[0];
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
