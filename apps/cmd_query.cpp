// plural query: which pairs to ask a user next.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "apps/commands.hpp"
#include "core/base/error.hpp"
#include "core/base/file_roles.hpp"
#include "core/base/progress.hpp"
#include "core/data/readers.hpp"
#include "core/dataset_view.hpp"
#include "core/query.hpp"
#include "core/session/personalizer.hpp"

namespace plural::apps {

using namespace plural::core;
using nlohmann::json;

namespace {
std::string clip(const std::string& s, size_t n) {
  std::string one = s;
  std::replace(one.begin(), one.end(), '\n', ' ');
  std::replace(one.begin(), one.end(), '\t', ' ');
  return one.size() <= n ? one : one.substr(0, n - 3) + "...";
}
}  // namespace

void add_query(CLI::App& app, Common& common) {
  struct Opts {
    std::string model, cache, encoder, candidates, answers, user, state, scorer = "bald";
    int n = 10;
    uint64_t seed = 0;
    double min_gain = -1e300;
    bool json_out = false, keep_answered = false, independent = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("query", "The candidate pairs most worth asking a user next (active learning)");
  cmd->add_option("--model", o->model, "trained model file")->required();
  cmd->add_option("--cache", o->cache, "feature cache")->required();
  cmd->add_option("--encoder", o->encoder, "encoder spec for texts not in the cache (must match the model's)");
  cmd->add_option("--candidates", o->candidates, "pool of pairs to choose from (.jsonl: a, b, optional prompt)")
      ->required();
  cmd->add_option("--answers", o->answers, "the user's answered comparisons so far (.jsonl/.tsv/.h5); none = prior");
  cmd->add_option("--user", o->user, "which user in --answers, or a seen user of the model");
  cmd->add_option("--state", o->state, "or a saved UserState (from plural adapt)");
  cmd->add_option("--scorer", o->scorer, "bald | bald-mc | epig | dopt | random")->capture_default_str();
  cmd->add_option("-n", o->n, "how many pairs to ask together (chosen as a batch: each given the ones before it)")
      ->capture_default_str();
  cmd->add_flag("--independent", o->independent, "the top n by score instead of a batch chosen together");
  cmd->add_option("--min-gain", o->min_gain,
                  "leave out pairs whose expected gain (the score, in the scorer's units) is below this; none left = "
                  "stop asking");
  cmd->add_option("--seed", o->seed, "seed of the random and Monte-Carlo scorers")->capture_default_str();
  cmd->add_flag("--keep-answered", o->keep_answered, "also rank pairs the user has already answered");
  cmd->add_option("--threads", common.threads, "LibTorch threads (0 = all cores)");
  cmd->add_flag("--json", o->json_out, "print one JSON object");
  cmd->callback([o, &common] {
    set_threads(common.threads);
    PLURAL_CHECK(o->n >= 1 && o->n <= kMaxListValue, "query: -n must be in [1, ", kMaxListValue, "], got ", o->n);
    PLURAL_CHECK(o->state.empty() || o->answers.empty(), "query: give --state or --answers, not both");
    core::require_distinct_files(
        {{"--cache", o->cache}},
        {{"--model", o->model}, {"--candidates", o->candidates}, {"--answers", o->answers}, {"--state", o->state}});
    make_query_scorer(o->scorer, o->seed);  // an unknown scorer fails before any slow work
    Personalizer session(o->model, o->cache, cli_session_options(o->encoder));
    const auto& model = session.model();

    // The user: a saved state, their answers so far (adapted here), a seen user, or nobody yet (the prior).
    std::set<std::pair<std::string, std::string>> answered;  // unordered text pairs already asked
    PreferenceData answers;
    UserSource who;
    who.state_path = o->state;
    who.user_id = o->user;
    who.who = "query";
    if (!o->answers.empty()) {
      answers = read_preferences(o->answers);
      who.answers = &answers;
      who.answers_path = o->answers;
      std::string user = o->user;
      for (size_t i : user_answer_rows(answers, user, o->answers, "query")) {
        const auto& c = answers.comparisons[i];
        answered.insert(std::minmax(answers.texts[c.a], answers.texts[c.b]));
      }
    }
    UserState state = session.user(who);

    auto pool_data = read_candidates(o->candidates);
    std::vector<size_t> rows;
    size_t excluded = 0;
    for (size_t i = 0; i < pool_data.comparisons.size(); ++i) {
      const auto& c = pool_data.comparisons[i];
      if (!o->keep_answered && answered.count(std::minmax(pool_data.texts[c.a], pool_data.texts[c.b]))) {
        ++excluded;
        continue;
      }
      rows.push_back(i);
    }
    PLURAL_CHECK(!rows.empty(), "query: every candidate in ", o->candidates,
                 " has been answered already (use --keep-answered to rank them anyway)");
    auto pool_view = session.view(pool_data);
    pool_view.bind(model);
    auto pool = pool_view.batch(rows);
    auto ranking = session.query(state, pool, o->scorer, o->n, o->seed, !o->independent, o->min_gain);
    const auto& scores = ranking.scores;
    const auto& p = ranking.p_a;
    const double prep_ms = ranking.prepare_ms, ms = ranking.score_ms;
    const int64_t n = static_cast<int64_t>(ranking.order.size());
    const double best = scores.max().item<double>();

    auto text = [&](int32_t t) { return t < 0 ? std::string() : pool_data.texts[t]; };
    if (o->json_out) {
      json j = {{"model", model.model_id()},
                {"scorer", ranking.scorer},
                {"user", state.user_id},
                {"shots", state.shots},
                {"candidates", pool.size()},
                {"excluded_answered", excluded},
                {"prepare_ms", prep_ms},
                {"score_ms", ms},
                {"batch", ranking.batch},
                {"best_score", best},
                {"stop", n == 0},
                {"pairs", json::array()}};
      for (int64_t r = 0; r < n; ++r) {
        auto i = ranking.order[r];
        const auto& c = pool_data.comparisons[rows[i]];
        j["pairs"].push_back({{"candidate", rows[i] + 1},
                              {"score", scores[i].item<double>()},
                              {"gain", ranking.gain[r]},
                              {"p_a", p[i].item<double>()},
                              {"prompt", text(c.prompt_a)},
                              {"a", text(c.a)},
                              {"b", text(c.b)}});
      }
      std::cout << j.dump() << "\n";
      return;
    }
    std::printf("%s scores for user '%s' (%lld answers): %lld candidates, prepared in %.2f ms, scored in %.2f ms%s\n",
                ranking.scorer.c_str(), state.user_id.c_str(),
                static_cast<long long>(std::max<int64_t>(state.shots, 0)), static_cast<long long>(pool.size()), prep_ms,
                ms, excluded ? (" (" + std::to_string(excluded) + " already answered left out)").c_str() : "");
    if (n == 0) {
      std::printf("nothing worth asking: the best pair's expected gain %.4g is below --min-gain %.4g\n", best,
                  o->min_gain);
      return;
    }
    // score: the pair's own; gain: given the batch's earlier pairs answered (equal when --independent).
    std::printf("%4s %6s %10s %10s %6s  %-40s  %-40s\n", "rank", "cand", "score", "gain", "P(a>b)", "a", "b");
    for (int64_t r = 0; r < n; ++r) {
      auto i = ranking.order[r];
      const auto& c = pool_data.comparisons[rows[i]];
      std::printf("%4lld %6zu %10.4g %10.4g %6.3f  %-40s  %-40s\n", static_cast<long long>(r + 1), rows[i] + 1,
                  scores[i].item<double>(), ranking.gain[r], p[i].item<double>(), clip(text(c.a), 40).c_str(),
                  clip(text(c.b), 40).c_str());
    }
  });
}

}  // namespace plural::apps
