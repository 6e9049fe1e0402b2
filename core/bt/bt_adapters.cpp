// Adapters of the BT family: the population model has nothing to adapt; per-user BT fits the new user's head by
// Newton's method on the exact log-posterior (empirical-Bayes Gaussian prior from the seen users), which also
// gives the Laplace covariance used for uncertainty and query scoring.
#include <torch/torch.h>

#include <Eigen/Dense>

#include "core/base/error.hpp"
#include "core/base/json_config.hpp"
#include "core/bt/bt.hpp"

namespace plural::core {

namespace {

class PopulationAdapter : public Adapter {
 public:
  std::string name() const override { return "population"; }
  UserState adapt(RewardModel& model, const PairBatch& shots, const std::string& user_id) const override {
    return new_user_state(model, shots, user_id);
  }
};

class NewtonHeadAdapter : public Adapter {
 public:
  explicit NewtonHeadAdapter(const std::string& json) {
    JsonConfig c(json, "per-user-bt newton adapter");
    c.get("max_iter", max_iter_, 1, 100000);
    c.get("prior_scale", prior_scale_);
    c.get("tol", tol_);
    c.finish();
    PLURAL_CHECK(max_iter_ >= 1, "newton adapter: max_iter must be >= 1");
    PLURAL_CHECK(prior_scale_ > 0, "newton adapter: prior_scale must be > 0");
  }
  std::string name() const override { return "newton"; }

  UserState adapt(RewardModel& base, const PairBatch& shots, const std::string& user_id) const override {
    auto* model = dynamic_cast<PerUserBT*>(&base);
    PLURAL_CHECK(model, "newton adapter: expected a per-user-bt model, got '", base.family(), "'");
    torch::NoGradGuard no_grad;
    UserState s = new_user_state(*model, shots, user_id);
    const int64_t n = s.shots;
    auto [mean_t, var_t] = model->head_prior();
    const int64_t E = mean_t.size(0);
    auto mean_a = mean_t.to(torch::kFloat32).contiguous(), var_a = var_t.to(torch::kFloat32).contiguous();
    Eigen::VectorXd m(E), prec(E);
    for (int64_t e = 0; e < E; ++e) {
      m[e] = mean_a.data_ptr<float>()[e];
      prec[e] = 1.0 / (double(var_a.data_ptr<float>()[e]) * prior_scale_);
    }
    Eigen::VectorXd w = m;
    Eigen::MatrixXd H = prec.asDiagonal();
    if (n > 0) {
      bool was_training = model->is_training();
      model->eval();
      auto d_t = (model->embed(shots.a) - model->embed(shots.b)).to(torch::kFloat64).contiguous();
      model->train(was_training);
      PLURAL_CHECK(torch::isfinite(d_t).all().item<bool>(), "newton adapter: user '", user_id,
                   "': shot features contain NaN or Inf");
      Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> D(d_t.data_ptr<double>(),
                                                                                                 n, E);
      auto y_t = shots.label.to(torch::kFloat64).contiguous();
      auto c_t = shots.weight.to(torch::kFloat64).contiguous();
      Eigen::Map<const Eigen::VectorXd> y(y_t.data_ptr<double>(), n), c(c_t.data_ptr<double>(), n);
      auto objective = [&](const Eigen::VectorXd& v) {
        Eigen::VectorXd z = D * v;
        double f = 0;
        for (int64_t i = 0; i < n; ++i) {
          double sp = z[i] > 0 ? z[i] + std::log1p(std::exp(-z[i])) : std::log1p(std::exp(z[i]));
          f += c[i] * (sp - y[i] * z[i]);
        }
        Eigen::VectorXd dv = v - m;
        return f + 0.5 * dv.dot(prec.cwiseProduct(dv));
      };
      double f = objective(w);
      for (int it = 0; it < max_iter_; ++it) {
        Eigen::VectorXd z = D * w;
        Eigen::VectorXd p = (1.0 / (1.0 + (-z.array()).exp())).matrix();
        Eigen::VectorXd g = D.transpose() * (c.cwiseProduct(p - y)) + prec.cwiseProduct(w - m);
        Eigen::VectorXd curv = c.cwiseProduct(p.cwiseProduct((1.0 - p.array()).matrix()));
        H = D.transpose() * curv.asDiagonal() * D;
        H.diagonal() += prec;
        Eigen::VectorXd step = H.ldlt().solve(g);
        double t = 1.0, f_new = objective(w - step);
        while (f_new > f + 1e-12 && t > 1e-6) {  // backtracking keeps every step a descent
          t *= 0.5;
          f_new = objective(w - t * step);
        }
        w -= t * step;
        double moved = (t * step).norm();
        f = f_new;
        if (moved < tol_) break;
      }
      Eigen::VectorXd z = D * w;
      Eigen::VectorXd p = (1.0 / (1.0 + (-z.array()).exp())).matrix();
      Eigen::VectorXd curv = c.cwiseProduct(p.cwiseProduct((1.0 - p.array()).matrix()));
      H = D.transpose() * curv.asDiagonal() * D;
      H.diagonal() += prec;
    }
    Eigen::MatrixXd cov = H.ldlt().solve(Eigen::MatrixXd::Identity(E, E));
    auto w_out = torch::empty({E}, torch::kFloat32);
    auto cov_out = torch::empty({E, E}, torch::kFloat32);
    auto wa = w_out.accessor<float, 1>();
    auto ca = cov_out.accessor<float, 2>();
    for (int64_t e = 0; e < E; ++e) {
      wa[e] = static_cast<float>(w[e]);
      for (int64_t k = 0; k < E; ++k) ca[e][k] = static_cast<float>(cov(e, k));
    }
    s.tensors["w"] = w_out;
    s.tensors["cov"] = cov_out;
    return s;
  }

 private:
  int max_iter_ = 50;
  double prior_scale_ = 1.0;
  double tol_ = 1e-7;
};

}  // namespace

std::vector<AdapterRecord> bt_adapters() {
  return {{"population", [](const std::string&) { return std::make_unique<PopulationAdapter>(); }, true}};
}

std::vector<AdapterRecord> per_user_bt_adapters() {
  return {{"newton", [](const std::string& j) { return std::make_unique<NewtonHeadAdapter>(j); }, true},
          {"population", [](const std::string&) { return std::make_unique<PopulationAdapter>(); }, false}};
}

}  // namespace plural::core
