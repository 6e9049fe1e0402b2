// Training throughput of the BT baselines on Persona-K (hashed features), against a bare LibTorch loop on the same
// data and threads in the same process, plus the machine's GEMM rate for scale.
//   build/bench_train [--threads N] [--epochs E]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/base/doctor.hpp"
#include "core/base/progress.hpp"
#include "core/data/persona_k.hpp"
#include "core/dataset_view.hpp"
#include "core/mlp.hpp"
#include "core/train/trainer.hpp"
#include "embeddings/encoder.hpp"

using namespace plural::core;

namespace {
// The same model and optimiser written as a plain loop: the floor our trainer's bookkeeping is measured against.
double bare_loop_pairs_per_second(const DatasetView& view, int64_t batch, int epochs) {
  torch::manual_seed(0);
  auto dims = view.dims();
  MlpOptions o;
  Mlp mlp(dims.item_dim + dims.prompt_dim, 1, o);
  torch::optim::AdamW opt(mlp->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(1e-4));
  auto rows = view.rows(Split::train, true);
  auto all = view.batch(rows);
  auto xa = torch::cat({all.a.x, all.a.prompt}, 1), xb = torch::cat({all.b.x, all.b.prompt}, 1);
  auto y = all.label;
  const int64_t n = y.size(0);
  auto t0 = std::chrono::steady_clock::now();
  for (int e = 0; e < epochs; ++e) {
    auto perm = torch::randperm(n);
    for (int64_t s = 0; s < n; s += batch) {
      auto idx = perm.slice(0, s, std::min(n, s + batch));
      auto z = mlp->forward(xa.index_select(0, idx)).squeeze(1) - mlp->forward(xb.index_select(0, idx)).squeeze(1);
      auto loss = torch::nn::functional::binary_cross_entropy_with_logits(z, y.index_select(0, idx));
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return n * epochs / secs;
}
}  // namespace

int main(int argc, char** argv) {
  int threads = 0, epochs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--epochs")) epochs = std::atoi(argv[i + 1]);
  }
  threads = set_threads(threads);
  PersonaKConfig pc;
  auto pk = generate_persona_k(pc);
  HashedNgramEncoder enc(512);
  DatasetView view(pk.data, enc.encode(pk.data.texts.all()));
  std::printf("Persona-K defaults: %zu train pairs, hashed features dim 512, %d threads, %d epochs\n",
              view.rows(Split::train, true).size(), threads, epochs);
  std::printf("GEMM 1024^3 float32: %.1f GFLOP/s\n\n", measure_gemm_gflops(1024, 1024, 1024));
  std::printf("%-12s %6s %14s %14s %8s\n", "model", "batch", "plural pairs/s", "bare loop", "ratio");
  for (int64_t batch : {32, 256, 4096}) {
    double bare = bare_loop_pairs_per_second(view, batch, epochs);
    for (const char* family : {"bt", "per-user-bt"}) {
      torch::manual_seed(0);
      auto m = make_model(family, view.dims());
      TrainConfig cfg;
      cfg.batch_size = batch;
      cfg.epochs = epochs;
      cfg.patience = 0;
      cfg.progress = false;
      auto r = train(*m, view, cfg);
      std::printf("%-12s %6lld %14.0f %14.0f %8.2f\n", family, static_cast<long long>(batch), r.pairs_per_second, bare,
                  r.pairs_per_second / bare);
    }
  }
  return 0;
}
