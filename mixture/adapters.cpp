// Adapters of the mixture family. "newton": maximise the exact log-posterior of a new user's K logits θ (Gaussian
// prior N(0, prior_var·I)) by Fisher scoring in K dimensions on the shots' frozen geometry; the Fisher matrix at
// the optimum is the Laplace precision (state "cov"). "adamw": the original PAL procedure, kept for comparison —
// θ ~ N(0, I), AdamW(lr 5e-3, wd 0) on θ only, batches of 4, 20 epochs.
#include <torch/torch.h>

#include <Eigen/Dense>
#include <cmath>

#include "core/error.hpp"
#include "core/json_config.hpp"
#include "core/random.hpp"
#include "mixture/mixture_model.hpp"

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
    core::JsonConfig c(json, "mixture newton adapter");
    c.get("max_iter", max_iter_);
    c.get("tol", tol_);
    c.get("prior_var", prior_var_);
    c.finish();
    PLURAL_CHECK(max_iter_ >= 1 && tol_ > 0, "newton adapter: need max_iter >= 1 and tol > 0");
    PLURAL_CHECK(prior_var_ >= 0, "newton adapter: prior_var must be >= 0 (0 = the model's)");
  }
  std::string name() const override { return "newton"; }

  UserState adapt(core::RewardModel& base, const PairBatch& shots, const std::string& user_id) const override {
    auto& model = as_mixture(base, "newton adapter");
    UserState s = core::new_user_state(model, shots, user_id);
    const int64_t n = s.shots;
    if (n == 0) return s;  // no data: the prior
    const int64_t K = model.K();
    const double var = prior_var_ > 0 ? prior_var_ : model.prior_var();
    std::unique_ptr<ShotGeometry> geo;
    {
      torch::NoGradGuard ng;
      bool was = model.is_training();
      model.eval();
      geo = model.geometry(shots);
      model.train(was);
    }
    auto y_t = shots.label.to(torch::kFloat64).contiguous(), c_t = shots.weight.to(torch::kFloat64).contiguous();
    Eigen::Map<const Eigen::VectorXd> y(y_t.data_ptr<double>(), n), c(c_t.data_ptr<double>(), n);
    Eigen::VectorXd z(n);
    Eigen::MatrixXd dz(n, K);
    auto objective = [&](const Eigen::VectorXd& th) {
      geo->eval(simplex_weights(th), z, dz);
      double f = 0.5 * th.squaredNorm() / var;
      for (int64_t i = 0; i < n; ++i) {
        double sp = z[i] > 0 ? z[i] + std::log1p(std::exp(-z[i])) : std::log1p(std::exp(z[i]));
        f += c[i] * (sp - y[i] * z[i]);
      }
      return f;
    };
    Eigen::VectorXd th = Eigen::VectorXd::Zero(K);
    Eigen::MatrixXd H(K, K);
    auto grad_fisher = [&](const Eigen::VectorXd& t, Eigen::VectorXd& g) {
      Eigen::VectorXd w = simplex_weights(t);
      geo->eval(w, z, dz);
      Eigen::MatrixXd J = Eigen::MatrixXd(w.asDiagonal()) - w * w.transpose();  // dw/dθ
      Eigen::MatrixXd G = dz * J;                                                 // dz/dθ, [n, K]
      Eigen::VectorXd p = (1.0 / (1.0 + (-z.array()).exp())).matrix();
      g = G.transpose() * c.cwiseProduct(p - y) + t / var;
      Eigen::VectorXd curv = c.cwiseProduct(p.cwiseProduct((1.0 - p.array()).matrix()));
      H = G.transpose() * curv.asDiagonal() * G;
      H.diagonal().array() += 1.0 / var;
    };
    double f = objective(th);
    Eigen::VectorXd g(K);
    for (int it = 0; it < max_iter_; ++it) {
      grad_fisher(th, g);
      if (g.lpNorm<Eigen::Infinity>() < tol_) break;  // stationary
      Eigen::VectorXd step = H.ldlt().solve(g);
      double t = 1.0, f_new = objective(th - step);
      for (int halvings = 0; halvings < 12 && !(f_new <= f - 1e-4 * t * g.dot(step)); ++halvings) {  // Armijo
        t *= 0.5;
        f_new = objective(th - t * step);
      }
      if (!(f_new < f)) break;  // no descent left: at the optimum up to round-off
      th -= t * step;
      bool flat = f - f_new < 1e-12 * std::max(1.0, std::abs(f));
      f = f_new;
      if (flat || t * step.norm() < tol_) break;
    }
    grad_fisher(th, g);
    Eigen::MatrixXd cov = H.ldlt().solve(Eigen::MatrixXd::Identity(K, K));
    auto theta = torch::empty({K}), cov_t = torch::empty({K, K});
    auto ta = theta.accessor<float, 1>();
    auto ca = cov_t.accessor<float, 2>();
    for (int64_t i = 0; i < K; ++i) {
      ta[i] = static_cast<float>(th[i]);
      for (int64_t j = 0; j < K; ++j) ca[i][j] = static_cast<float>(cov(i, j));
    }
    s.tensors["theta"] = theta;
    s.tensors["cov"] = cov_t;
    return s;
  }

 private:
  int max_iter_ = 50;
  double tol_ = 1e-6;
  double prior_var_ = 0.0;
};

class AdamWAdapter : public core::Adapter {
 public:
  explicit AdamWAdapter(const std::string& json) {
    core::JsonConfig c(json, "mixture adamw adapter");
    c.get("lr", lr_);
    c.get("epochs", epochs_);
    c.get("batch_size", batch_);
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
    auto gen = at::detail::createCPUGenerator(seed_);
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

const bool registered = [] {
  for (const char* family : {"pal-a", "pal-b", "lore"}) {
    core::register_adapter(family, "newton", [](const std::string& j) { return std::make_unique<NewtonAdapter>(j); }, true);
    core::register_adapter(family, "adamw", [](const std::string& j) { return std::make_unique<AdamWAdapter>(j); }, false);
  }
  return true;
}();

}  // namespace

}  // namespace plural::mixture
