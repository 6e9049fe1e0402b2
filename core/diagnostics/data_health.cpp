#include "core/diagnostics/data_health.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "core/diagnostics/logistic.hpp"
#include "core/eval/stats.hpp"

namespace plural::core {

namespace {
// A length bias is flagged at the two-sided p of |z| > 3 under a fair coin (exact binomial, any n).
constexpr double kBiasP = 0.0027;
// One pair, the same whichever item is listed first; `flip` says whether a and b were swapped to get there.
struct PairKey {
  int32_t lo, hi, prompt_lo, prompt_hi, context;
  bool operator<(const PairKey& o) const {
    return std::tie(lo, hi, prompt_lo, prompt_hi, context) < std::tie(o.lo, o.hi, o.prompt_lo, o.prompt_hi, o.context);
  }
};
PairKey key_of(const Comparison& c, bool* flip) {
  *flip = c.b < c.a;
  return *flip ? PairKey{c.b, c.a, c.prompt_b, c.prompt_a, c.context}
               : PairKey{c.a, c.b, c.prompt_a, c.prompt_b, c.context};
}
// +1: the key's first item preferred, -1: the second, 0: a tie.
int direction(const Comparison& c, bool flip) {
  int d = c.label > 0.5f ? 1 : c.label < 0.5f ? -1 : 0;
  return flip ? -d : d;
}

// Maximum-likelihood φ of P(y = 1) = σ(φ·x), with its standard error.
std::pair<double, double> fit_slope(const std::vector<double>& x, const std::vector<int>& y) {
  Eigen::MatrixXd X(x.size(), 1);
  Eigen::VectorXd t(y.size());
  for (size_t i = 0; i < x.size(); ++i) X(i, 0) = x[i], t[i] = y[i];
  auto fit = fit_logistic(X, t);
  const double var = fit.cov(0, 0);
  return {fit.mean[0], var > 0 && std::isfinite(var) ? std::sqrt(var) : std::nan("")};
}
}  // namespace

DataHealth data_health(const PreferenceData& data) {
  DataHealth h;
  h.users = static_cast<int64_t>(data.users.size());
  for (const auto& u : data.users) (u.seen ? h.seen_users : h.unseen_users)++;
  h.texts = static_cast<int64_t>(data.texts.size());
  h.comparisons = static_cast<int64_t>(data.comparisons.size());

  std::vector<int64_t> per_user(data.users.size(), 0);
  std::map<std::pair<int32_t, PairKey>, std::pair<int, size_t>> first_of;  // (user, pair) -> first direction, row
  std::map<PairKey, std::pair<std::map<int32_t, int>, int>> by_pair;       // pair -> user -> direction; directions
  std::vector<double> lx;
  std::vector<int> ly;
  std::vector<int64_t> user_len_n(data.users.size(), 0), user_len_longer(data.users.size(), 0);
  std::unordered_set<int32_t> rationale_seen;
  for (size_t i = 0; i < data.comparisons.size(); ++i) {
    const auto& c = data.comparisons[i];
    h.by_split[static_cast<int>(c.split)]++;
    per_user[static_cast<size_t>(c.user)]++;
    if (c.label == 0.5f)
      h.ties++;
    else if (c.label > 0 && c.label < 1)
      h.soft_labels++;
    if (c.prompt_a >= 0 || c.prompt_b >= 0) h.with_prompt++;
    if (c.prompt_a != c.prompt_b) h.two_prompts++;
    if (c.context >= 0) h.with_context++;
    if (c.rationale >= 0) {
      h.with_rationale++;
      h.distinct_rationales += rationale_seen.insert(c.rationale).second;
    }
    if (c.a == c.b) {
      h.self_pairs++;
      continue;
    }
    bool flip = false;
    auto k = key_of(c, &flip);
    int d = direction(c, flip);
    auto [it, fresh] = first_of.emplace(std::make_pair(c.user, k), std::make_pair(d, i));
    if (!fresh) {
      if (d != 0 && it->second.first != 0 && d != it->second.first) {
        h.contradictory_judgements++;
        if (h.examples.size() < 5)
          h.examples.push_back(data.users[static_cast<size_t>(c.user)].id + ": \"" + data.texts[c.a].substr(0, 40) +
                               "\" vs \"" + data.texts[c.b].substr(0, 40) + "\" (rows " +
                               std::to_string(it->second.second) + ", " + std::to_string(i) + ")");
      } else {
        h.duplicate_judgements++;
      }
    }
    if (d != 0) {
      auto& entry = by_pair[k];
      entry.first[c.user] = d;
      entry.second |= d > 0 ? 1 : 2;
      const auto la = data.texts[c.a].size(), lb = data.texts[c.b].size();
      if (la != lb) {
        bool longer_won = (c.label > 0.5f) == (la > lb);
        lx.push_back(std::abs(double(la) - double(lb)));
        ly.push_back(longer_won ? 1 : 0);
        user_len_n[static_cast<size_t>(c.user)]++;
        user_len_longer[static_cast<size_t>(c.user)] += longer_won;
      }
    }
  }
  for (const auto& [k, entry] : by_pair)
    if (entry.first.size() >= 2) {
      h.shared_pairs++;
      if (entry.second == 3) h.disputed_pairs++;
    }

  std::vector<int64_t> sorted = per_user;
  std::sort(sorted.begin(), sorted.end());
  if (!sorted.empty()) {
    h.per_user_min = sorted.front();
    h.per_user_max = sorted.back();
    h.per_user_median = sorted[sorted.size() / 2];
  }
  h.users_under_5 = std::count_if(per_user.begin(), per_user.end(), [](int64_t n) { return n < 5; });

  h.length_pairs = static_cast<int64_t>(lx.size());
  if (!lx.empty()) {
    double mean = 0, var = 0;
    for (double v : lx) mean += v;
    mean /= lx.size();
    for (double v : lx) var += (v - mean) * (v - mean);
    double sd = std::sqrt(var / lx.size());
    if (!(sd > 0)) sd = mean > 0 ? mean : 1;
    std::vector<double> x(lx.size());
    for (size_t i = 0; i < lx.size(); ++i) x[i] = std::tanh(lx[i] / sd);
    h.longer_wins = std::count(ly.begin(), ly.end(), 1) / double(ly.size());
    std::tie(h.length_phi, h.length_phi_se) = fit_slope(x, ly);
    if (h.length_pairs < 10) h.length_phi = h.length_phi_se = std::nan("");  // too few to fit
    for (size_t u = 0; u < data.users.size(); ++u) {
      if (user_len_n[u] < 10) continue;
      if (fair_coin_p_value(user_len_longer[u], user_len_n[u]) < kBiasP) h.users_length_biased++;
    }
  }

  if (h.contradictory_judgements > 0)
    h.warnings.push_back(std::to_string(h.contradictory_judgements) +
                         " judgements contradict the same user's earlier judgement of the same pair");
  if (h.self_pairs > 0) h.warnings.push_back(std::to_string(h.self_pairs) + " comparisons pit an item against itself");
  // An exact binomial test on the share, not the GLM's Wald test: near separation (one user always picking the longer
  // item) inflates φ's standard error exactly when the bias is strongest.
  const auto longer = static_cast<int64_t>(std::llround(h.longer_wins * double(h.length_pairs)));
  if (h.length_pairs >= 30 && std::abs(h.longer_wins - 0.5) > 0.1 && fair_coin_p_value(longer, h.length_pairs) < kBiasP)
    h.warnings.push_back("length bias: the longer item wins " + std::to_string(int(std::round(100 * h.longer_wins))) +
                         "% of strict pairs; a reward model can score length instead of content");
  if (h.users > 0 && h.users_under_5 * 2 > h.users)
    h.warnings.push_back("most users have fewer than 5 comparisons: per-user models will lean on the population");
  return h;
}

}  // namespace plural::core
