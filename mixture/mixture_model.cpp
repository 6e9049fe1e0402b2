#include "mixture/mixture_model.hpp"

#include <torch/torch.h>

#include <Eigen/Dense>

#include "core/base/error.hpp"
#include "core/base/random.hpp"

namespace plural::mixture {

using core::UserState;

void MixtureModel::init_users(int64_t k, bool partition, double prior_var) {
  PLURAL_CHECK(k >= 1, family(), ": K must be >= 1, got ", k);
  PLURAL_CHECK(prior_var > 0, family(), ": prior_var must be > 0, got ", prior_var);
  k_ = k;
  partition_ = partition;
  prior_var_ = prior_var;
  theta_ = register_parameter("theta", torch::randn({static_cast<int64_t>(dims_.users.size()), k}));
}

torch::Tensor MixtureModel::seen_weights(const torch::Tensor& users) const {
  auto known = (users >= 0).unsqueeze(1);
  auto th = theta_.index_select(0, users.clamp_min(0)) * known.to(theta_.dtype());
  if (partition_ && !is_training())
    return torch::one_hot(th.argmax(1), k_).to(theta_.dtype()) * known + torch::softmax(th, 1) * (~known);
  return torch::softmax(th, 1);
}

torch::Tensor MixtureModel::state_weights(const UserState& s) const {
  const auto& th = s.at("theta");
  PLURAL_CHECK(th.dim() == 1 && th.size(0) == k_, family(), ": user state '", s.user_id, "' has ", th.numel(),
               " logits, this model has K = ", k_);
  if (partition_ && !is_training() && s.shots != 0) return torch::one_hot(th.argmax(), k_).to(th.dtype());
  return torch::softmax(th, 0);
}

std::vector<double> to_doubles(const torch::Tensor& t) {
  if (t.scalar_type() == torch::kFloat32 && t.is_contiguous()) {
    const float* p = t.data_ptr<float>();
    return std::vector<double>(p, p + t.numel());
  }
  auto d = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

core::ItemBatch both_sides(const core::PairBatch& batch) {
  auto cat = [](const torch::Tensor& a, const torch::Tensor& b) { return a.defined() ? torch::cat({a, b}) : a; };
  core::ItemBatch both;
  both.x = cat(batch.a.x, batch.b.x);
  both.prompt = cat(batch.a.prompt, batch.b.prompt);
  both.context = cat(batch.a.context, batch.b.context);
  both.has_context = cat(batch.a.has_context, batch.b.has_context);
  return both;
}

torch::Tensor side_difference(const torch::Tensor& r, int64_t B) { return r.narrow(0, 0, B) - r.narrow(0, B, B); }

torch::Tensor MixtureModel::logits(const core::PairBatch& batch) {
  auto w = seen_weights(batch.user);
  return side_difference(reward_sides(both_sides(batch), torch::cat({w, w})), batch.size());
}

torch::Tensor MixtureModel::logits_for(const core::PairBatch& batch, const core::UserState& state) {
  check_state(state, "logits");
  if (!predictive(state)) return side_difference(reward_sides(both_sides(batch), state_weights(state)), batch.size());
  return core::moderated_logits(linearize(state, *prepare(batch)));
}

bool MixtureModel::predictive(const UserState& state) const {
  return !partition_ && !is_training() && !torch::GradMode::is_enabled() && state.tensors.count("cov");
}

torch::Tensor MixtureModel::reward_seen(const core::ItemBatch& items, const torch::Tensor& users) {
  return reward_weights(items, seen_weights(users));
}

torch::Tensor MixtureModel::reward(const core::ItemBatch& items, const UserState& state) {
  check_state(state, "reward");
  return reward_weights(items, state_weights(state));
}

std::map<std::string, std::vector<torch::Tensor>> MixtureModel::param_groups() {
  // The original gives τ and the prototypes their own learning rates; name them so a TrainConfig can too.
  std::map<std::string, std::vector<torch::Tensor>> groups;
  for (const auto& p : named_parameters()) {
    const auto& k = p.key();
    groups[k == "theta"        ? "user"
           : k == "log_scale"  ? "scale"
           : k == "prototypes" ? "prototypes"
                               : "shared"]
        .push_back(p.value());
  }
  return groups;
}

UserState MixtureModel::seen_state(int64_t row) const {
  UserState s = RewardModel::seen_state(row);
  s.tensors["theta"] = theta_[row].detach().clone();
  return s;
}

core::UserEmbedding MixtureModel::user_embedding(const UserState& state) const {
  return {core::UserEmbedding::Kind::mixture_weights, torch::softmax(state.at("theta"), 0)};
}

void MixtureModel::set_seen_state(int64_t row, const UserState& adapted) {
  torch::NoGradGuard no_grad;
  theta_[row].copy_(adapted.at("theta"));
}

UserState MixtureModel::prior_state() const {
  UserState s = RewardModel::prior_state();
  s.tensors["theta"] = torch::zeros({k_});
  s.tensors["cov"] = torch::eye(k_) * prior_var_;
  return s;
}

namespace {
Eigen::VectorXd to_eigen(const torch::Tensor& t) {
  auto d = t.to(torch::kFloat64).contiguous();
  return Eigen::Map<const Eigen::VectorXd>(d.data_ptr<double>(), d.numel());
}
Eigen::MatrixXd to_eigen_matrix(const torch::Tensor& t) {
  auto d = t.to(torch::kFloat64).contiguous();
  return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(d.data_ptr<double>(),
                                                                                                  d.size(0), d.size(1));
}
torch::Tensor to_tensor(const Eigen::MatrixXd& m) {
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> f = m.cast<float>();
  return torch::from_blob(f.data(), {f.rows(), f.cols()}, torch::kFloat32).clone();
}
}  // namespace

// The posterior of a state: θ and its Laplace covariance (a state without one, e.g. from the AdamW adapter, has
// no uncertainty to rank questions by).
static std::pair<Eigen::VectorXd, Eigen::MatrixXd> posterior(const MixtureModel& m, const UserState& s) {
  m.check_state(s, "query");
  auto th = to_eigen(s.at("theta"));
  PLURAL_CHECK(th.size() == m.K(), m.family(), ": user state '", s.user_id, "' has ", th.size(),
               " logits, K = ", m.K());
  return {th, to_eigen_matrix(core::state_covariance(s))};
}

namespace {
struct GeometryPool : core::PreparedPool {
  std::unique_ptr<ShotGeometry> geo;
  int64_t size = 0;
};
}  // namespace

std::shared_ptr<const core::PreparedPool> MixtureModel::prepare(const core::PairBatch& candidates) {
  auto pool = std::make_shared<GeometryPool>();
  pool->geo = geometry(candidates);
  pool->size = candidates.size();
  return pool;
}

core::LinearizedLogits MixtureModel::linearize(const UserState& state, const core::PreparedPool& prepared) {
  auto [th, cov] = posterior(*this, state);
  const auto& pool = core::prepared_as<GeometryPool>(prepared, family());
  const auto C = pool.size;
  Eigen::VectorXd w = simplex_weights(th), z(C);
  Eigen::MatrixXd dz(C, k_);
  pool.geo->eval(w, z, dz);
  Eigen::MatrixXd J = Eigen::MatrixXd(w.asDiagonal()) - w * w.transpose();  // dw/dθ
  core::LinearizedLogits out;
  out.mean = to_tensor(z).reshape({C});
  out.grad = to_tensor(dz * J);
  out.cov = to_tensor(cov);
  return out;
}

torch::Tensor MixtureModel::sample_logits(const UserState& state, const core::PreparedPool& prepared, int64_t m,
                                          uint64_t seed) {
  auto [th, cov] = posterior(*this, state);
  const auto& pool = core::prepared_as<GeometryPool>(prepared, family());
  const auto C = pool.size;
  Eigen::LLT<Eigen::MatrixXd> llt(cov + 1e-10 * Eigen::MatrixXd::Identity(k_, k_));
  Eigen::MatrixXd L = llt.matrixL();
  core::Rng rng(seed);
  Eigen::MatrixXd out(m, C);
  Eigen::VectorXd z(C), eps(k_);
  Eigen::MatrixXd dz(C, k_);
  for (int64_t s = 0; s < m; ++s) {
    for (int64_t k = 0; k < k_; ++k) eps[k] = rng.normal();
    pool.geo->eval(simplex_weights(th + L * eps), z, dz);
    out.row(s) = z.transpose();
  }
  return to_tensor(out);
}

}  // namespace plural::mixture
