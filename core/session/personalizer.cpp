#include "core/session/personalizer.hpp"

#include <torch/torch.h>

#include <chrono>
#include <cmath>

#include "core/base/error.hpp"
#include "core/data/data.hpp"
#include "core/dataset_view.hpp"
#include "core/family.hpp"
#include "core/query.hpp"
#include "core/query_batch.hpp"
#include "core/session/builtin_families.hpp"
#include "core/train/fit.hpp"
#include "embeddings/feature_cache.hpp"

namespace plural::core {

namespace {
Personalizer open_session(const std::string& model_path, const std::string& cache_path, Personalizer::Options o) {
  register_builtin_families();
  std::string encoder_id;
  auto model = load_model(model_path, &encoder_id);
  model->eval();
  FeatureSource features(std::make_shared<FeatureCache>(cache_path), o.encoder, encoder_id, o.infer_encoder);
  return Personalizer(std::move(model), std::move(features), std::move(o));
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Personalizer::Personalizer(const std::string& model_path, const std::string& cache_path)
    : Personalizer(model_path, cache_path, Options{}) {}

Personalizer::Personalizer(const std::string& model_path, const std::string& cache_path, Options o)
    : Personalizer(open_session(model_path, cache_path, std::move(o))) {}

Personalizer::Personalizer(std::shared_ptr<RewardModel> model, FeatureSource features, Options o)
    : model_(std::move(model)), features_(std::move(features)) {
  register_builtin_families();
  PLURAL_CHECK(model_, "Personalizer: no model");
  adapter_ = make_adapter(model_->family(), o.adapter, o.adapter_options);
}

Personalizer::~Personalizer() = default;
Personalizer::Personalizer(Personalizer&&) noexcept = default;

Personalizer Personalizer::fit(const std::string& family, const PreferenceData& data, FeatureSource features,
                               const std::string& config_json, const TrainConfig& train, TrainResult* result,
                               Options options, std::shared_ptr<const GradedVariants> variants) {
  register_builtin_families();
  require_model_family(family);  // before encoding anything
  DatasetView view(data, features.features(data.texts.all()));
  view.set_graded_variants(std::move(variants));
  TrainConfig tc = train;
  tc.encoder_id = features.encoder_id();
  auto fitted = fit_family(family, view, config_json, tc);
  if (result) *result = fitted.result;
  fitted.model->eval();
  return Personalizer(fitted.model, std::move(features), std::move(options));
}

Personalizer Personalizer::fit_auto(const PreferenceData& data, FeatureSource features, const AutoOptions& auto_options,
                                    AutoResult* table, Options options) {
  register_builtin_families();
  DatasetView view(data, features.features(data.texts.all()));
  AutoOptions ao = auto_options;
  const std::string encoder_id = features.encoder_id();
  ao.adjust = [&](TrainConfig& t) {
    if (auto_options.adjust) auto_options.adjust(t);
    t.encoder_id = encoder_id;
  };
  auto result = core::fit_auto(view, ao);
  auto model = result.fitted.model;
  model->eval();
  if (table) *table = std::move(result);
  return Personalizer(model, std::move(features), std::move(options));
}

void Personalizer::save(const std::string& path) const { save_model(*model_, path, encoder_id()); }

torch::Tensor Personalizer::features(const std::vector<std::string>& texts) { return features_.features(texts); }

DatasetView Personalizer::view(const PreferenceData& data) { return DatasetView(data, features(data.texts.all())); }

PairBatch Personalizer::pairs(const std::vector<TextComparison>& cs) {
  const bool prompts = model_->dims().prompt_dim > 0;
  std::vector<std::string> texts;
  std::vector<float> label, weight;
  for (size_t i = 0; i < cs.size(); ++i) {
    const auto& c = cs[i];
    PLURAL_CHECK(!c.chosen.empty() && !c.rejected.empty(), "comparison ", i, ": empty chosen or rejected text");
    PLURAL_CHECK(c.p_chosen >= 0 && c.p_chosen <= 1, "comparison ", i, ": p_chosen must be in [0, 1], got ",
                 c.p_chosen);
    PLURAL_CHECK(std::isfinite(c.weight) && c.weight >= 0, "comparison ", i, ": weight must be finite and >= 0");
    PLURAL_CHECK(!prompts || !c.prompt.empty(), "comparison ", i, ": this ", model_->family(),
                 " model uses prompts; give one");
    texts.push_back(c.chosen);
    texts.push_back(c.rejected);
    if (prompts) texts.push_back(c.prompt);
    label.push_back(static_cast<float>(c.p_chosen));
    weight.push_back(static_cast<float>(c.weight));
  }
  PairBatch b;
  const int64_t n = static_cast<int64_t>(cs.size());
  b.label = torch::tensor(label, torch::kFloat32);
  b.weight = torch::tensor(weight, torch::kFloat32);
  b.user = torch::full({n}, -1, torch::kInt64);
  if (n == 0) return b;
  auto f = features(texts).view({n, prompts ? 3 : 2, -1});
  b.a.x = f.select(1, 0).contiguous();
  b.b.x = f.select(1, 1).contiguous();
  if (prompts) b.a.prompt = b.b.prompt = f.select(1, 2).contiguous();
  return b;
}

UserState Personalizer::adapt(const std::string& user_id, const std::vector<TextComparison>& comparisons) {
  return adapt(user_id, pairs(comparisons));
}

UserState Personalizer::adapt(const std::string& user_id, const PairBatch& shots) {
  return adapter_->adapt(*model_, shots, user_id);
}

UserState Personalizer::adapt(const std::string& user_id, const PairBatch& shots, const std::string& adapter,
                              const std::string& adapter_options) {
  if (adapter.empty() && adapter_options == "{}") return adapt(user_id, shots);
  return make_adapter(model_->family(), adapter, adapter_options)->adapt(*model_, shots, user_id);
}

UserState Personalizer::seen_user(const std::string& user_id) const {
  int64_t row = model_->user_row(user_id);
  PLURAL_CHECK(row >= 0, "unknown user id '", user_id, "': not one of the model's ", model_->dims().users.size(),
               " seen users; adapt a new user from their comparisons instead");
  return model_->seen_state(row);
}

UserState Personalizer::user(UserSource source) {
  if (!source.state_path.empty()) return UserState::load(source.state_path);
  if (source.answers) {
    const auto& data = *source.answers;
    auto rows = user_answer_rows(data, source.user_id, source.answers_path, source.who);
    if (rows.empty()) return adapt(source.user_id, PairBatch{});
    return adapt(source.user_id, view(data).batch(rows));
  }
  if (!source.user_id.empty()) return seen_user(source.user_id);
  return model_->prior_state();
}

UserEmbedding Personalizer::user_embedding(const UserState& user) const {
  model_->check_state(user, "user_embedding");
  return model_->user_embedding(user);
}

ItemBatch Personalizer::items(const std::string& prompt, const std::vector<std::string>& responses,
                              const std::string& context) {
  const bool prompts = model_->dims().prompt_dim > 0;
  PLURAL_CHECK(!prompts || !prompt.empty(), "this ", model_->family(), " model uses prompts; give one");
  PLURAL_CHECK(context.empty() || model_->dims().context_dim > 0, "this ", model_->family(),
               " model was not trained with contexts; a context has no effect on it");
  std::vector<std::string> texts = responses;
  if (prompts) texts.push_back(prompt);
  if (!context.empty()) texts.push_back(context);
  auto f = features(texts);
  ItemBatch it;
  const int64_t n = static_cast<int64_t>(responses.size());
  it.x = f.slice(0, 0, n);
  if (prompts) it.prompt = f[n].unsqueeze(0).expand({n, -1}).contiguous();
  if (!context.empty()) {
    it.context = f[-1].unsqueeze(0).expand({n, -1}).contiguous();
    it.has_context = torch::ones({n}, torch::kBool);
  }
  return it;
}

torch::Tensor Personalizer::rewards(const UserState& user, const ItemBatch& items) {
  torch::NoGradGuard ng;
  model_->eval();
  return model_->reward(items, user);
}

std::vector<double> Personalizer::rewards(const UserState& user, const std::string& prompt,
                                          const std::vector<std::string>& responses) {
  if (responses.empty()) return {};
  auto r = rewards(user, items(prompt, responses)).to(torch::kFloat64).contiguous();
  return std::vector<double>(r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
}

double Personalizer::reward(const UserState& user, const std::string& prompt, const std::string& response) {
  return rewards(user, prompt, {response})[0];
}

torch::Tensor Personalizer::preferences(const UserState& user, const PairBatch& pairs) {
  torch::NoGradGuard ng;
  model_->eval();
  return torch::sigmoid(model_->logits_for(pairs, user));
}

double Personalizer::prefer(const UserState& user, const std::string& prompt, const std::string& a,
                            const std::string& b) {
  return preferences(user, pairs({TextComparison{prompt, a, b}}))[0].item<double>();
}

QueryRanking Personalizer::query(const UserState& user, const PairBatch& candidates, const std::string& scorer_name,
                                 int64_t n, uint64_t seed, bool batch, double min_gain) {
  auto scorer = make_query_scorer(scorer_name, seed);
  PairBatch pool = candidates;
  if (pool.label.defined()) pool.user = torch::full({pool.size()}, -1, torch::kInt64);
  torch::NoGradGuard ng;
  model_->eval();
  QueryRanking out;
  out.scorer = scorer->name();
  auto t0 = std::chrono::steady_clock::now();
  auto prepared = prepare_pool(*model_, pool);  // the user-independent part: reusable for every user
  out.prepare_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  {
    torch::AutoGradMode grad(true);  // linearizing scorers may differentiate the logits in the user vector
    out.scores = scorer->score(*model_, user, prepared);
  }
  out.score_ms = ms_since(t0);
  out.p_a = torch::sigmoid(model_->logits_for(pool, user));
  out.batch = batch;
  t0 = std::chrono::steady_clock::now();
  auto chosen = batch ? choose_batch(*model_, user, prepared, *scorer, out.scores, n, min_gain)
                      : choose_top(out.scores, n, min_gain);
  out.order = std::move(chosen.order);
  out.gain = std::move(chosen.gain);
  out.score_ms += ms_since(t0);
  return out;
}

std::vector<size_t> user_answer_rows(const PreferenceData& data, std::string& user, const std::string& path,
                                     const char* who) {
  if (user.empty()) {
    PLURAL_CHECK(data.users.size() == 1, who, ": ", path, " has ", data.users.size(), " users; choose one with --user");
    user = data.users[0].id;
  }
  int32_t u = data.find_user(user);
  PLURAL_CHECK(u >= 0, who, ": unknown user id '", user, "' in ", path);
  std::vector<size_t> rows;
  for (size_t i = 0; i < data.comparisons.size(); ++i)
    if (data.comparisons[i].user == u && data.comparisons[i].split != Split::test) rows.push_back(i);
  return rows;
}

}  // namespace plural::core
