#include "bench/bench_train_speed.hpp"

#include <torch/torch.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "core/base/error.hpp"
#include "core/base/h5.hpp"
#include "core/data/persona_k.hpp"
#include "core/data/readers.hpp"
#include "core/data/subsets.hpp"
#include "core/train/train_defaults.hpp"
#include "mixture/projector.hpp"

namespace plural::bench {

using namespace plural::core;
using nlohmann::json;

namespace {

// What the Python reference reads: plural's data layout (docs/data_format.md) and the feature table beside it.
void export_for_python(const std::string& data_path, const std::string& features_path, const PreferenceData& data,
                       const torch::Tensor& features) {
  write_h5(data, data_path);
  auto file = h5::open_file(features_path, h5::Mode::create);
  auto f = features.to(torch::kFloat32).contiguous();
  h5::write_vector(file, "features", std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel()));
  h5::write_attr(file, "dim", f.size(1));  // row-major [texts, dim]
  h5::close_file(file, features_path);
}

std::string run_capture(const std::string& cmd) {
  std::array<char, 4096> buf{};
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
  PLURAL_CHECK(pipe != nullptr, "train-speed: cannot run '", cmd, "'");
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), pipe.get())) out += buf.data();
  int status = ::pclose(pipe.release());
  PLURAL_CHECK(status == 0, "train-speed: the Python reference failed (exit status ", status, "): ", cmd,
               "\n(it needs Debian's python3 with torch and h5py: run `make deps`)");
  auto last = out.find_last_of('{');
  PLURAL_CHECK(last != std::string::npos, "train-speed: no JSON from '", cmd, "': ", out);
  return out.substr(last);
}

}  // namespace

json train_speed_bench(const TrainSpeedBench& bench, const BenchSetup& setup) {
  auto pb = persona_bench_data(bench.k, setup);
  const auto& pk = pb.persona;
  const auto& features = pb.features;
  const auto& encoder_id = pb.encoder_id;
  const std::string model_config = default_model_config("pal-b", bench.k);
  const TrainConfig defaults = default_train_config("pal-b");
  const std::string script =
      bench.reference.empty() ? std::string(PLURAL_SOURCE_DIR) + "/bench/reference/pal_b_train.py" : bench.reference;
  PLURAL_CHECK(std::filesystem::exists(script), "train-speed: Python reference not found: ", script);
  const int threads = torch::get_num_threads();

  json out = {{"model", "pal-b"},
              {"config", json::parse(model_config)},
              {"threads", threads},
              {"encoder", encoder_id},
              {"rows", json::array()}};
  if (!setup.json)
    std::printf(
        "PAL-B training throughput, Persona-K (K* = %d) with %s features, %d threads\n  %6s %8s %12s %14s "
        "%9s %16s %9s\n",
        bench.k, encoder_id.c_str(), threads, "batch", "pairs", "plural p/s", "python p/s", "ratio", "python dedup p/s",
        "ratio");
  const int64_t n_train = static_cast<int64_t>(pk.data.select(Split::train, true).size());
  for (int64_t batch : bench.batches) {
    int64_t pairs = batch < 256 ? bench.small_batch_pairs : std::max<int64_t>(bench.min_steps * batch, n_train);
    int64_t subset = std::min(pairs, n_train);
    int epochs = static_cast<int>((pairs + subset - 1) / subset);
    auto data = first_train_pairs(pk.data, subset);
    DatasetView view(data, features);
    TrainConfig tc = defaults;
    tc.batch_size = batch;
    tc.epochs = epochs;
    tc.patience = 0;
    tc.progress = false;
    tc.seed = setup.seed;
    torch::manual_seed(setup.seed);
    auto model = make_model("pal-b", view.dims(), model_config);
    auto full_config = json::parse(model->config_json());  // the family's defaults filled in
    auto spec = mixture::ProjectorSpec::parse(full_config["proj"].get<std::string>());
    int64_t dim = full_config["dim"].get<int64_t>();
    out["config"] = full_config;
    int64_t params = 0;
    for (const auto& p : model->parameters()) params += p.numel();
    auto ours = train(*model, view, tc);

    std::string h5 = setup.cache + ".train-speed.h5", fh5 = setup.cache + ".train-speed-features.h5";
    export_for_python(h5, fh5, data, features);
    char args[512];
    std::snprintf(args, sizeof args,
                  " --data '%s' --features '%s' --batch-size %lld --epochs %d --k %d --dim %lld --hidden-layers %d "
                  "--dropout %g --lr %g "
                  "--user-lr %g --weight-decay %g --threads %d --seed %llu",
                  h5.c_str(), fh5.c_str(), static_cast<long long>(batch), epochs, bench.k, static_cast<long long>(dim),
                  spec.hidden_layers, spec.dropout, tc.lr, tc.user_lr, tc.weight_decay, threads,
                  static_cast<unsigned long long>(setup.seed));
    std::string base = bench.python + " '" + script + "'" + args;
    auto py = json::parse(run_capture(base));
    auto py_dedup = json::parse(run_capture(base + " --dedupe-prompts"));
    std::filesystem::remove(h5);
    std::filesystem::remove(fh5);
    PLURAL_CHECK(py["parameters"].get<int64_t>() == params, "train-speed: the Python model has ",
                 py["parameters"].get<int64_t>(), " parameters, plural's ", params, ": not the same model");
    double r1 = ours.pairs_per_second / py["pairs_per_second"].get<double>();
    double r2 = ours.pairs_per_second / py_dedup["pairs_per_second"].get<double>();
    out["rows"].push_back({{"batch", batch},
                           {"pairs", subset * epochs},
                           {"parameters", params},
                           {"plural_pairs_per_second", ours.pairs_per_second},
                           {"python", py},
                           {"python_dedupe_prompts", py_dedup},
                           {"ratio", r1},
                           {"ratio_vs_dedupe", r2}});
    if (!setup.json)
      std::printf("  %6lld %8lld %12.0f %14.0f %8.2fx %16.0f %8.2fx\n", static_cast<long long>(batch),
                  static_cast<long long>(subset * epochs), ours.pairs_per_second, py["pairs_per_second"].get<double>(),
                  r1, py_dedup["pairs_per_second"].get<double>(), r2);
  }

  if (bench.time_to_accuracy) {
    // The original PAL-B text procedure (reference §2.5): batch 4, projectors lr 1e-4 (wd 0.01), user logits 5e-3,
    // τ 0.1, no dropout, 1 epoch by default — here given `original_epochs`. Its best validation accuracy is the
    // target; plural's defaults train until they reach it.
    DatasetView view(pk.data, features);
    TrainConfig orig;
    orig.batch_size = 4;
    orig.lr = 1e-4;
    orig.weight_decay = 0.01;
    orig.user_lr = 5e-3;
    orig.group_lr = {{"scale", 0.1}};
    orig.epochs = bench.original_epochs;
    orig.patience = 0;
    orig.progress = false;
    orig.seed = setup.seed;
    torch::manual_seed(setup.seed);
    json orig_config = json::parse(model_config);
    orig_config["proj"] = "mlp2-gelu-dropout0";  // the reference's width (d = feature dim) and no dropout
    orig_config["dim"] = 0;
    auto m_orig = make_model("pal-b", view.dims(), orig_config.dump());
    auto r_orig = train(*m_orig, view, orig);
    double target = 0, t_orig = 0;
    for (const auto& e : r_orig.history)
      if (e.val_accuracy > target) target = e.val_accuracy, t_orig = e.elapsed;
    TrainConfig ours = defaults;
    ours.target_val_accuracy = target;
    ours.progress = false;
    ours.seed = setup.seed;
    torch::manual_seed(setup.seed);
    auto m_ours = make_model("pal-b", view.dims(), model_config);
    auto r_ours = train(*m_ours, view, ours);
    json tta = {{"target_val_accuracy", target},
                {"original_seconds", t_orig},
                {"original_epochs", r_orig.epochs_run},
                {"plural_seconds", r_ours.target_reached_seconds < 0 ? json() : json(r_ours.target_reached_seconds)},
                {"plural_best_val_accuracy", r_ours.best_val_accuracy},
                {"speedup", r_ours.target_reached_seconds < 0 ? json() : json(t_orig / r_ours.target_reached_seconds)}};
    out["time_to_accuracy"] = tta;
    if (!setup.json) {
      std::printf(
          "Time to the original procedure's best val accuracy (%.3f after %d epoch(s) at batch 4): original "
          "%.1f s, plural defaults ",
          target, r_orig.epochs_run, t_orig);
      if (r_ours.target_reached_seconds < 0)
        std::printf("never (best %.3f)\n", r_ours.best_val_accuracy);
      else
        std::printf("%.1f s: %.1fx faster (both in plural's trainer; the Python ratio above multiplies)\n",
                    r_ours.target_reached_seconds, t_orig / r_ours.target_reached_seconds);
    }
  }
  return out;
}

}  // namespace plural::bench
