// Google Benchmark of vaekit's kernels: a dense layer's forward and backward
// pass, one full VAE training step (ELBO, gradient and Adam), the ELBO alone,
// a one-sample VAE transform (the C++ API's latency), one PPCA EM iteration
// and a closed-form PPCA fit, each at several sizes.
//
//   cmake -S . -B build/bench -G Ninja -DVAEKIT_BUILD_BENCHMARKS=ON
//   cmake --build build/bench --target vaekit_bench_kernels
//   build/bench/bench/cpp/vaekit_bench_kernels --benchmark_repetitions=5 \
//       --benchmark_report_aggregates_only=true
//
// Items per second count samples (rows). Threads follow OMP_NUM_THREADS.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "vaekit/mlp.hpp"
#include "vaekit/optim.hpp"
#include "vaekit/ppca.hpp"
#include "vaekit/random.hpp"
#include "vaekit/vae.hpp"

namespace {

using vaekit::Index;

// Soft images in [0, 1], the same for every run.
vaekit::RowMatrix<float> images(Index n, Index D, std::uint64_t seed = 7) {
  vaekit::RowMatrix<float> X(n, D);
  vaekit::Philox rng(seed);
  for (Index i = 0; i < X.size(); ++i) X.data()[i] = static_cast<float>(rng.uniform() < 0.2 ? rng.uniform() : 0.0);
  return X;
}

// Data with a low-rank structure plus noise, for PPCA.
template <class T>
vaekit::RowMatrix<T> low_rank(Index n, Index D, Index rank) {
  vaekit::Philox rng(11);
  vaekit::RowMatrix<T> F(n, rank), L(rank, D), E(n, D);
  for (Index i = 0; i < F.size(); ++i) F.data()[i] = static_cast<T>(rng.normal());
  for (Index i = 0; i < L.size(); ++i) L.data()[i] = static_cast<T>(rng.normal());
  for (Index i = 0; i < E.size(); ++i) E.data()[i] = static_cast<T>(0.3 * rng.normal());
  return F * L + E;
}

// ------------------------------------------------------------ dense layer
// Args: batch rows, n_in, n_out.
void BM_LayerForward(benchmark::State& state) {
  const Index rows = state.range(0), n_in = state.range(1), n_out = state.range(2);
  const vaekit::MLP<float> mlp({n_in, n_out}, vaekit::Activation::ReLU, vaekit::Activation::ReLU);
  std::vector<float> params(mlp.n_parameters());
  mlp.initialize(params.data(), 1);
  const vaekit::RowMatrix<float> X = images(rows, n_in);
  vaekit::MLPWorkspace<float> workspace;
  mlp.reserve(workspace, rows);
  for (auto _ : state) {
    mlp.forward(params.data(), X.data(), rows, workspace, /*parallel=*/false);
    benchmark::DoNotOptimize(workspace.outputs.back().data());
  }
  state.SetItemsProcessed(state.iterations() * rows);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * rows * n_in * n_out * state.iterations() * 1e-9,
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LayerForward)->Args({128, 784, 400})->Args({32, 784, 400})->Args({128, 400, 784})->Args({128, 512, 256});

void BM_LayerBackward(benchmark::State& state) {
  const Index rows = state.range(0), n_in = state.range(1), n_out = state.range(2);
  const vaekit::MLP<float> mlp({n_in, n_out}, vaekit::Activation::ReLU, vaekit::Activation::ReLU);
  std::vector<float> params(mlp.n_parameters()), gradient(mlp.n_parameters());
  mlp.initialize(params.data(), 1);
  const vaekit::RowMatrix<float> X = images(rows, n_in);
  vaekit::MLPWorkspace<float> workspace;
  mlp.reserve(workspace, rows);
  mlp.forward(params.data(), X.data(), rows, workspace, false);
  for (auto _ : state) {
    mlp.output_gradient(workspace, rows).setConstant(0.01f);
    mlp.backward(params.data(), X.data(), rows, workspace, gradient.data(), /*want_input_gradient=*/true, false);
    benchmark::DoNotOptimize(gradient.data());
  }
  state.SetItemsProcessed(state.iterations() * rows);
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * rows * n_in * n_out * state.iterations() * 1e-9,
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LayerBackward)->Args({128, 784, 400})->Args({32, 784, 400})->Args({128, 400, 784});

// Inference (row-invariant kernel): Args: rows, n_in, n_out.
void BM_LayerPredict(benchmark::State& state) {
  const Index rows = state.range(0), n_in = state.range(1), n_out = state.range(2);
  const vaekit::MLP<float> mlp({n_in, n_out}, vaekit::Activation::ReLU, vaekit::Activation::ReLU);
  std::vector<float> params(mlp.n_parameters());
  mlp.initialize(params.data(), 1);
  const vaekit::RowMatrix<float> X = images(rows, n_in);
  vaekit::MLPInferenceWorkspace<float> workspace;
  mlp.reserve(workspace, rows);
  for (auto _ : state) benchmark::DoNotOptimize(mlp.predict(params.data(), X.data(), rows, workspace));
  state.SetItemsProcessed(state.iterations() * rows);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * rows * n_in * n_out * state.iterations() * 1e-9,
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LayerPredict)->Args({1, 784, 400})->Args({64, 784, 400})->Args({64, 400, 40});

// ------------------------------------------------------------------- VAE
vaekit::VAE<float> make_vae(Index D, std::vector<Index> hidden, Index d) {
  vaekit::VAEConfig config;
  config.n_features = D;
  config.n_components = d;
  config.hidden_layer_sizes = std::move(hidden);
  config.likelihood = vaekit::Likelihood::Bernoulli;
  vaekit::VAE<float> vae(config);
  vae.initialize(3);
  return vae;
}

// The ELBO and its gradient for one batch (no optimiser step). Args: batch rows, hidden width.
void BM_ElboGradient(benchmark::State& state) {
  const Index rows = state.range(0), hidden = state.range(1), D = 784, d = 20;
  const vaekit::VAE<float> vae = make_vae(D, {hidden}, d);
  const vaekit::RowMatrix<float> X = images(rows, D);
  vaekit::RowMatrix<float> eps(rows, d);
  vaekit::Philox(5).fill_normal(eps.data(), eps.size());
  vaekit::Vector<float> gradient;
  for (auto _ : state) benchmark::DoNotOptimize(vae.loss_and_gradient(vae.parameters(), X, eps, gradient));
  state.SetItemsProcessed(state.iterations() * rows);
}
BENCHMARK(BM_ElboGradient)->Args({128, 400})->Args({32, 400});

// A full training step: one epoch of `rows` samples in one batch. Args: batch rows, hidden width.
void BM_VAETrainingStep(benchmark::State& state) {
  const Index rows = state.range(0), hidden = state.range(1), D = 784, d = 20;
  vaekit::VAE<float> vae = make_vae(D, {hidden}, d);
  const vaekit::RowMatrix<float> X = images(16 * rows, D);
  vaekit::TrainingOptions options;
  options.batch_size = rows;
  options.seed = 1;
  vae.partial_fit(X, options);  // warm-up: workspaces, first touch
  for (auto _ : state) vae.partial_fit(X, options);
  state.SetItemsProcessed(state.iterations() * X.rows());
  state.counters["steps/s"] = benchmark::Counter(16.0 * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_VAETrainingStep)->Args({128, 400})->Args({32, 400})->Unit(benchmark::kMillisecond);

// The public API's latency: VAE::transform of one sample (784-400-20, as
// loaded from a model file), everything included (checks, workspace, the
// result matrix). Args: threads (the goal: <= 15 us), and whether
// the sample is an image (80% zeros: the sparse first layer) or dense.
void BM_VAETransformOneSample(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const vaekit::VAE<float> vae = make_vae(784, {400}, 20);
  vaekit::RowMatrix<float> x = images(1, 784);
  if (state.range(1) == 0) x.array() += 0.25f;  // no zeros left
  for (auto _ : state) benchmark::DoNotOptimize(vae.transform(x, threads));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VAETransformOneSample)
    ->ArgNames({"threads", "image"})
    ->Args({1, 1})
    ->Args({2, 1})
    ->Args({1, 0})
    ->Args({2, 0})
    ->Unit(benchmark::kMicrosecond);

void BM_Adam(benchmark::State& state) {
  const Index n = state.range(0);
  vaekit::Vector<float> params = vaekit::Vector<float>::Constant(n, 0.5f), gradient = vaekit::Vector<float>::Constant(n, 1e-3f);
  vaekit::AdamState<float> adam;
  adam.reset(n);
  const vaekit::AdamOptions options;
  for (auto _ : state)
    benchmark::DoNotOptimize(vaekit::adam_step(params.data(), gradient.data(), static_cast<const float*>(nullptr), n,
                                               adam, options));
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Adam)->Arg(650000)->Arg(65000);

// ------------------------------------------------------------------ PPCA
// Args: n, D. d = 20, float64.
void BM_PPCAClosedForm(benchmark::State& state) {
  const auto X = low_rank<double>(state.range(0), state.range(1), 30);
  vaekit::PPCAOptions options;
  options.n_components = 20;
  for (auto _ : state) benchmark::DoNotOptimize(vaekit::PPCA<double>::fit(X, options).noise_variance());
  state.SetItemsProcessed(state.iterations() * X.rows());
}
BENCHMARK(BM_PPCAClosedForm)->Args({20000, 784})->Args({5000, 200})->Unit(benchmark::kMillisecond);

// One EM iteration: a fit of max_iter = 1 (initialisation and the sample mean included).
void BM_PPCAEMIteration(benchmark::State& state) {
  const auto X = low_rank<double>(state.range(0), state.range(1), 30);
  vaekit::PPCAOptions options;
  options.n_components = 20;
  options.method = vaekit::PPCAMethod::EM;
  options.max_iter = 1;
  for (auto _ : state) benchmark::DoNotOptimize(vaekit::PPCA<double>::fit(X, options).noise_variance());
  state.SetItemsProcessed(state.iterations() * X.rows());
}
BENCHMARK(BM_PPCAEMIteration)->Args({20000, 784})->Args({5000, 200})->Unit(benchmark::kMillisecond);

void BM_PPCAScoreSamples(benchmark::State& state) {
  const auto X = low_rank<double>(state.range(0), state.range(1), 30);
  vaekit::PPCAOptions options;
  options.n_components = 20;
  const auto model = vaekit::PPCA<double>::fit(X, options);
  for (auto _ : state) benchmark::DoNotOptimize(model.score_samples(X).data());
  state.SetItemsProcessed(state.iterations() * X.rows());
}
BENCHMARK(BM_PPCAScoreSamples)->Args({20000, 784})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
