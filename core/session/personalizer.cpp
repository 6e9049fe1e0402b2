#include "core/session/personalizer.hpp"

#include <torch/torch.h>

#include <cmath>

#include "core/base/error.hpp"
#include "embeddings/encode.hpp"
#include "embeddings/encoder.hpp"
#include "embeddings/feature_cache.hpp"
#include "core/session/builtin_families.hpp"

namespace plural::core {

Personalizer::Personalizer(const std::string& model_path, const std::string& cache_path)
    : Personalizer(model_path, cache_path, Options{}) {}

Personalizer::Personalizer(const std::string& model_path, const std::string& cache_path, Options o) {
  register_builtin_families();
  model_ = load_model(model_path, &encoder_id_);
  model_->eval();
  cache_ = std::make_unique<FeatureCache>(cache_path);
  encoder_spec_ = o.encoder.empty() ? encoder_spec_for(encoder_id_) : o.encoder;
  adapter_ = make_adapter(model_->family(), o.adapter, o.adapter_options);
}

Personalizer::~Personalizer() = default;

torch::Tensor Personalizer::features(const std::vector<std::string>& texts) {
  auto have = cache_->contains(encoder_id_, texts);
  bool missing = false;
  for (bool h : have) missing = missing || !h;
  if (missing) {
    PLURAL_CHECK(!encoder_spec_.empty(),
                 "personalizer: texts are not in the feature cache and no encoder is known "
                 "for the model's features '",
                 encoder_id_, "'; give Options::encoder");
    if (!encoder_) {
      encoder_ = make_encoder(encoder_spec_);
      PLURAL_CHECK(encoder_->id() == encoder_id_, "personalizer: encoder '", encoder_spec_, "' has id '",
                   encoder_->id(), "', but the model was trained on '", encoder_id_, "'");
    }
    EncodeOptions eo;
    eo.progress = false;
    encode_into_cache(*cache_, *encoder_, texts, eo);
  }
  return cache_->lookup(encoder_id_, texts);
}

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

UserState Personalizer::seen_user(const std::string& user_id) const {
  int64_t row = model_->user_row(user_id);
  PLURAL_CHECK(row >= 0, "unknown user id '", user_id, "': not one of the model's ", model_->dims().users.size(),
               " seen users; adapt a new user from their comparisons instead");
  return model_->seen_state(row);
}

ItemBatch Personalizer::items(const std::string& prompt, const std::vector<std::string>& responses) {
  const bool prompts = model_->dims().prompt_dim > 0;
  PLURAL_CHECK(!prompts || !prompt.empty(), "this ", model_->family(), " model uses prompts; give one");
  std::vector<std::string> texts = responses;
  if (prompts) texts.push_back(prompt);
  auto f = features(texts);
  ItemBatch it;
  const int64_t n = static_cast<int64_t>(responses.size());
  it.x = f.slice(0, 0, n);
  if (prompts) it.prompt = f[n].unsqueeze(0).expand({n, -1}).contiguous();
  return it;
}

torch::Tensor Personalizer::rewards(const UserState& user, const ItemBatch& items) {
  torch::NoGradGuard ng;
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

double Personalizer::prefer(const UserState& user, const std::string& prompt, const std::string& a,
                            const std::string& b) {
  PairBatch pb = pairs({TextComparison{prompt, a, b}});
  torch::NoGradGuard ng;
  return torch::sigmoid(model_->logits_for(pb, user))[0].item<double>();
}

}  // namespace plural::core
