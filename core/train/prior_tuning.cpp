#include "core/train/prior_tuning.hpp"

#include <torch/torch.h>

#include <limits>
#include <map>

#include "core/tunable_prior.hpp"

namespace plural::core {

namespace {
struct SeenUser {
  int64_t row = -1;
  std::string id;
  PairBatch train, val;
};

double mean_nll(RewardModel& model, const PairBatch& b, const UserState* state) {
  auto z = (state ? model.logits_for(b, *state) : model.logits(b)).to(torch::kFloat64);
  auto y = b.label.to(torch::kFloat64);
  return (torch::nn::functional::softplus(z) - y * z).mean().item<double>();
}

// The prior's few-shot criterion: each held-out pair predicted from the user's other held-out pairs (none of which
// the shared weights were trained on), NLL averaged per user, then over users with at least 2 val pairs. Posteriors
// from the train pairs would flatter a wide prior: the shared weights have fit those very pairs.
double leave_one_out_nll(RewardModel& model, const Adapter& adapter, const std::vector<const SeenUser*>& users) {
  double sum = 0;
  int64_t counted = 0;
  for (const auto* u : users) {
    const int64_t n = u->val.size();
    if (n < 2) continue;
    double user = 0;
    for (int64_t i = 0; i < n; ++i) {
      auto keep = torch::cat({torch::arange(0, i), torch::arange(i + 1, n)});
      auto st = adapter.adapt(model, u->val.select(keep), u->id);
      user += mean_nll(model, u->val.select(torch::tensor({i})), &st);
    }
    sum += user / static_cast<double>(n);
    ++counted;
  }
  return counted ? sum / static_cast<double>(counted) : std::numeric_limits<double>::infinity();
}

// The prior's first-answers criterion: each user's val pairs predicted from none, one and two of her other val pairs
// (in file order), NLL averaged per user over those counts, then over users with a pair left to predict. With
// none, the prediction is the prior's alone; leave-one-out is a user with many answers, so without this term a new
// user's first predictions were over-confident (Persona-K, PAL-B with no answers: NLL above population BT's).
double first_answers_nll(RewardModel& model, const Adapter& adapter, const std::vector<const SeenUser*>& users) {
  double sum = 0;
  int64_t counted = 0;
  for (const auto* u : users) {
    const int64_t n = u->val.size();
    double user = 0;
    int64_t counts = 0;
    for (int64_t k = 0; k <= 2 && k < n; ++k) {
      auto st = adapter.adapt(model, k ? u->val.select(torch::arange(0, k)) : PairBatch{}, u->id);
      user += mean_nll(model, u->val.select(torch::arange(k, n)), &st);
      ++counts;
    }
    if (!counts) continue;
    sum += user / static_cast<double>(counts);
    ++counted;
  }
  return counted ? sum / static_cast<double>(counted) : std::numeric_limits<double>::infinity();
}

// Every seen user the model knows with train pairs; `val` is empty for those without val pairs.
std::vector<SeenUser> seen_users(RewardModel& model, DatasetView& view) {
  const auto& data = view.data();
  std::map<int32_t, std::vector<size_t>> train, val;
  for (size_t i : view.rows(Split::train, true)) train[data.comparisons[i].user].push_back(i);
  for (size_t i : view.rows(Split::val, true)) val[data.comparisons[i].user].push_back(i);
  std::vector<SeenUser> out;
  for (const auto& [u, rows] : train) {
    const int64_t row = model.user_row(data.users[u].id);
    if (row < 0) continue;
    auto v = val.find(u);
    out.push_back({row, data.users[u].id, view.batch(rows), v == val.end() ? PairBatch{} : view.batch(v->second)});
  }
  return out;
}
}  // namespace

PriorTuning tune_prior(RewardModel& model, DatasetView& view) {
  PriorTuning out;
  auto* tp = dynamic_cast<TunablePrior*>(&model);
  if (!tp) return out;
  view.bind(model);
  auto all = seen_users(model, view);
  std::vector<const SeenUser*> users;  // the ones with val pairs: what the prior is chosen on
  for (const auto& u : all)
    if (u.val.label.defined()) users.push_back(&u);
  if (users.empty()) return out;
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  auto adapter = make_adapter(model.family(), "", "{}");
  tp->begin_tuning();
  double trained = 0;
  for (const auto* u : users) trained += mean_nll(model, u->val, nullptr);
  const double n = static_cast<double>(users.size());
  double best_var = tp->prior_variance();
  std::vector<UserState> best_states;  // the kept width's posteriors of `users` from their train pairs
  for (int part = tp->prior_parts() - 1; part >= 0; --part) {  // part 0 last: its width is the one reported
    tp->select_prior_part(part);
    double best = std::numeric_limits<double>::infinity();
    best_var = tp->prior_variance();
    for (double v : tp->prior_grid()) {
      tp->set_prior_variance(v);
      std::vector<UserState> states;
      double many = 0;
      for (const auto* u : users) {
        states.push_back(adapter->adapt(model, u->train, u->id));
        many += mean_nll(model, u->val, &states.back());
      }
      const double first = first_answers_nll(model, *adapter, users);
      const double loo = leave_one_out_nll(model, *adapter, users);
      const double nll = std::isfinite(loo) ? (first + loo + many / n) / 3 : 0.5 * (first + many / n);
      if (nll < best) {
        best = nll;
        best_var = v;
        best_states = std::move(states);
      }
    }
    tp->set_prior_variance(best_var);
  }
  if (best_states.empty())  // no width gave a finite criterion: the family's own prior, as it was
    for (const auto* u : users) best_states.push_back(adapter->adapt(model, u->train, u->id));
  // The seen users' posterior means from all their train pairs, on their val pairs, scored as seen states are
  // (a trained state has no covariance to moderate its predictions with).
  double adapted = 0;
  for (size_t i = 0; i < users.size(); ++i) {
    UserState mean_only = best_states[i];
    mean_only.tensors.erase("cov");
    adapted += mean_nll(model, users[i]->val, &mean_only);
  }
  out.tuned = true;
  out.variance = best_var;
  out.val_nll_trained = trained / n;
  out.val_nll_adapted = adapted / n;
  out.users = static_cast<int64_t>(users.size());
  out.seen_refit = out.val_nll_adapted < out.val_nll_trained;
  if (out.seen_refit) {  // every seen user, also those with too few pairs to give any to validation
    std::map<const SeenUser*, const UserState*> kept;
    for (size_t i = 0; i < users.size(); ++i) kept[users[i]] = &best_states[i];
    std::vector<std::pair<int64_t, UserState>> states;
    for (const auto& u : all) {
      auto it = kept.find(&u);
      states.emplace_back(u.row, it != kept.end() ? *it->second : adapter->adapt(model, u.train, u.id));
    }
    for (const auto& [row, st] : states) tp->set_seen_state(row, st);  // after all: a prior may read seen states
  }
  model.forget_model_id();  // the config now holds the tuned prior
  model.train(was_training);
  return out;
}

}  // namespace plural::core
