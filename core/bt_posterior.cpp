// Per-user BT as a UserPosterior: the query scorers' view of its Gaussian head posterior.
#include <torch/torch.h>

#include "core/bt.hpp"
#include "core/error.hpp"

namespace plural::core {

namespace {
struct HeadPool : PreparedPool {
  torch::Tensor diff;  // [C, E]: φ(a) − φ(b)
};

std::pair<torch::Tensor, torch::Tensor> head_posterior(const PerUserBT& m, const UserState& s) {
  m.check_state(s, "query");
  auto it = s.tensors.find("cov");
  PLURAL_CHECK(it != s.tensors.end(), "query: user state '", s.user_id,
               "' carries no posterior covariance (adapt it with the newton adapter)");
  const auto& w = s.at("w");
  PLURAL_CHECK(w.dim() == 1 && w.size(0) == m.config().embed, "query: user state '", s.user_id, "' has a ",
               w.numel(), "-dim head, this model's is ", m.config().embed);
  return {w.to(torch::kFloat32), it->second.to(torch::kFloat32)};
}

const HeadPool& head_pool(const PreparedPool& p) {
  auto* h = dynamic_cast<const HeadPool*>(&p);
  PLURAL_CHECK(h, "query: this pool was prepared for another model, not this per-user-bt model");
  return *h;
}
}  // namespace

std::shared_ptr<const PreparedPool> PerUserBT::prepare(const PairBatch& candidates) {
  auto pool = std::make_shared<HeadPool>();
  torch::NoGradGuard ng;
  bool was = is_training();
  eval();
  pool->diff = (embed(candidates.a) - embed(candidates.b)).contiguous();
  train(was);
  return pool;
}

LinearizedLogits PerUserBT::linearize(const UserState& state, const PreparedPool& prepared) {
  auto [w, cov] = head_posterior(*this, state);
  const auto& pool = head_pool(prepared);
  return {pool.diff.matmul(w), pool.diff, cov};
}

torch::Tensor PerUserBT::sample_logits(const UserState& state, const PreparedPool& prepared, int64_t m,
                                       uint64_t seed) {
  auto [w, cov] = head_posterior(*this, state);
  const auto& pool = head_pool(prepared);
  auto L = torch::linalg_cholesky(cov.to(torch::kFloat64) + 1e-10 * torch::eye(cov.size(0), torch::kFloat64));
  auto gen = at::detail::createCPUGenerator(seed);
  auto eps = torch::randn({m, w.size(0)}, gen, torch::kFloat64);
  auto draws = (w.to(torch::kFloat64).unsqueeze(0) + eps.matmul(L.t())).to(torch::kFloat32);  // [M, E]
  return draws.matmul(pool.diff.t());
}

}  // namespace plural::core
