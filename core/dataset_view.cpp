#include "core/dataset_view.hpp"

#include <torch/torch.h>

#include "core/base/error.hpp"

namespace plural::core {

DatasetView::DatasetView(const PreferenceData& data, torch::Tensor text_features) : data_(data) {
  PLURAL_CHECK(text_features.dim() == 2 && text_features.size(0) == static_cast<int64_t>(data.texts.size()),
               data.source, ": need features for all ", data.texts.size(), " texts, got a tensor of shape ",
               text_features.sizes());
  if (!torch::isfinite(text_features).all().item<bool>()) {
    // The features come from the cache or encoder, not from the data file: name the first text whose row is bad.
    auto bad = (~torch::isfinite(text_features)).any(1).nonzero();
    auto row = static_cast<size_t>(bad[0][0].item<int64_t>());
    throw ValueError(detail::cat("the features of ", bad.size(0), " of ", data.source,
                                 "'s texts contain NaN or Inf "
                                 "(the encoder or feature cache made them, not the data file); the first is text ",
                                 row, ": '", data.texts[row].substr(0, 60), "'"));
  }
  const int64_t T = text_features.size(0), D = text_features.size(1);
  features_ = torch::cat({text_features.to(torch::kFloat32), torch::zeros({1, D})}, 0);
  const auto n = static_cast<int64_t>(data.comparisons.size());
  std::vector<int64_t> a(n), b(n), pa(n), pb(n), ctx(n), user(n), why(n);
  std::vector<float> label(n), weight(n), margin(n);
  bool any_margin = false;
  for (int64_t i = 0; i < n; ++i) {
    const auto& c = data.comparisons[i];
    a[i] = c.a, b[i] = c.b, user[i] = c.user;
    pa[i] = c.prompt_a < 0 ? T : c.prompt_a;
    pb[i] = c.prompt_b < 0 ? T : c.prompt_b;
    ctx[i] = c.context < 0 ? T : c.context;
    why[i] = c.rationale;
    label[i] = c.label, weight[i] = c.weight, margin[i] = c.margin;
    any_margin |= c.margin != 0.f;
  }
  auto i64 = [](const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); };
  a_ = i64(a), b_ = i64(b), pa_ = i64(pa), pb_ = i64(pb), ctx_ = i64(ctx), data_user_ = i64(user);
  label_ = torch::tensor(label, torch::kFloat32);
  weight_ = torch::tensor(weight, torch::kFloat32);
  if (any_margin) margin_ = torch::tensor(margin, torch::kFloat32);
  if (data.has_rationales()) rationale_ = i64(why);
  has_prompts_ = data.has_prompts();
  has_contexts_ = data.has_contexts();
  // Until bound to a model, seen users take rows in data order among seen users.
  std::vector<int64_t> rows(data.users.size(), -1);
  int64_t next = 0;
  for (size_t u = 0; u < data.users.size(); ++u)
    if (data.users[u].seen) rows[u] = next++;
  user_rows_ = i64(rows);
}

ModelDims DatasetView::dims() const {
  ModelDims d;
  d.item_dim = features_.size(1);
  d.prompt_dim = has_prompts_ ? features_.size(1) : 0;
  d.context_dim = has_contexts_ ? features_.size(1) : 0;
  for (const auto& u : data_.users)
    if (u.seen) d.users.push_back(u.id);
  return d;
}

void DatasetView::bind(const RewardModel& model) {
  PLURAL_CHECK(model.dims().item_dim == features_.size(1), data_.source, ": feature dimension mismatch: the model (",
               model.family(), ") expects ", model.dims().item_dim, "-dim features, the cache gives ",
               features_.size(1));
  std::vector<int64_t> rows(data_.users.size());
  for (size_t u = 0; u < data_.users.size(); ++u) rows[u] = model.user_row(data_.users[u].id);
  user_rows_ = torch::tensor(rows, torch::kInt64);
}

PairBatch DatasetView::batch(const torch::Tensor& rows) const {
  PairBatch p;
  auto gather = [&](const torch::Tensor& idx) { return features_.index_select(0, idx.index_select(0, rows)); };
  p.a.x = gather(a_);
  p.b.x = gather(b_);
  if (has_prompts_) {
    p.a.prompt = gather(pa_);
    p.b.prompt = gather(pb_);
  }
  if (has_contexts_) {
    auto ctx_rows = ctx_.index_select(0, rows);
    auto c = features_.index_select(0, ctx_rows);
    auto has = ctx_rows != features_.size(0) - 1;
    p.a.context = p.b.context = c;
    p.a.has_context = p.b.has_context = has;
  }
  p.user = user_rows_.index_select(0, data_user_.index_select(0, rows));
  p.label = label_.index_select(0, rows);
  p.weight = weight_.index_select(0, rows);
  if (margin_.defined()) p.margin = margin_.index_select(0, rows);
  if (rationale_.defined()) {
    p.rationale_id = rationale_.index_select(0, rows);
    p.rationale = features_.index_select(0, p.rationale_id.masked_fill(p.rationale_id < 0, features_.size(0) - 1));
  }
  return p;
}

ItemBatch DatasetView::items(const torch::Tensor& texts, const torch::Tensor& prompts) const {
  ItemBatch it;
  const int64_t none = features_.size(0) - 1;
  it.x = features_.index_select(0, texts);
  if (has_prompts_) it.prompt = features_.index_select(0, prompts.masked_fill(prompts < 0, none));
  return it;
}

void DatasetView::set_graded_variants(std::shared_ptr<const GradedVariants> variants) {
  if (variants) {
    const auto T = static_cast<int32_t>(features_.size(0) - 1);  // the texts with features (the data may grow)
    for (const auto& [t, list] : variants->of) {
      PLURAL_CHECK(t >= 0 && t < T, data_.source, ": graded variants refer to text ", t, " of ", T,
                   " (read them with this data before building the view)");
      for (const auto& kv : list)
        PLURAL_CHECK(kv.second >= 0 && kv.second < T, data_.source, ": a graded variant is not among the data's ", T,
                     " texts (read the variants before building the view, so their features are there)");
    }
  }
  variants_ = std::move(variants);
}

PairBatch DatasetView::batch(const std::vector<size_t>& rows) const {
  std::vector<int64_t> r(rows.begin(), rows.end());
  return batch(torch::tensor(r, torch::kInt64));
}

}  // namespace plural::core
