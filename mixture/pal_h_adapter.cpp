// The hierarchical family's adapter: MAP of a new user's [θ; δ] under the model's prior by joint Newton
// (mixture/joint_newton.hpp), and its Laplace covariance, the state's "cov" that query scorers and the
// moderated logits read.
#include <torch/torch.h>

#include "core/base/error.hpp"
#include "core/base/json_config.hpp"
#include "mixture/families.hpp"
#include "mixture/joint_newton.hpp"
#include "mixture/pal_h.hpp"

namespace plural::mixture {

namespace {

Eigen::MatrixXd to_matrix(const torch::Tensor& t) {  // [n, R] row-major float → Eigen
  auto d = t.to(torch::kFloat64).contiguous();
  return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      d.data_ptr<double>(), d.size(0), d.dim() > 1 ? d.size(1) : 1);
}

torch::Tensor to_tensor(const Eigen::VectorXd& v) {
  return torch::from_blob(const_cast<double*>(v.data()), {v.size()}, torch::kFloat64).to(torch::kFloat32);
}

class JointNewtonAdapter : public core::Adapter {
 public:
  explicit JointNewtonAdapter(const std::string& json) {
    core::JsonConfig c(json, "pal-h newton adapter");
    c.get("max_iter", max_iter_, 1, 100000);
    c.get("tol", tol_);
    c.finish();
    PLURAL_CHECK(tol_ > 0, "pal-h newton adapter: need tol > 0");
  }
  std::string name() const override { return "newton"; }

  core::UserState adapt(core::RewardModel& base, const core::PairBatch& shots,
                        const std::string& user_id) const override {
    auto* model = dynamic_cast<PalH*>(&base);
    PLURAL_CHECK(model, "pal-h newton adapter: expected a pal-h model, got '", base.family(), "'");
    const int64_t n = shots.label.defined() ? shots.size() : 0;
    if (n == 0) return core::new_user_state(*model, shots, user_id);
    std::unique_ptr<ShotGeometry> geo;
    Eigen::MatrixXd D;
    {
      torch::NoGradGuard ng;
      const bool was = model->is_training();
      if (was) model->eval();
      geo = model->mixture().geometry(shots);
      D = to_matrix(model->head(shots.a) - model->head(shots.b));
      if (was) model->train();
    }
    auto [mean, var] = model->delta_prior();
    JointPrior prior;
    prior.theta_var = model->theta_var();
    prior.delta_mean = to_matrix(mean);
    prior.delta_var = to_matrix(var);
    const auto y = to_matrix(shots.label), c = to_matrix(shots.weight);
    const auto res = joint_newton_search(*geo, model->K(), D, y, c, prior, max_iter_, tol_);
    core::UserState s = model->RewardModel::prior_state();
    s.user_id = user_id;
    s.shots = n;
    s.tensors["theta"] = to_tensor(res.theta);
    s.tensors["delta"] = to_tensor(res.delta);
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> cov = res.cov;
    s.tensors["cov"] = torch::from_blob(cov.data(), {cov.rows(), cov.cols()}, torch::kFloat64).to(torch::kFloat32);
    return s;
  }

 private:
  int max_iter_ = 50;
  double tol_ = 1e-6;
};

}  // namespace

std::vector<core::AdapterRecord> pal_h_adapters() {
  return {{"newton", [](const std::string& j) { return std::make_unique<JointNewtonAdapter>(j); }, true}};
}

}  // namespace plural::mixture
