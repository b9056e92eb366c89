// Counter-based random numbers (Philox4x32-10, Salmon et al., SC 2011).
//
// A Philox stream is a pure function of (seed, stream id, position): there is
// no hidden state to share between threads. vaekit derives the stream id from
// what the numbers are for (a sample row, an epoch, a layer), so the same
// seed gives the same numbers whatever the thread count or the order in which
// rows arrive.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace vaekit {

class Philox {
 public:
  // `seed` is the key; `stream` selects an independent sequence.
  explicit Philox(std::uint64_t seed, std::uint64_t stream = 0) noexcept
      : key_{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)},
        stream_(stream) {}

  // Next uniformly distributed 32-bit word.
  std::uint32_t next_u32() noexcept {
    if (used_ == 4) refill();
    return block_[used_++];
  }

  // Uniform double in the open interval (0, 1): 53 random bits, never 0 or 1.
  double uniform() noexcept {
    const std::uint64_t hi = next_u32() >> 5;  // 27 bits
    const std::uint64_t lo = next_u32() >> 6;  // 26 bits
    return (static_cast<double>((hi << 26) | lo) + 0.5) * (1.0 / 9007199254740992.0);
  }

  // Standard normal draw (Box-Muller; the second value is kept for the next call).
  double normal() noexcept {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double radius = std::sqrt(-2.0 * std::log(uniform()));
    const double angle = 6.283185307179586476925286766559 * uniform();
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

  // Fills out[0..n) with standard normal draws.
  template <class T>
  void fill_normal(T* out, std::int64_t n) noexcept {
    for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(normal());
  }

 private:
  static constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  static constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;

  static void mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) noexcept {
    const std::uint64_t product = static_cast<std::uint64_t>(a) * b;
    hi = static_cast<std::uint32_t>(product >> 32);
    lo = static_cast<std::uint32_t>(product);
  }

  // Ten Philox rounds over the 128-bit counter (position, stream).
  void refill() noexcept {
    std::array<std::uint32_t, 4> c{static_cast<std::uint32_t>(position_),
                                   static_cast<std::uint32_t>(position_ >> 32),
                                   static_cast<std::uint32_t>(stream_),
                                   static_cast<std::uint32_t>(stream_ >> 32)};
    std::array<std::uint32_t, 2> k = key_;
    for (int round = 0; round < 10; ++round) {
      std::uint32_t hi0, lo0, hi1, lo1;
      mulhilo(kMul0, c[0], hi0, lo0);
      mulhilo(kMul1, c[2], hi1, lo1);
      c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
      k[0] += kWeyl0;
      k[1] += kWeyl1;
    }
    block_ = c;
    used_ = 0;
    ++position_;
  }

  std::array<std::uint32_t, 2> key_;
  std::uint64_t stream_;
  std::uint64_t position_ = 0;
  std::array<std::uint32_t, 4> block_{};
  int used_ = 4;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// Mixes two 64-bit values into one (SplitMix64 finaliser); used to derive
// independent seeds, e.g. one per purpose from a user's seed.
inline std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t salt) noexcept {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (salt + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace vaekit
