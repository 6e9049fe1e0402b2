#include "core/length_control.hpp"

#include <cmath>

#include "core/error.hpp"

namespace plural::core {

namespace {
struct Tally {
  int64_t rows = 0, correct = 0, lc_correct = 0, length_pairs = 0, longer = 0, lc_longer = 0;
  double share(int64_t k, int64_t n) const { return n > 0 ? double(k) / double(n) : std::nan(""); }
};
}  // namespace

LengthControl length_control(const PreferenceData& data, const std::vector<size_t>& rows,
                             const std::vector<double>& logits) {
  PLURAL_CHECK(rows.size() == logits.size(), "length control: ", rows.size(), " rows but ", logits.size(), " logits");
  std::vector<size_t> strict;
  std::vector<double> dlen, z;
  for (size_t k = 0; k < rows.size(); ++k) {
    const auto& c = data.comparisons.at(rows[k]);
    if (c.label == 0.5f) continue;
    PLURAL_CHECK(std::isfinite(logits[k]), "length control: the model's logit for row ", rows[k], " is not finite");
    strict.push_back(rows[k]);
    dlen.push_back(double(data.texts[c.a].size()) - double(data.texts[c.b].size()));
    z.push_back(logits[k]);
  }
  LengthControl lc;
  lc.rows = static_cast<int64_t>(strict.size());
  PLURAL_CHECK(!strict.empty(), "length control: no strict comparisons to score");
  double ms = 0;
  for (double d : dlen) ms += d * d;
  const double sd = std::sqrt(ms / double(dlen.size()));
  // The logits are observed, so the length term is their least-squares projection on the covariate. (A GLM on the
  // model's preference probabilities, as AlpacaEval must use with judgements only, is attenuated by the content
  // part of the logit and would leave some of the length term in.)
  std::vector<double> x(strict.size());
  double xx = 0, xz = 0;
  for (size_t i = 0; i < strict.size(); ++i) {
    x[i] = sd > 0 ? std::tanh(dlen[i] / sd) : 0.0;
    xx += x[i] * x[i];
    xz += x[i] * z[i];
  }
  lc.phi = xx > 0 ? xz / xx : 0.0;
  double rss = 0;
  for (size_t i = 0; i < strict.size(); ++i) rss += std::pow(z[i] - lc.phi * x[i], 2);
  lc.phi_se = xx > 0 && strict.size() > 1 ? std::sqrt(rss / double(strict.size() - 1) / xx) : std::nan("");

  Tally all;
  std::vector<Tally> per_user(data.users.size());
  int64_t data_longer = 0;
  for (size_t i = 0; i < strict.size(); ++i) {
    const auto& c = data.comparisons[strict[i]];
    const bool a_wins = c.label > 0.5f;
    const double zc = z[i] - lc.phi * x[i];
    for (Tally* t : {&all, &per_user[static_cast<size_t>(c.user)]}) {
      t->rows++;
      t->correct += (z[i] > 0) == a_wins;
      t->lc_correct += (zc > 0) == a_wins;
      if (dlen[i] == 0) continue;
      const bool a_longer = dlen[i] > 0;
      t->length_pairs++;
      t->longer += (z[i] > 0) == a_longer;
      t->lc_longer += (zc > 0) == a_longer;
    }
    if (dlen[i] != 0) data_longer += a_wins == (dlen[i] > 0);
  }
  lc.length_pairs = all.length_pairs;
  lc.data_longer = all.share(data_longer, all.length_pairs);
  lc.model_longer = all.share(all.longer, all.length_pairs);
  lc.lc_longer = all.share(all.lc_longer, all.length_pairs);
  lc.accuracy = all.share(all.correct, all.rows);
  lc.lc_accuracy = all.share(all.lc_correct, all.rows);
  for (size_t u = 0; u < per_user.size(); ++u) {
    const auto& t = per_user[u];
    if (t.rows < 10) continue;
    lc.users.push_back({data.users[u].id, t.rows, t.share(t.correct, t.rows), t.share(t.lc_correct, t.rows),
                        t.share(t.longer, t.length_pairs), t.share(t.lc_longer, t.length_pairs)});
  }
  // The AlpacaEval rule: a length-controlled rate that moves by more than max(10 points, a quarter) is a warning.
  if (all.length_pairs >= 30 &&
      std::abs(lc.model_longer - lc.lc_longer) > std::max(0.10, 0.25 * lc.model_longer))
    lc.warnings.push_back("the model prefers the longer item " + std::to_string(int(std::round(100 * lc.model_longer))) +
                          "% of the time, " + std::to_string(int(std::round(100 * lc.lc_longer))) +
                          "% with length controlled: its preferences lean on length");
  if (all.length_pairs >= 30 && lc.model_longer - lc.data_longer > 0.10)
    lc.warnings.push_back("the model prefers the longer item more often than the labels do (" +
                          std::to_string(int(std::round(100 * lc.model_longer))) + "% vs " +
                          std::to_string(int(std::round(100 * lc.data_longer))) + "%): it amplifies length bias");
  return lc;
}

}  // namespace plural::core
