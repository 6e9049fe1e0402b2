// plural doctor: versions, BLAS, threads and a measured GEMM rate.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "apps/commands.hpp"
#include "apps/doctor_sections.hpp"
#include "core/base/doctor.hpp"
#include "core/base/file_roles.hpp"
#include "core/base/progress.hpp"
#include "core/data/readers.hpp"
#include "core/dataset_view.hpp"
#include "core/diagnostics/ches.hpp"
#include "core/diagnostics/data_health.hpp"
#include "core/diagnostics/strength.hpp"
#include "core/model.hpp"
#include "core/train/losses.hpp"
#include "embeddings/encoder.hpp"
#include "embeddings/feature_cache.hpp"
#include "embeddings/feature_source.hpp"

namespace plural::apps {

namespace {
// The strength section: an ensemble of per-user heads on cached features; a histogram of the mean strength.
nlohmann::json strength_section(core::DatasetView& view, int members) {
  core::StrengthConfig sc;
  sc.members = members;
  sc.family = "per-user-bt";
  auto s = core::ensemble_strength(view, sc);
  const std::vector<double> edges = {-2, -1, -0.5, 0, 0.5, 1, 2};
  std::vector<int64_t> counts(edges.size() + 1, 0);
  int64_t n = 0, negative = 0;
  for (double m : s.mean) {
    if (std::isnan(m)) continue;
    ++n;
    negative += m < 0;
    counts[static_cast<size_t>(std::upper_bound(edges.begin(), edges.end(), m) - edges.begin())]++;
  }
  return {{"members", members}, {"member_family", sc.family}, {"scored", n}, {"negative", negative}, {"edges", edges},
          {"counts", counts}};
}

struct DataOpts {
  std::string path, cache, encoder = "minilm", model, png;
  bool token_ches = false;
  std::vector<std::string> properties;
  double prior_sd = 1.0;
  int members = 5;
  bool json_out = false;
};

void print_data_health(const DataOpts& o) {
  const auto& path = o.path;
  auto data = core::read_preferences(path);
  auto h = core::data_health(data);
  nlohmann::json strength, ches, length_control;
  auto attribution = attribution_section(data, o.properties, o.prior_sd);
  nlohmann::json token_ches = {
      {"missing", o.token_ches ? "features: give --cache (token sums are cached beside the pooled rows)"
                               : "token states: give --token-ches (with --cache and a MiniLM encoder), or compute it "
                                 "from a language model's hidden states with plural._core.token_ches"}};
  if (o.cache.empty()) {
    strength = {{"missing", "features: give --cache (and --encoder) to score preference strength"}};
    ches = {{"missing", "features: give --cache (and --encoder) for pooled CHES"}};
    length_control = {{"missing", o.model.empty() ? "a trained model and its features: give --model and --cache"
                                                  : "features: give --cache (and --encoder) with --model"}};
  } else {
    auto cache = std::make_shared<core::FeatureCache>(o.cache);
    core::FeatureSource features(cache, o.encoder, "");
    core::DatasetView view(data, features.features(data.texts.all()));
    strength = strength_section(view, o.members);
    const auto pooled =
        core::pooled_ches(view);  // its quantiles and most alike pairs; the token form is ranked against it
    ches = ches_summary(data, pooled, "strict comparisons (every pair is a tie)");
    if (o.token_ches) token_ches = token_ches_section(data, *cache, o.encoder, pooled);
    length_control = o.model.empty() ? nlohmann::json{{"missing", "a trained model: give --model"}}
                                     : length_control_section(o.model, view, o.properties);
  }
  nlohmann::json j = {
      {"dataset", path},
      {"users", h.users},
      {"seen_users", h.seen_users},
      {"unseen_users", h.unseen_users},
      {"texts", h.texts},
      {"comparisons", h.comparisons},
      {"splits",
       {{"train", h.by_split[0]}, {"val", h.by_split[1]}, {"test", h.by_split[2]}, {"support", h.by_split[3]}}},
      {"ties", h.ties},
      {"soft_labels", h.soft_labels},
      {"with_prompt", h.with_prompt},
      {"two_prompts", h.two_prompts},
      {"with_context", h.with_context},
      {"rationales", h.with_rationale > 0
                         ? nlohmann::json{{"comparisons", h.with_rationale}, {"distinct", h.distinct_rationales}}
                         : nlohmann::json{{"missing",
                                           "rationales: give comparisons a 'rationale' text to use them "
                                           "in training (--rationale-weight, docs/losses.md)"}}},
      {"per_user",
       {{"min", h.per_user_min}, {"median", h.per_user_median}, {"max", h.per_user_max}, {"under_5", h.users_under_5}}},
      {"duplicate_judgements", h.duplicate_judgements},
      {"contradictory_judgements", h.contradictory_judgements},
      {"self_pairs", h.self_pairs},
      {"shared_pairs", h.shared_pairs},
      {"disputed_pairs", h.disputed_pairs},
      {"length",
       {{"pairs", h.length_pairs},
        {"longer_wins", h.longer_wins},
        {"phi", h.length_phi},
        {"phi_se", h.length_phi_se},
        {"users_biased", h.users_length_biased}}},
      {"contradiction_examples", h.examples},
      {"strength", strength},
      {"ches", ches},
      {"token_ches", token_ches},
      {"attribution", attribution},
      {"length_control", length_control},
      {"warnings", h.warnings}};
  for (const auto* section : {&attribution, &length_control})
    for (const auto& w : section->value("warnings", nlohmann::json::array())) j["warnings"].push_back(w);
  if (!o.png.empty()) write_png_report(j, o.png);
  if (o.json_out) {
    std::cout << j.dump() << "\n";
    return;
  }
  std::printf("%s\n", path.c_str());
  std::printf("| section | figure |\n|---|---|\n");
  std::printf("| users | %lld (%lld seen, %lld unseen) |\n", (long long)h.users, (long long)h.seen_users,
              (long long)h.unseen_users);
  std::printf("| comparisons | %lld (train %lld, val %lld, test %lld, support %lld) |\n", (long long)h.comparisons,
              (long long)h.by_split[0], (long long)h.by_split[1], (long long)h.by_split[2], (long long)h.by_split[3]);
  std::printf("| texts | %lld |\n", (long long)h.texts);
  std::printf("| labels | %lld ties, %lld soft |\n", (long long)h.ties, (long long)h.soft_labels);
  std::printf("| prompts / contexts | %lld with a prompt (%lld with two), %lld with a context |\n",
              (long long)h.with_prompt, (long long)h.two_prompts, (long long)h.with_context);
  if (h.with_rationale > 0)
    std::printf("| rationales | %lld comparisons carry one (%lld distinct texts) |\n", (long long)h.with_rationale,
                (long long)h.distinct_rationales);
  else
    std::printf("| rationales | needs %s |\n", j["rationales"]["missing"].get<std::string>().c_str());
  std::printf("| comparisons per user | min %lld, median %lld, max %lld; %lld users under 5 |\n",
              (long long)h.per_user_min, (long long)h.per_user_median, (long long)h.per_user_max,
              (long long)h.users_under_5);
  std::printf("| same user, same pair again | %lld agreeing, %lld contradicting; %lld self-pairs |\n",
              (long long)h.duplicate_judgements, (long long)h.contradictory_judgements, (long long)h.self_pairs);
  std::printf("| pairs judged by 2+ users | %lld, of which %lld disputed (both directions) |\n",
              (long long)h.shared_pairs, (long long)h.disputed_pairs);
  if (h.length_pairs > 0)
    std::printf("| length | longer item wins %.1f%% of %lld pairs; GLM phi %.3f ± %.3f; %lld users biased |\n",
                100 * h.longer_wins, (long long)h.length_pairs, h.length_phi, h.length_phi_se,
                (long long)h.users_length_biased);
  else
    std::printf("| length | no strict pairs with items of different lengths |\n");
  if (strength.contains("missing")) {
    std::printf("| strength | needs %s |\n", strength["missing"].get<std::string>().c_str());
  } else {
    auto edges = strength["edges"].get<std::vector<double>>();
    auto counts = strength["counts"].get<std::vector<int64_t>>();
    std::printf(
        "| strength (%d x per-user-bt) | %lld of %lld scored pairs negative (the ensemble disagrees with "
        "the label) |\n",
        o.members, (long long)strength["negative"].get<int64_t>(), (long long)strength["scored"].get<int64_t>());
    for (size_t b = 0; b < counts.size(); ++b) {
      std::string lo = b == 0 ? "-inf" : std::to_string(edges[b - 1]).substr(0, 4);
      std::string hi = b == edges.size() ? "inf" : std::to_string(edges[b]).substr(0, 4);
      std::printf("|   [%s, %s) | %lld |\n", lo.c_str(), hi.c_str(), (long long)counts[b]);
    }
  }
  if (ches.contains("missing")) {
    std::printf("| CHES (pooled) | needs %s |\n", ches["missing"].get<std::string>().c_str());
  } else {
    std::printf("| CHES (pooled) | median %.3f, 90%% %.3f, 99%% %.3f, max %.3f over %lld strict pairs |\n",
                ches["median"].get<double>(), ches["p90"].get<double>(), ches["p99"].get<double>(),
                ches["max"].get<double>(), (long long)ches["scored"].get<int64_t>());
    for (const auto& t : ches["top"])
      std::printf("|   most alike: row %lld (%s), CHES %.3f | \"%s\" over \"%s\" |\n",
                  (long long)t["row"].get<int64_t>(), t["user"].get<std::string>().c_str(), t["ches"].get<double>(),
                  t["preferred"].get<std::string>().c_str(), t["rejected"].get<std::string>().c_str());
  }
  print_attribution(attribution);
  if (length_control.contains("missing"))
    std::printf("| length control (model) | needs %s |\n", length_control["missing"].get<std::string>().c_str());
  else
    print_length_control(length_control);
  print_token_ches(token_ches);
  for (const auto& e : h.examples) std::printf("contradiction: %s\n", e.c_str());
  for (const auto& w : j["warnings"]) std::printf("WARNING: %s\n", w.get<std::string>().c_str());
}
}  // namespace

void add_doctor(CLI::App& app, Common& common) {
  struct Opts {
    bool json_out = false;
    int n = 1024;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("doctor", "Check the environment: versions, BLAS, threads, GEMM GFLOP/s");
  cmd->add_option("--gemm-n", o->n, "GEMM size n (n×n×n)")->capture_default_str();
  cmd->add_option("--threads", common.threads, "LibTorch threads (0 = all cores)");
  cmd->add_flag("--json", o->json_out, "print one JSON object");

  // plural doctor data <dataset>: the data's health, from its records alone.
  auto d = std::make_shared<DataOpts>();
  auto* data_cmd = cmd->add_subcommand("data",
                                       "A preference dataset's health: counts, coverage, duplicate and "
                                       "contradictory judgements, disagreement between users, length bias");
  data_cmd->add_option("dataset", d->path, "preference data (.h5/.jsonl/.tsv)")->required();
  data_cmd->add_flag("--json", d->json_out, "print one JSON object");
  data_cmd->add_option("--cache", d->cache, "feature cache: adds the ensemble preference-strength section");
  data_cmd->add_option("--encoder", d->encoder, "encoder of the cached features")->capture_default_str();
  data_cmd->add_option("--members", d->members, "ensemble members for the strength")
      ->check(CLI::Range(2, 100))
      ->capture_default_str();
  data_cmd
      ->add_option("--properties", d->properties,
                   "JSON Lines of item properties {\"text\": ..., \"<name>\": number}: adds them to the "
                   "attribution and, with --model, to the length control as covariates (repeatable)")
      ->check(CLI::ExistingFile);
  data_cmd->add_option("--prior-sd", d->prior_sd, "attribution prior s.d. per s.d. of property difference")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  data_cmd->add_option("--model", d->model, "a trained model (with --cache): length control of its preferences");
  data_cmd->add_flag("--token-ches", d->token_ches,
                     "token-level CHES from MiniLM's token states of each response (with --cache; cached as "
                     "'<encoder id>+token-sums')");
  data_cmd->add_option("--png", d->png, "also draw the report as a PNG (scripts/doctor_report.py, matplotlib)");
  data_cmd->add_option("--threads", common.threads, "LibTorch threads (0 = all cores)");
  data_cmd->callback([d, &common] {
    core::require_distinct_files({{"--png", d->png}, {"--cache", d->cache}},
                                 {{"dataset", d->path}, {"--model", d->model}});
    core::set_threads(common.threads);
    print_data_health(*d);
  });
  cmd->callback([o, &common, data_cmd] {
    if (data_cmd->parsed()) return;
    core::set_threads(common.threads);
    auto r = core::run_doctor(o->n);
    if (o->json_out) {
      nlohmann::json j = {{"torch", r.torch_version}, {"hdf5", r.hdf5_version}, {"eigen", r.eigen_version},
                          {"boost", r.boost_version}, {"blas", r.blas},         {"threads", r.threads},
                          {"cores", r.cores},         {"gemm_n", r.gemm_n},     {"gemm_gflops", r.gemm_gflops},
                          {"warnings", r.warnings}};
      std::cout << j.dump() << "\n";
      return;
    }
    std::printf("plural 0.1.0\n  LibTorch %s, HDF5 %s, Eigen %s, Boost %s\n", r.torch_version.c_str(),
                r.hdf5_version.c_str(), r.eigen_version.c_str(), r.boost_version.c_str());
    std::printf("  BLAS: %s\n  threads: %d of %d cores\n  GEMM %dx%dx%d float32: %.1f GFLOP/s\n", r.blas.c_str(),
                r.threads, r.cores, r.gemm_n, r.gemm_n, r.gemm_n, r.gemm_gflops);
    std::printf("  model families:");
    for (const auto& kv : core::model_families()) std::printf(" %s", kv.first.c_str());
    std::printf("\n  encoders:");
    for (const auto& kv : core::encoder_names()) std::printf(" %s", kv.first.c_str());
    std::printf("\n  losses:");
    for (const auto& kv : core::loss_names()) std::printf(" %s", kv.first.c_str());
    std::printf("\n");
    for (const auto& w : r.warnings) std::printf("WARNING: %s\n", w.c_str());
    if (r.warnings.empty()) std::printf("  ok\n");
  });
}

}  // namespace plural::apps
