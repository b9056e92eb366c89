// Flush-to-zero for the hot loops (private to the library's sources).
#pragma once

#if defined(__SSE__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 1)
#include <xmmintrin.h>
#define VAEKIT_HAS_MXCSR 1
#endif

namespace vaekit::detail {

// Flushes denormal results and inputs to zero on the calling thread for its
// lifetime, then restores the previous mode (the setting is per thread, so
// nothing leaks to the caller or to other libraries' threads). Numbers below
// ~1e-38 (float) carry nothing useful for a gradient step, but each operation
// on them costs ~100 cycles on x86: a training run that drifted into them
// (tiny Adam moments, saturated logits) was measured 50% slower per epoch.
class FlushDenormals {
 public:
  FlushDenormals() {
#ifdef VAEKIT_HAS_MXCSR
    previous_ = _mm_getcsr();
    _mm_setcsr(previous_ | 0x8040u);  // FTZ (bit 15) and DAZ (bit 6)
#endif
  }
  ~FlushDenormals() {
#ifdef VAEKIT_HAS_MXCSR
    _mm_setcsr(previous_);
#endif
  }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  unsigned int previous_ = 0;
};

}  // namespace vaekit::detail
