#include "bench/bench_persona_c.hpp"

#include <torch/torch.h>

#include <cstdio>
#include <map>

#include "core/data/persona_k.hpp"
#include "core/eval/evaluator.hpp"
#include "core/eval/stats.hpp"

namespace plural::bench {

using namespace plural::core;
using nlohmann::json;

namespace {
struct Score {
  double correct = 0, n = 0;
  json to_json() const {
    auto [lo, hi] = wilson_interval(correct, n);
    return {{"accuracy", n > 0 ? correct / n : 0.0}, {"ci95", {lo, hi}}, {"pairs", static_cast<int64_t>(n)}};
  }
  std::string text() const {
    auto [lo, hi] = wilson_interval(correct, n);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f [%.3f, %.3f]", n > 0 ? correct / n : 0.0, lo, hi);
    return buf;
  }
};

// Accuracy of the model's logits against the stored labels.
void tally(RewardModel& model, const PairBatch& batch, Score& s) {
  if (batch.size() == 0) return;
  auto z = model.logits(batch);
  s.correct += ((z > 0) == (batch.label > 0.5)).sum().item<double>();
  s.n += static_cast<double>(batch.size());
}

void set_context(PairBatch& b, const torch::Tensor& c) {  // c [D] or undefined (= none)
  const int64_t n = b.size();
  if (!c.defined()) {
    b.a.has_context = b.b.has_context = torch::zeros({n}, torch::kBool);
    return;
  }
  b.a.context = b.b.context = c.unsqueeze(0).expand({n, -1}).contiguous();
  b.a.has_context = b.b.has_context = torch::ones({n}, torch::kBool);
}
}  // namespace

json persona_c_bench(const PersonaCBench& bench, const BenchSetup& setup) {
  PersonaKConfig pc;
  pc.prototypes = bench.k_star;
  pc.alpha = 0;  // one prototype per user: the context describes the user exactly
  pc.contexts = true;
  pc.held_out_contexts = bench.held_out;
  pc.seed = setup.seed;
  auto pk = generate_persona_k(pc);
  std::string encoder_id;
  auto features = bench_features(setup, pk.data, &encoder_id);
  DatasetView view(pk.data, features);
  const int K = bench.k_star, first_held = K - bench.held_out;
  std::vector<torch::Tensor> ctx;
  for (const auto& text : pk.contexts) ctx.push_back(features[pk.data.texts.find(text)]);

  // Test pairs per user group: seen users (trained contexts) and unseen users of held-out prototypes.
  std::map<int, std::vector<size_t>> seen_rows, held_rows;
  for (size_t r = 0; r < pk.data.comparisons.size(); ++r) {
    const auto& c = pk.data.comparisons[r];
    if (c.split != Split::test) continue;
    const auto& u = pk.data.users[c.user];
    if (u.seen)
      seen_rows[u.group].push_back(r);
    else if (u.group >= first_held)
      held_rows[u.group].push_back(r);
  }
  // Whether two prototypes order a pair differently: the statements' behaviours carry the signs.
  auto disagree = [&](size_t row, int g, int h) {
    const auto& c = pk.data.comparisons[row];
    auto r = [&](int p, int32_t t) { return pk.prototypes[p][pk.text_behavior[t]] * pk.text_stance[t]; };
    return (r(g, c.a) - r(g, c.b) > 0) != (r(h, c.a) - r(h, c.b) > 0);
  };

  json out = {{"bench", "persona-c"},         {"k_star", K},
              {"held_out", bench.held_out},   {"encoder", encoder_id},
              {"summary", pk.data.summary()}, {"contexts", pk.contexts},
              {"rows", json::array()}};
  if (!setup.json)
    std::printf(
        "Persona-C: K* = %d prototypes, %d held out (their contexts only reach unseen users)\n%-16s %-24s "
        "%-24s %-24s %-24s %-24s\n",
        K, bench.held_out, "model", "true context", "no context", "wrong context (disagree)", "held-out ctx, zero-shot",
        "held-out, no context");
  for (const auto& spec : bench.models) {
    std::string family = spec, conditioning;
    if (auto colon = spec.find(':'); colon != std::string::npos) {
      family = spec.substr(0, colon);
      conditioning = spec.substr(colon + 1);
    }
    std::string extra = conditioning.empty() ? "" : json{{"conditioning", conditioning}}.dump();
    auto trained = train_family(family, 0, view, setup, extra);
    auto& model = *trained.model;
    model.eval();
    torch::NoGradGuard ng;
    Score truth, none, wrong, held, held_none;
    for (auto& [g, rows] : seen_rows) {
      auto b = view.batch(rows);
      tally(model, b, truth);
      auto bn = b;
      set_context(bn, torch::Tensor());
      tally(model, bn, none);
      // Each other trained prototype's context, on the pairs where it and the true one disagree.
      for (int h = 0; h < first_held; ++h) {
        if (h == g) continue;
        std::vector<size_t> dis;
        for (auto r : rows)
          if (disagree(r, g, h)) dis.push_back(r);
        if (dis.empty()) continue;
        auto bw = view.batch(dis);
        set_context(bw, ctx[h]);
        tally(model, bw, wrong);
      }
    }
    for (auto& [g, rows] : held_rows) {
      auto b = view.batch(rows);
      tally(model, b, held);
      set_context(b, torch::Tensor());
      tally(model, b, held_none);
    }
    json row = {{"model", spec},
                {"epochs", trained.result.epochs_run},
                {"seconds", trained.result.seconds},
                {"true_context", truth.to_json()},
                {"no_context", none.to_json()},
                {"wrong_context_disagreeing_pairs", wrong.to_json()},
                {"held_out_context_zero_shot", held.to_json()},
                {"held_out_no_context", held_none.to_json()}};
    out["rows"].push_back(row);
    if (!setup.json)
      std::printf("%-16s %-24s %-24s %-24s %-24s %-24s\n", spec.c_str(), truth.text().c_str(), none.text().c_str(),
                  wrong.text().c_str(), held.text().c_str(), held_none.text().c_str());
  }
  return out;
}

}  // namespace plural::bench
