#include "core/support.hpp"

#include <torch/torch.h>

#include <unordered_set>

#include "core/base/error.hpp"
#include "core/base/hash.hpp"
#include "core/base/json_config.hpp"

namespace plural::core {

namespace {
// (chosen, rejected, prompt) of pairs, oriented by their labels: label > 0.5 means a is chosen.
SupportSet orient(const PairBatch& p, int64_t sets, int64_t n, const torch::Tensor& mask) {
  auto a_wins = (p.label > 0.5).unsqueeze(1);
  auto shape = [&](const torch::Tensor& t) { return t.reshape({sets, n, t.size(1)}); };
  SupportSet s;
  s.chosen = shape(torch::where(a_wins, p.a.x, p.b.x));
  s.rejected = shape(torch::where(a_wins, p.b.x, p.a.x));
  if (p.a.prompt.defined()) s.prompt = shape(p.a.prompt);
  s.mask = mask;
  return s;
}

// `sets` sets of length 0: item width `dim`, and prompts of width `prompt_dim` when it is > 0.
SupportSet empty_sets(int64_t sets, int64_t dim, int64_t prompt_dim) {
  SupportSet s;
  s.chosen = s.rejected = torch::zeros({sets, 0, dim});
  if (prompt_dim > 0) s.prompt = torch::zeros({sets, 0, prompt_dim});
  s.mask = torch::zeros({sets, 0}, torch::kBool);
  return s;
}
}  // namespace

SupportSet support_from_pairs(const PairBatch& pairs) {
  if (!pairs.label.defined() || pairs.size() == 0) return empty_sets(1, 0, 0);  // nothing to size them by
  auto strict = torch::nonzero(pairs.label != 0.5).squeeze(1);
  auto p = pairs.select(strict);
  const int64_t n = strict.size(0);
  if (n == 0) return empty_sets(1, pairs.a.x.size(1), pairs.a.prompt.defined() ? pairs.a.prompt.size(1) : 0);
  return orient(p, 1, n, torch::ones({1, n}, torch::kBool));
}

void attach_support(PairBatch& batch, const SupportSet& set, const torch::Tensor& index) {
  batch.extra["support_chosen"] = set.chosen;
  batch.extra["support_rejected"] = set.rejected;
  if (set.prompt.defined()) batch.extra["support_prompt"] = set.prompt;
  batch.extra["support_mask"] = set.mask;
  batch.extra["support_index"] = index;
}

bool has_support(const PairBatch& batch) { return batch.extra.count("support_mask") > 0; }

SupportSet support_of(const PairBatch& batch, torch::Tensor* index) {
  PLURAL_CHECK(has_support(batch), "this batch carries no support sets");
  SupportSet s;
  s.chosen = batch.extra.at("support_chosen");
  s.rejected = batch.extra.at("support_rejected");
  auto it = batch.extra.find("support_prompt");
  if (it != batch.extra.end()) s.prompt = it->second;
  s.mask = batch.extra.at("support_mask");
  if (index) *index = batch.extra.at("support_index");
  return s;
}

SupportSampler::SupportSampler(const DatasetView& view, const std::vector<size_t>& pool) : view_(view) {
  const auto& cs = view.data().comparisons;
  for (size_t r : pool)
    if (cs[r].label != 0.5f) pool_[cs[r].user].push_back(r);
}

void SupportSampler::attach(PairBatch& batch, const torch::Tensor& rows, int64_t min_n, int64_t max_n, Rng& rng,
                            std::vector<std::vector<size_t>>* drawn) const {
  const auto& cs = view_.data().comparisons;
  auto r = rows.contiguous();
  const auto* rp = r.data_ptr<int64_t>();
  const int64_t B = r.size(0);
  std::unordered_map<int32_t, int64_t> set_of;  // user -> set index
  std::vector<int32_t> users;
  std::vector<int64_t> index(B);
  for (int64_t i = 0; i < B; ++i) {
    int32_t u = cs[rp[i]].user;
    auto [it, fresh] = set_of.emplace(u, static_cast<int64_t>(users.size()));
    if (fresh) users.push_back(u);
    index[i] = it->second;
  }
  std::unordered_map<int32_t, std::unordered_set<size_t>> targets;
  for (int64_t i = 0; i < B; ++i) targets[cs[rp[i]].user].insert(static_cast<size_t>(rp[i]));
  std::vector<std::vector<size_t>> sets(users.size());
  for (size_t s = 0; s < users.size(); ++s) {
    auto it = pool_.find(users[s]);
    if (it == pool_.end()) continue;
    const auto& own = targets[users[s]];
    std::vector<size_t> cand;
    cand.reserve(it->second.size());
    for (size_t row : it->second)
      if (!own.count(row)) cand.push_back(row);
    auto want = min_n + static_cast<int64_t>(rng.index(static_cast<size_t>(max_n - min_n + 1)));
    auto n = std::min<size_t>(cand.size(), static_cast<size_t>(want));
    for (size_t j = 0; j < n; ++j) std::swap(cand[j], cand[j + rng.index(cand.size() - j)]);  // partial shuffle
    sets[s].assign(cand.begin(), cand.begin() + n);
  }
  attach_support(batch, gather(sets), torch::tensor(index, torch::kInt64));
  if (drawn) *drawn = std::move(sets);
}

std::vector<size_t> SupportSampler::fixed_rows(int32_t user, int64_t max_n, uint64_t seed) const {
  auto it = pool_.find(user);
  if (it == pool_.end()) return {};
  auto rows = it->second;
  Rng rng(seed ^ hash64(view_.data().users[user].id));
  rng.shuffle(rows);
  if (static_cast<int64_t>(rows.size()) > max_n) rows.resize(max_n);
  return rows;
}

SupportSet SupportSampler::gather(const std::vector<std::vector<size_t>>& sets) const {
  const auto S = static_cast<int64_t>(sets.size());
  int64_t N = 0;
  size_t filler = 0;  // any real row; padded slots read it and are masked out
  for (const auto& s : sets) {
    N = std::max<int64_t>(N, s.size());
    if (!s.empty()) filler = s.front();
  }
  std::vector<int64_t> flat(S * N, static_cast<int64_t>(filler));
  auto mask = torch::zeros({S, N}, torch::kBool);
  auto m = mask.accessor<bool, 2>();
  for (int64_t s = 0; s < S; ++s)
    for (size_t j = 0; j < sets[s].size(); ++j) {
      flat[s * N + j] = static_cast<int64_t>(sets[s][j]);
      m[s][j] = true;
    }
  const auto D = view_.features().size(1);
  if (N == 0) return empty_sets(S, D, view_.has_prompts() ? D : 0);
  return orient(view_.batch(torch::tensor(flat, torch::kInt64)), S, N, mask);
}

void for_seen_user_sets(const RewardModel& model, const DatasetView& view, int64_t max_n,
                        const std::function<void(const std::vector<int64_t>& rows, const SupportSet& sets)>& fn,
                        size_t chunk) {
  SupportSampler sampler(view, view.rows(Split::train, true));
  const auto& users = view.data().users;
  std::vector<int64_t> rows;
  std::vector<std::vector<size_t>> sets;
  auto flush = [&] {
    if (rows.empty()) return;
    fn(rows, sampler.gather(sets));
    rows.clear();
    sets.clear();
  };
  for (size_t u = 0; u < users.size(); ++u) {
    int64_t row = model.user_row(users[u].id);
    if (row < 0) continue;
    rows.push_back(row);
    sets.push_back(sampler.fixed_rows(static_cast<int32_t>(u), max_n, 0));
    if (rows.size() == chunk) flush();
  }
  flush();
}

void check_shot_features(const RewardModel& model, const PairBatch& shots, const std::string& who) {
  PLURAL_CHECK(shots.a.x.size(1) == model.dims().item_dim && shots.b.x.size(1) == model.dims().item_dim, who,
               ": shots have ", shots.a.x.size(1), "-dim features, the model expects ", model.dims().item_dim);
  PLURAL_CHECK(torch::isfinite(shots.a.x).all().item<bool>() && torch::isfinite(shots.b.x).all().item<bool>(), who,
               ": shot features contain NaN or Inf");
}

namespace {
class AmortizedAdapter : public Adapter {
 public:
  AmortizedAdapter(std::string family, AmortizedEncode encode, const std::string& json)
      : family_(std::move(family)), encode_(std::move(encode)) {
    JsonConfig c(json, family_ + " amortized adapter");
    c.finish();
  }
  std::string name() const override { return "amortized"; }
  UserState adapt(RewardModel& model, const PairBatch& shots, const std::string& user_id) const override {
    PLURAL_CHECK(model.family() == family_, family_, " amortized adapter: expected a ", family_, " model, got '",
                 model.family(), "'");
    UserState s = new_user_state(model, shots, user_id);
    if (s.shots == 0) return s;
    check_shot_features(model, shots, family_ + " adapter");
    torch::NoGradGuard ng;
    bool was = model.is_training();
    model.eval();
    auto out = encode_(model, support_from_pairs(shots), s);
    model.train(was);
    return out;
  }

 private:
  std::string family_;
  AmortizedEncode encode_;
};
}  // namespace

AdapterRecord amortized_adapter(const std::string& family, AmortizedEncode encode) {
  return {
      "amortized",
      [family, encode](const std::string& json) { return std::make_unique<AmortizedAdapter>(family, encode, json); },
      true};
}

}  // namespace plural::core
