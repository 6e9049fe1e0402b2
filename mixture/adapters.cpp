// Adapters of the mixture family. "newton": maximise the exact log-posterior of a new user's K logits θ (Gaussian
// prior N(0, prior_var·I)) by damped Newton in K dimensions on the shots' frozen geometry (Fisher scoring where
// the Hessian is not positive definite); the Fisher matrix at the optimum is the Laplace precision (state "cov").
// "adamw": the original PAL procedure, kept for comparison — θ ~ N(0, I), AdamW(lr 5e-3, wd 0) on θ only,
// batches of 4, 20 epochs. Each user draws her own θ (from the seed and her id), as the original's fresh rows of
// randn do: with one draw for everyone, a group's accuracy at a few shots was the luck of that one draw.
#include <torch/torch.h>

#include <cmath>

#include "core/base/error.hpp"
#include "core/base/hash.hpp"
#include "core/base/json_config.hpp"
#include "core/base/random.hpp"
#include "mixture/families.hpp"
#include "mixture/mixture_model.hpp"
#include "mixture/newton_search.hpp"

namespace plural::mixture {

using core::PairBatch;
using core::UserState;

namespace {

MixtureModel& as_mixture(core::RewardModel& m, const char* who) {
  auto* mm = dynamic_cast<MixtureModel*>(&m);
  PLURAL_CHECK(mm, who, ": expected a pal-a, pal-b or lore model, got '", m.family(), "'");
  return *mm;
}

class NewtonAdapter : public core::Adapter {
 public:
  explicit NewtonAdapter(const std::string& json) {
    options_.prior_var = 0.0;  // the model's own prior unless given
    core::JsonConfig c(json, "mixture newton adapter");
    c.get("max_iter", options_.max_iter, 1, 100000);
    c.get("tol", options_.tol);
    c.get("prior_var", options_.prior_var);
    c.finish();
    PLURAL_CHECK(options_.max_iter >= 1 && options_.tol > 0, "newton adapter: need max_iter >= 1 and tol > 0");
    PLURAL_CHECK(options_.prior_var >= 0, "newton adapter: prior_var must be >= 0 (0 = the model's)");
  }
  std::string name() const override { return "newton"; }

  UserState adapt(core::RewardModel& base, const PairBatch& shots, const std::string& user_id) const override {
    auto& model = as_mixture(base, "newton adapter");
    const int64_t n = shots.label.defined() ? shots.size() : 0;
    if (n == 0) return core::new_user_state(model, shots, user_id);  // no data: the prior
    // The state's identity only: θ and cov are written below (the prior's tensors would be LibTorch ops for nothing,
    // and at a few shots the whole adaptation takes tens of microseconds).
    UserState s = model.RewardModel::prior_state();
    s.user_id = user_id;
    s.shots = n;
    const int64_t K = model.K();
    std::unique_ptr<ShotGeometry> geo;
    {
      torch::NoGradGuard ng;
      const bool was = model.is_training();
      if (was) model.eval();
      geo = model.geometry(shots);
      if (was) model.train();
    }
    const std::vector<double> y_v = to_doubles(shots.label), c_v = to_doubles(shots.weight);
    NewtonOptions options = options_;
    if (options.prior_var == 0) options.prior_var = model.prior_var();
    const auto res = newton_search(*geo, K, Eigen::Map<const Eigen::VectorXd>(y_v.data(), n),
                                   Eigen::Map<const Eigen::VectorXd>(c_v.data(), n), options);
    auto theta = torch::empty({K}), cov_t = torch::empty({K, K});
    auto ta = theta.accessor<float, 1>();
    auto ca = cov_t.accessor<float, 2>();
    for (int64_t i = 0; i < K; ++i) {
      ta[i] = static_cast<float>(res.theta[i]);
      for (int64_t j = 0; j < K; ++j) ca[i][j] = static_cast<float>(res.cov(i, j));
    }
    s.tensors["theta"] = theta;
    s.tensors["cov"] = cov_t;
    return s;
  }

 private:
  NewtonOptions options_;
};

class AdamWAdapter : public core::Adapter {
 public:
  explicit AdamWAdapter(const std::string& json) {
    core::JsonConfig c(json, "mixture adamw adapter");
    c.get("lr", lr_);
    c.get("epochs", epochs_, 1, 100000);
    c.get("batch_size", batch_, 1, 1 << 24);
    c.get("seed", seed_);
    c.finish();
    PLURAL_CHECK(lr_ > 0 && epochs_ >= 1 && batch_ >= 1, "adamw adapter: need lr > 0, epochs >= 1, batch_size >= 1");
  }
  std::string name() const override { return "adamw"; }

  UserState adapt(core::RewardModel& base, const PairBatch& shots, const std::string& user_id) const override {
    auto& model = as_mixture(base, "adamw adapter");
    UserState s = core::new_user_state(model, shots, user_id);
    const int64_t n = s.shots;
    if (n == 0) return s;
    auto gen = at::detail::createCPUGenerator(core::hash64(user_id, seed_));
    auto theta = torch::randn({model.K()}, gen).requires_grad_(true);
    torch::optim::AdamW opt({theta}, torch::optim::AdamWOptions(lr_).weight_decay(0.0));
    bool was = model.is_training();
    model.eval();
    core::Rng rng(seed_);
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[i] = i;
    for (int e = 0; e < epochs_; ++e) {
      rng.shuffle(order);
      for (int64_t b = 0; b < n; b += batch_) {
        auto rows = torch::tensor(std::vector<int64_t>(order.begin() + b, order.begin() + std::min(n, b + batch_)));
        auto batch = shots.select(rows);
        s.tensors["theta"] = theta;
        auto z = model.logits_for(batch, s);
        auto loss = (batch.weight * (torch::nn::functional::softplus(z) - batch.label * z)).sum() /
                    batch.weight.sum().clamp_min(1e-12);
        // Gradients for θ only: the shared weights' .grad stay untouched.
        auto grads = torch::autograd::grad({loss}, {theta});
        theta.mutable_grad() = grads[0];
        opt.step();
      }
    }
    model.train(was);
    s.tensors["theta"] = theta.detach().clone();
    s.tensors.erase("cov");
    return s;
  }

 private:
  double lr_ = 5e-3;
  int epochs_ = 20, batch_ = 4;
  uint64_t seed_ = 0;
};

}  // namespace

std::vector<core::AdapterRecord> mixture_adapters() {
  return {{"newton", [](const std::string& j) { return std::make_unique<NewtonAdapter>(j); }, true},
          {"adamw", [](const std::string& j) { return std::make_unique<AdamWAdapter>(j); }, false}};
}

}  // namespace plural::mixture
