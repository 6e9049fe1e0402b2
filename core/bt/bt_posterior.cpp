// Per-user BT as a UserPosterior: the query scorers' view of its Gaussian head posterior.
#include <torch/torch.h>

#include "core/base/error.hpp"
#include "core/bt/bt.hpp"

namespace plural::core {

namespace {
struct HeadPool : PreparedPool {
  torch::Tensor diff;  // [C, E]: φ(a) − φ(b)
};

std::pair<torch::Tensor, torch::Tensor> head_posterior(const PerUserBT& m, const UserState& s) {
  m.check_state(s, "query");
  const auto& cov = state_covariance(s);
  const auto& w = s.at("w");
  PLURAL_CHECK(w.dim() == 1 && w.size(0) == m.config().embed, "query: user state '", s.user_id, "' has a ", w.numel(),
               "-dim head, this model's is ", m.config().embed);
  return {w.to(torch::kFloat32), cov.to(torch::kFloat32)};
}
}  // namespace

std::shared_ptr<const PreparedPool> PerUserBT::prepare(const PairBatch& candidates) {
  auto pool = std::make_shared<HeadPool>();
  pool->diff = (embed(candidates.a) - embed(candidates.b)).contiguous();
  return pool;
}

LinearizedLogits PerUserBT::linearize(const UserState& state, const PreparedPool& prepared) {
  auto [w, cov] = head_posterior(*this, state);
  const auto& pool = prepared_as<HeadPool>(prepared, family());
  return {pool.diff.matmul(w), pool.diff, cov};
}

torch::Tensor PerUserBT::sample_logits(const UserState& state, const PreparedPool& prepared, int64_t m, uint64_t seed) {
  auto [w, cov] = head_posterior(*this, state);
  const auto& pool = prepared_as<HeadPool>(prepared, family());
  auto L = torch::linalg_cholesky(cov.to(torch::kFloat64) + 1e-10 * torch::eye(cov.size(0), torch::kFloat64));
  auto gen = at::detail::createCPUGenerator(seed);
  auto eps = torch::randn({m, w.size(0)}, gen, torch::kFloat64);
  auto draws = (w.to(torch::kFloat64).unsqueeze(0) + eps.matmul(L.t())).to(torch::kFloat32);  // [M, E]
  return draws.matmul(pool.diff.t());
}

}  // namespace plural::core
