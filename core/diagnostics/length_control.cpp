#include "core/diagnostics/length_control.hpp"

#include <Eigen/Dense>
#include <cmath>

#include "core/base/error.hpp"

namespace plural::core {

namespace {
struct Tally {
  int64_t rows = 0, correct = 0, lc_correct = 0, length_pairs = 0, longer = 0, lc_longer = 0;
  double share(int64_t k, int64_t n) const { return n > 0 ? double(k) / double(n) : std::nan(""); }
};
}  // namespace

LengthControl length_control(const PreferenceData& data, const std::vector<size_t>& rows,
                             const std::vector<double>& logits, const ItemProperties& covariates) {
  const size_t m = covariates.names.size();
  PLURAL_CHECK(m == 0 || covariates.values.size() == data.texts.size(), "length control: covariates for ",
               covariates.values.size(), " texts, the data has ", data.texts.size());
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
  const size_t n = strict.size();
  std::vector<double> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = sd > 0 ? std::tanh(dlen[i] / sd) : 0.0;
  // Covariate differences per RMS over the rows where they are known (NaN: unknown).
  Eigen::MatrixXd delta = Eigen::MatrixXd::Constant(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(m), NAN);
  std::vector<double> scale(m, 0.0);
  for (size_t k = 0; k < m; ++k) {
    double ss = 0;
    int64_t known = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto& c = data.comparisons[strict[i]];
      const double d = covariates.values[static_cast<size_t>(c.a)][k] - covariates.values[static_cast<size_t>(c.b)][k];
      delta(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(k)) = d;
      if (std::isfinite(d)) ss += d * d, ++known;
    }
    scale[k] = known > 0 ? std::sqrt(ss / double(known)) : 0.0;
    if (scale[k] > 0) delta.col(static_cast<Eigen::Index>(k)) /= scale[k];
  }
  std::vector<size_t> fit_rows;  // every covariate known
  for (size_t i = 0; i < n; ++i)
    if (m == 0 || delta.row(static_cast<Eigen::Index>(i)).array().isFinite().all()) fit_rows.push_back(i);
  const auto p = static_cast<Eigen::Index>(1 + m);
  bool with_covariates = m > 0;
  if (with_covariates && fit_rows.size() < static_cast<size_t>(p) + 10) {
    lc.warnings.push_back("covariates: only " + std::to_string(fit_rows.size()) +
                          " comparisons have every covariate known; controlled for length only");
    with_covariates = false;
    fit_rows.resize(n);
    for (size_t i = 0; i < n; ++i) fit_rows[i] = i;
  }
  const Eigen::Index q = with_covariates ? p : 1;
  Eigen::MatrixXd X(static_cast<Eigen::Index>(fit_rows.size()), q);
  Eigen::VectorXd Z(static_cast<Eigen::Index>(fit_rows.size()));
  for (size_t r = 0; r < fit_rows.size(); ++r) {
    const auto i = fit_rows[r];
    X(static_cast<Eigen::Index>(r), 0) = x[i];
    for (Eigen::Index k = 1; k < q; ++k)
      X(static_cast<Eigen::Index>(r), k) = delta(static_cast<Eigen::Index>(i), k - 1);
    Z[static_cast<Eigen::Index>(r)] = z[i];
  }
  const Eigen::MatrixXd XtX = X.transpose() * X;
  Eigen::LDLT<Eigen::MatrixXd> ldlt(XtX);
  Eigen::VectorXd beta = Eigen::VectorXd::Zero(q), se = Eigen::VectorXd::Constant(q, NAN);
  if (ldlt.info() == Eigen::Success && XtX.diagonal().minCoeff() > 0 && ldlt.isPositive()) {
    beta = ldlt.solve(X.transpose() * Z);
    const double rss = (Z - X * beta).squaredNorm();
    if (fit_rows.size() > static_cast<size_t>(q)) {
      const Eigen::MatrixXd cov =
          ldlt.solve(Eigen::MatrixXd::Identity(q, q)) * (rss / double(fit_rows.size() - static_cast<size_t>(q)));
      se = cov.diagonal().cwiseMax(0).cwiseSqrt();
    }
  }
  lc.phi = beta[0];
  lc.phi_se = se[0];
  lc.covariate_rows = with_covariates ? static_cast<int64_t>(fit_rows.size()) : 0;
  if (with_covariates)
    for (size_t k = 0; k < m; ++k)
      lc.covariates.push_back({covariates.names[k], scale[k], beta[static_cast<Eigen::Index>(k + 1)],
                               se[static_cast<Eigen::Index>(k + 1)]});
  // The controlled logits: the length term everywhere, each covariate's term where it is known.
  std::vector<double> controlled(n);
  for (size_t i = 0; i < n; ++i) {
    controlled[i] = z[i] - lc.phi * x[i];
    if (with_covariates)
      for (size_t k = 0; k < m; ++k) {
        const double d = delta(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(k));
        if (std::isfinite(d)) controlled[i] -= beta[static_cast<Eigen::Index>(k + 1)] * d;
      }
  }

  Tally all;
  std::vector<Tally> per_user(data.users.size());
  int64_t data_longer = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto& c = data.comparisons[strict[i]];
    const bool a_wins = c.label > 0.5f;
    const double zc = controlled[i];
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
  if (all.length_pairs >= 30 && std::abs(lc.model_longer - lc.lc_longer) > std::max(0.10, 0.25 * lc.model_longer))
    lc.warnings.push_back("the model prefers the longer item " +
                          std::to_string(int(std::round(100 * lc.model_longer))) + "% of the time, " +
                          std::to_string(int(std::round(100 * lc.lc_longer))) +
                          "% with length controlled: its preferences lean on length");
  if (all.length_pairs >= 30 && lc.model_longer - lc.data_longer > 0.10)
    lc.warnings.push_back("the model prefers the longer item more often than the labels do (" +
                          std::to_string(int(std::round(100 * lc.model_longer))) + "% vs " +
                          std::to_string(int(std::round(100 * lc.data_longer))) + "%): it amplifies length bias");
  return lc;
}

}  // namespace plural::core
