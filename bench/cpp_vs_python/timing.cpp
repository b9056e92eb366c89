// vaekit_timing MODEL DATA N D WHAT REPEATS THREADS
//
// Loads a float32 model saved from Python (a VAE or a PPCA) and N x D
// float32 rows (raw, C order), then times WHAT REPEATS times and prints one
// line of seconds per repetition: "transform" (all N rows), "one" (one-sample
// transform of row 0, the median of 1,000 calls per repetition), "epoch" (a
// VAE: one partial_fit epoch over the N rows, batches of 128), "fit" (a
// PPCA: a closed-form fit with the model's n_components) or "em" (a PPCA:
// 20 EM iterations, tol = 0). The active instruction set is printed first.
// With default flags: what a C++ service gets.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <vaekit/io.hpp>

namespace {

using Clock = std::chrono::steady_clock;

// The median of 1,000 calls of f, in seconds.
template <class F>
double median_call(F&& f) {
  std::vector<double> calls(1000);
  for (double& call : calls) {
    const auto t = Clock::now();
    f();
    call = std::chrono::duration<double>(Clock::now() - t).count();
  }
  std::nth_element(calls.begin(), calls.begin() + 500, calls.end());
  return calls[500];
}

// Times WHAT `repeats` times, printing seconds per repetition: "transform"
// and "one" for any model, else other(), which runs the model's own
// operation and returns false for an unknown WHAT.
template <class Model, class Other>
int time_repeats(Model& model, const vaekit::RowMatrix<float>& X, const std::string& what, int repeats, int threads,
                 Other&& other) {
  const vaekit::RowMatrix<float> one = X.topRows(1);
  volatile float sink = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    if (what == "transform") {
      sink = sink + model.transform(X, threads)(0, 0);
    } else if (what == "one") {
      std::printf("%.9g\n", median_call([&] { sink = sink + model.transform(one, threads)(0, 0); }));
      continue;
    } else if (!other()) {
      std::fprintf(stderr, "unknown WHAT %s for this model\n", what.c_str());
      return 2;
    }
    std::printf("%.9g\n", std::chrono::duration<double>(Clock::now() - start).count());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: vaekit_timing MODEL DATA N D WHAT REPEATS THREADS\n");
    return 2;
  }
  const vaekit::Index n = std::atol(argv[3]), D = std::atol(argv[4]);
  const std::string what = argv[5];
  const int repeats = std::atoi(argv[6]), threads = std::atoi(argv[7]);
  vaekit::RowMatrix<float> X(n, D);
  std::ifstream data(argv[2], std::ios::binary);
  data.read(reinterpret_cast<char*>(X.data()), static_cast<std::streamsize>(sizeof(float) * n * D));
  if (!data) {
    std::fprintf(stderr, "cannot read %s\n", argv[2]);
    return 1;
  }
  std::printf("isa %s\n", vaekit::active_isa());
  if (vaekit::read_model_info(argv[1]).kind == "PPCA") {
    vaekit::PPCA<float> model = vaekit::load_ppca<float>(argv[1]);
    vaekit::PPCAOptions options;
    options.n_components = model.components().rows();
    options.n_threads = threads;
    return time_repeats(model, X, what, repeats, threads, [&] {
      if (what == "em") {
        options.method = vaekit::PPCAMethod::EM;
        options.max_iter = 20;
        options.tol = 0;
      } else if (what != "fit") {
        return false;
      }
      return vaekit::PPCA<float>::fit(X, options).noise_variance() >= 0;
    });
  }
  vaekit::VAE<float> model = vaekit::load_vae<float>(argv[1]);
  vaekit::TrainingOptions options;
  options.n_threads = threads;
  return time_repeats(model, X, what, repeats, threads, [&] {
    if (what != "epoch") return false;
    model.partial_fit(X, options);
    return true;
  });
}
