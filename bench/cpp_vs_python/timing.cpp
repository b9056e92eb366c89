// vaekit_timing MODEL DATA N D WHAT REPEATS THREADS
//
// Loads a float32 VAE saved from Python and N x D float32 rows (raw, C
// order), then times WHAT REPEATS times and prints one line of seconds per
// repetition: "transform" (all N rows), "one" (one-sample transform of row
// 0, the median of 1,000 calls per repetition) or "epoch" (one partial_fit
// epoch over the N rows, batches of 128). The active instruction set is
// printed first. With default flags: what a C++ service gets.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <vaekit/io.hpp>

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: vaekit_timing MODEL DATA N D WHAT REPEATS THREADS\n");
    return 2;
  }
  using Clock = std::chrono::steady_clock;
  const vaekit::Index n = std::atol(argv[3]), D = std::atol(argv[4]);
  const std::string what = argv[5];
  const int repeats = std::atoi(argv[6]), threads = std::atoi(argv[7]);
  vaekit::VAE<float> model = vaekit::load_vae<float>(argv[1]);
  vaekit::RowMatrix<float> X(n, D);
  std::ifstream data(argv[2], std::ios::binary);
  data.read(reinterpret_cast<char*>(X.data()), static_cast<std::streamsize>(sizeof(float) * n * D));
  if (!data) {
    std::fprintf(stderr, "cannot read %s\n", argv[2]);
    return 1;
  }
  std::printf("isa %s\n", vaekit::active_isa());
  vaekit::TrainingOptions options;
  options.n_threads = threads;
  const vaekit::RowMatrix<float> one = X.topRows(1);
  volatile float sink = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    if (what == "transform") {
      sink = sink + model.transform(X, threads)(0, 0);
    } else if (what == "one") {
      std::vector<double> calls(1000);
      for (double& call : calls) {
        const auto t = Clock::now();
        sink = sink + model.transform(one, threads)(0, 0);
        call = std::chrono::duration<double>(Clock::now() - t).count();
      }
      std::nth_element(calls.begin(), calls.begin() + 500, calls.end());
      std::printf("%.9g\n", calls[500]);
      continue;
    } else if (what == "epoch") {
      model.partial_fit(X, options);
    } else {
      std::fprintf(stderr, "unknown WHAT %s\n", what.c_str());
      return 2;
    }
    std::printf("%.9g\n", std::chrono::duration<double>(Clock::now() - start).count());
  }
  return 0;
}
