// all-MiniLM-L6-v2 throughput: our LibTorch encoder against the Python reference forward (tests/python/
// minilm_reference.py, Debian's torch) on the same texts, batches and threads, in one run.
//   build/bench_encoder [--texts N] [--threads T] [--model DIR]
// Both sides sort texts by token count and cut batches of at most 2048 padded tokens (our default).
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>

#include "core/base/progress.hpp"
#include "core/base/text_io.hpp"
#include "core/data/persona_k.hpp"
#include "embeddings/minilm.hpp"

using namespace plural::core;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int n = 4000, threads = 0;
  std::string model = default_minilm_dir(), src = PLURAL_SOURCE_DIR;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--texts")) n = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--model")) model = argv[i + 1];
  }
  threads = set_threads(threads);
  auto all = read_persona_statements(src + "/data/persona/statements.tsv.gz");
  std::vector<std::string> texts;
  size_t step = all.statements.size() / static_cast<size_t>(n);
  for (size_t i = 0; i < all.statements.size() && texts.size() < static_cast<size_t>(n); i += step)
    texts.push_back(all.statements[i].text);
  std::string tf = "/tmp/plural_bench_texts.txt";
  {
    std::ofstream f(tf);
    for (const auto& t : texts) f << tsv_escape(t) << "\n";
  }
  MiniLmEncoder enc(model);
  auto ids = enc.tokenize(texts);
  std::vector<int64_t> lens;
  for (const auto& v : ids) lens.push_back(static_cast<int64_t>(v.size()));
  double tokens = std::accumulate(lens.begin(), lens.end(), 0.0);
  enc.encode({texts.begin(), texts.begin() + 64});  // warm-up

  auto t0 = Clock::now();
  enc.encode(texts);
  double ours_e2e = std::chrono::duration<double>(Clock::now() - t0).count();
  auto t1 = Clock::now();
  auto tok_only = enc.tokenize(texts);
  double tok_secs = std::chrono::duration<double>(Clock::now() - t1).count();
  double ours_fwd = ours_e2e - tok_secs;

  std::string cmd = "/usr/bin/python3 " + src + "/tests/python/minilm_reference.py " + model + " " + tf +
                    " /tmp/plural_bench_ref.npy --threads " + std::to_string(threads) + " --batch-tokens 2048";
  FILE* p = popen(cmd.c_str(), "r");
  double py_tps = 0;
  char line[256];
  while (p && fgets(line, sizeof line, p))
    if (std::sscanf(line, "texts_per_second=%lf", &py_tps) == 1) break;
  if (p) pclose(p);

  double flops = enc.flops(lens);
  std::printf("%d persona statements, %.1f tokens each on average, %d threads\n", n, tokens / n, threads);
  std::printf("%-34s %12s %10s\n", "", "texts/s", "GFLOP/s");
  std::printf("%-34s %12.1f %10.1f\n", "plural, forward only", n / ours_fwd, flops / ours_fwd / 1e9);
  std::printf("%-34s %12.1f %10s\n", "plural, tokenize + forward", n / ours_e2e, "");
  std::printf("%-34s %12.1f %10.1f\n", "python reference, forward only", py_tps,
              py_tps > 0 ? flops / (n / py_tps) / 1e9 : 0);
  std::printf("ratio plural / python (forward): %.2f\n", py_tps > 0 ? (n / ours_fwd) / py_tps : 0.0);
  return 0;
}
