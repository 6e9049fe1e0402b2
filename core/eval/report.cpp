#include "core/eval/report.hpp"

#include <cmath>
#include <cstdio>

namespace plural::core {

using nlohmann::json;

json data_json(const core::PreferenceData& data) {
  size_t seen = 0;
  json splits = {{"train", 0}, {"val", 0}, {"test", 0}, {"support", 0}};
  for (const auto& u : data.users) seen += u.seen;
  for (const auto& c : data.comparisons)
    splits[core::split_name(c.split)] = splits[core::split_name(c.split)].get<int64_t>() + 1;
  return {{"source", data.source},
          {"users", data.users.size()},
          {"seen_users", seen},
          {"texts", data.texts.size()},
          {"comparisons", data.comparisons.size()},
          {"splits", splits}};
}

json cell_json(const core::GridCell& c) {
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(); };
  return {{"users", c.users},
          {"shots", c.shots < 0 ? json() : json(c.shots)},
          {"pairs", c.pairs.pairs},
          {"accuracy", num(c.pairs.accuracy)},
          {"accuracy_ci95", {num(c.pairs.acc_lo), num(c.pairs.acc_hi)}},
          {"nll", num(c.pairs.nll)},
          {"nll_ci95", {num(c.pairs.nll_lo), num(c.pairs.nll_hi)}},
          {"brier", num(c.pairs.brier)},
          {"ece", num(c.pairs.ece)},
          {"n_users", c.per_user.n},
          {"user_accuracy_mean", num(c.per_user.mean)},
          {"user_accuracy_ci95", {num(c.per_user.lo), num(c.per_user.hi)}},
          {"user_accuracy_worst_decile", num(c.per_user.worst_decile)}};
}

std::string accuracy_with_ci(const core::GridCell& c) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f [%.3f, %.3f]", c.pairs.accuracy, c.pairs.acc_lo, c.pairs.acc_hi);
  return buf;
}

void print_grid(const std::string& title, const std::vector<core::GridCell>& cells) {
  std::printf("%s\n", title.c_str());
  std::printf("  %-7s %5s %6s  %-22s %6s %6s %6s  %-22s %9s\n", "users", "shots", "pairs", "accuracy [95% CI]",
              "nll", "brier", "ece", "per-user acc [95% CI]", "worst 10%");
  for (const auto& c : cells) {
    std::string shots = c.shots < 0 ? "-" : std::to_string(c.shots);
    char user[64];
    std::snprintf(user, sizeof user, "%.3f [%.3f, %.3f]", c.per_user.mean, c.per_user.lo, c.per_user.hi);
    std::printf("  %-7s %5s %6lld  %-22s %6.3f %6.3f %6.3f  %-22s %9.3f\n", c.users.c_str(), shots.c_str(),
                static_cast<long long>(c.pairs.pairs), accuracy_with_ci(c).c_str(), c.pairs.nll, c.pairs.brier,
                c.pairs.ece, user, c.per_user.worst_decile);
  }
}

}  // namespace plural::core
