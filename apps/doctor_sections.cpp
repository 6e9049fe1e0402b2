#include "apps/doctor_sections.hpp"

#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "apps/cli_options.hpp"
#include "core/base/atomic_file.hpp"
#include "core/base/error.hpp"
#include "core/base/text_io.hpp"
#include "core/diagnostics/attribution.hpp"
#include "core/diagnostics/ches.hpp"
#include "core/diagnostics/length_control.hpp"
#include "core/eval/stats.hpp"
#include "core/model.hpp"
#include "embeddings/encode.hpp"
#include "embeddings/minilm.hpp"

namespace plural::apps {

using nlohmann::json;

namespace {
json effect_json(const core::PropertyEffect& e) {
  return {{"mean", e.mean}, {"sd", e.sd}, {"lo", e.lo}, {"hi", e.hi}, {"p_positive", e.p_positive}};
}
json effects_json(const std::vector<std::string>& names, const core::AttributionFit& f) {
  json j = json::object();
  for (size_t k = 0; k < names.size(); ++k) j[names[k]] = effect_json(f.effects[k]);
  return j;
}
double num(const json& j) { return j.is_number() ? j.get<double>() : std::nan(""); }
}  // namespace

json attribution_section(const core::PreferenceData& data, const std::vector<std::string>& property_files,
                         double prior_sd) {
  auto props = core::length_property(data);
  for (const auto& f : property_files) core::read_item_properties(f, data, props);  // bad files are errors
  core::AttributionConfig config;
  config.prior_sd = prior_sd;
  core::Attribution a;
  try {
    a = core::attribute_preferences(data, props, config);
  } catch (const ValueError& e) {  // e.g. no comparison with every property known: the rest of the report runs
    return {{"missing", std::string("comparisons to fit: ") + e.what()}};
  }
  json users = json::array();
  for (const auto& u : a.users)
    users.push_back({{"user", u.user}, {"pairs", u.pairs}, {"effects", effects_json(a.properties, u)}});
  json j = {{"properties", a.properties},
            {"scale", a.scale},
            {"prior_sd", prior_sd},
            {"usable", a.usable},
            {"left_out", a.missing},
            {"unmatched_rows", props.unmatched_rows},
            {"population", effects_json(a.properties, a.population)},
            {"user_average", a.user_average},
            {"user_spread", a.user_spread},
            {"users_positive", a.users_positive},
            {"users_negative", a.users_negative},
            {"users", users},
            {"warnings", a.warnings}};
  if (property_files.empty()) j["note"] = "only log_length: give --properties FILE.jsonl for more item properties";
  return j;
}

void print_attribution(const json& s) {
  if (s.contains("missing")) {
    std::printf("| attribution | needs %s |\n", s["missing"].get<std::string>().c_str());
    return;
  }
  const auto names = s["properties"].get<std::vector<std::string>>();
  for (size_t k = 0; k < names.size(); ++k) {
    const auto& p = s["population"][names[k]];
    std::printf(
        "| attribution: %s | population %+.3f [%+.3f, %+.3f] per %.3g of difference; users %+.3f ± %.3f; "
        "%lld users above 0, %lld below (of %zu) |\n",
        names[k].c_str(), num(p["mean"]), num(p["lo"]), num(p["hi"]), num(s["scale"][k]), num(s["user_average"][k]),
        num(s["user_spread"][k]), (long long)s["users_positive"][k].get<int64_t>(),
        (long long)s["users_negative"][k].get<int64_t>(), s["users"].size());
  }
  std::printf(
      "| attribution: data | %lld comparisons used, %lld without every property; %lld property rows "
      "matched no text |\n",
      (long long)s["usable"].get<int64_t>(), (long long)s["left_out"].get<int64_t>(),
      (long long)s["unmatched_rows"].get<int64_t>());
}

json length_control_section(const std::string& model_path, core::DatasetView& view,
                            const std::vector<std::string>& property_files) {
  core::ItemProperties covariates;
  for (const auto& f : property_files) core::read_item_properties(f, view.data(), covariates);
  auto model = core::load_model(model_path);
  view.bind(*model);
  torch::NoGradGuard ng;
  model->eval();
  // Scores `candidates`, keeping only users the model has a state for: a model trained on other data does not know
  // every user of this data.
  std::vector<size_t> rows;
  std::vector<double> logits;
  auto score_known = [&](const std::vector<size_t>& candidates) {
    for (size_t i = 0; i < candidates.size(); i += 8192) {
      std::vector<size_t> part(candidates.begin() + i, candidates.begin() + std::min(candidates.size(), i + 8192));
      auto batch = view.batch(part);
      auto keep = (batch.user >= 0).nonzero().flatten().contiguous();
      if (keep.numel() == 0) continue;
      auto z = model->logits(batch.select(keep)).to(torch::kFloat64).contiguous();
      for (int64_t k = 0; k < keep.numel(); ++k) {
        rows.push_back(part[static_cast<size_t>(keep.data_ptr<int64_t>()[k])]);
        logits.push_back(z.data_ptr<double>()[k]);
      }
    }
  };
  score_known(view.rows(core::Split::test, true));
  std::string which = "seen users' test comparisons";
  if (rows.empty()) {
    for (auto split : {core::Split::train, core::Split::val}) score_known(view.rows(split, true));
    which = "seen users' train and val comparisons (no test split)";
  }
  PLURAL_CHECK(!rows.empty(), model_path, ": the data has no comparisons of users the model was trained on");
  auto lc = core::length_control(view.data(), rows, logits, covariates);
  json fitted = json::array();
  for (const auto& c : lc.covariates)
    fitted.push_back({{"name", c.name}, {"scale", c.scale}, {"coef", c.coef}, {"se", c.se}});
  json users = json::array();
  for (const auto& u : lc.users)
    users.push_back({{"user", u.id},
                     {"rows", u.rows},
                     {"accuracy", u.accuracy},
                     {"lc_accuracy", u.lc_accuracy},
                     {"model_longer", u.model_longer},
                     {"lc_longer", u.lc_longer}});
  return {{"model", model_path},
          {"family", model->family()},
          {"rows_from", which},
          {"rows", lc.rows},
          {"length_pairs", lc.length_pairs},
          {"data_longer", lc.data_longer},
          {"model_longer", lc.model_longer},
          {"lc_longer", lc.lc_longer},
          {"phi", lc.phi},
          {"phi_se", lc.phi_se},
          {"accuracy", lc.accuracy},
          {"lc_accuracy", lc.lc_accuracy},
          {"users", users},
          {"warnings", lc.warnings},
          {"covariates", fitted},
          {"covariate_rows", lc.covariate_rows}};
}

void print_length_control(const json& s) {
  std::printf(
      "| length control (%s, %s) | prefers the longer item %.1f%% raw, %.1f%% length-controlled (labels "
      "%.1f%%); length term phi %.3f ± %.3f; accuracy %.3f raw, %.3f controlled, over %lld comparisons |\n",
      s["family"].get<std::string>().c_str(), s["rows_from"].get<std::string>().c_str(), 100 * num(s["model_longer"]),
      100 * num(s["lc_longer"]), 100 * num(s["data_longer"]), num(s["phi"]), num(s["phi_se"]), num(s["accuracy"]),
      num(s["lc_accuracy"]), (long long)s["rows"].get<int64_t>());
  for (const auto& c : s["covariates"])
    std::printf("|   covariate %s | %+.3f ± %.3f per %.3g of difference (fitted with length on %lld comparisons) |\n",
                c["name"].get<std::string>().c_str(), num(c["coef"]), num(c["se"]), num(c["scale"]),
                (long long)s["covariate_rows"].get<int64_t>());
  // The users whose accuracy moves most when length is controlled.
  std::vector<std::pair<double, const json*>> moved;
  for (const auto& u : s["users"]) moved.push_back({-std::abs(num(u["accuracy"]) - num(u["lc_accuracy"])), &u});
  std::sort(moved.begin(), moved.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  for (size_t i = 0; i < std::min<size_t>(3, moved.size()); ++i) {
    const auto& u = *moved[i].second;
    std::printf("|   user %s | accuracy %.3f raw, %.3f controlled; prefers longer %.0f%% / %.0f%% (%lld rows) |\n",
                u["user"].get<std::string>().c_str(), num(u["accuracy"]), num(u["lc_accuracy"]),
                100 * num(u["model_longer"]), 100 * num(u["lc_longer"]), (long long)u["rows"].get<int64_t>());
  }
}

json ches_summary(const core::PreferenceData& data, const std::vector<double>& scores, const std::string& missing) {
  std::vector<std::pair<double, size_t>> scored;
  for (size_t i = 0; i < scores.size(); ++i)
    if (!std::isnan(scores[i])) scored.push_back({scores[i], i});
  if (scored.empty()) return {{"missing", missing}};
  std::sort(scored.begin(), scored.end());
  auto q = [&](double p) { return scored[static_cast<size_t>(p * double(scored.size() - 1))].first; };
  json top = json::array();
  std::set<std::pair<int32_t, int32_t>> listed;  // a pair judged by many users is listed once
  for (size_t k = 0; k < scored.size() && top.size() < 5; ++k) {
    auto [v, i] = scored[scored.size() - 1 - k];
    const auto& c = data.comparisons[i];
    bool a_wins = c.label > 0.5f;
    // Self-pairs are reported with the records' health.
    if (c.a == c.b || !listed.insert({a_wins ? c.a : c.b, a_wins ? c.b : c.a}).second) continue;
    top.push_back({{"row", i},
                   {"ches", v},
                   {"user", data.users[static_cast<size_t>(c.user)].id},
                   {"preferred", data.texts[a_wins ? c.a : c.b].substr(0, 60)},
                   {"rejected", data.texts[a_wins ? c.b : c.a].substr(0, 60)}});
  }
  return {{"scored", scored.size()}, {"median", q(0.5)},           {"p90", q(0.9)},
          {"p99", q(0.99)},          {"max", scored.back().first}, {"top", top}};
}

json token_ches_section(const core::PreferenceData& data, core::FeatureCache& cache, const std::string& encoder_spec,
                        const std::vector<double>& pooled) {
  auto sums = core::make_token_sums_encoder(encoder_spec);
  if (!sums)
    return {{"missing",
             "token states: --token-ches needs a MiniLM-family encoder (--encoder minilm); for a policy "
             "LM's own states use plural._core.token_ches"}};
  core::EncodeOptions opts;
  opts.progress = false;
  core::encode_into_cache(cache, *sums, data.texts.all(), opts);
  auto table = cache.lookup(sums->id(), data.texts.all());
  auto raw = core::token_ches_from_sums(data, table, false);
  auto per_token = core::token_ches_from_sums(data, table, true);
  json out = ches_summary(data, per_token, "strict comparisons whose two responses both have tokens");
  if (out.contains("missing")) return out;
  out["states"] = sums->id();
  out["spearman_raw_vs_per_token"] = core::spearman(raw, per_token);
  const double r = core::spearman(pooled, per_token);
  if (!std::isnan(r)) out["spearman_with_pooled"] = r;
  return out;
}

void print_token_ches(const json& t) {
  if (t.contains("missing")) {
    std::printf("| CHES (token level) | needs %s |\n", t["missing"].get<std::string>().c_str());
    return;
  }
  std::printf("| CHES (token level, per token) | median %.3f, 90%% %.3f, 99%% %.3f, max %.3f over %lld strict pairs",
              t["median"].get<double>(), t["p90"].get<double>(), t["p99"].get<double>(), t["max"].get<double>(),
              (long long)t["scored"].get<int64_t>());
  if (t.contains("spearman_with_pooled"))
    std::printf("; Spearman with pooled %.2f", t["spearman_with_pooled"].get<double>());
  std::printf(" |\n");
  for (const auto& e : t["top"])
    std::printf("|   most alike (tokens): row %lld (%s), CHES %.3f | \"%s\" over \"%s\" |\n",
                (long long)e["row"].get<int64_t>(), e["user"].get<std::string>().c_str(), e["ches"].get<double>(),
                e["preferred"].get<std::string>().c_str(), e["rejected"].get<std::string>().c_str());
}

void write_png_report(const json& health, const std::string& png) {
  namespace fs = std::filesystem;
  const fs::path script = fs::path(resource_dir()) / "scripts" / "doctor_report.py";
  PLURAL_CHECK(fs::exists(script), "--png: ", script.string(),
               " not found (the report is drawn by that script from the --json output)");
  const char* python = std::getenv("PLURAL_PYTHON");
  const std::string py = python && *python ? python : "/usr/bin/python3";
  for (const auto& s : {py, script.string(), png})
    PLURAL_CHECK(s.find('\'') == std::string::npos, "--png: paths with a single quote are not supported: ", s);
  const auto tmp = fs::temp_directory_path() / ("plural-doctor-" + std::to_string(::getpid()) + ".json");
  core::write_file_atomic(tmp.string(), health.dump());
  const std::string cmd = "'" + py + "' '" + script.string() + "' '" + tmp.string() + "' '" + png + "'";
  const int status = std::system(cmd.c_str());
  fs::remove(tmp);
  const int rc = status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  PLURAL_CHECK(rc == 0, "--png: drawing ", png, " failed (", cmd, " exited with ", rc,
               "; its message is above). It needs Python 3 with matplotlib; PLURAL_PYTHON chooses the interpreter");
}

}  // namespace plural::apps
