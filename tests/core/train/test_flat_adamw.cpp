#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "core/train/flat_adamw.hpp"

using namespace plural::core;

TEST_CASE("flat AdamW gives LibTorch's AdamW to float rounding, skipped and replaced tensors included", "[optim]") {
  torch::manual_seed(0);
  const std::vector<std::vector<int64_t>> shapes = {{5, 3}, {3}, {4, 2, 2}, {1}, {7}};
  auto make = [&] {
    std::vector<torch::Tensor> ps;
    for (const auto& s : shapes) ps.push_back(torch::randn(s).requires_grad_(true));
    return ps;
  };
  auto ours = make();
  std::vector<torch::Tensor> ref;
  for (const auto& p : ours) ref.push_back(p.detach().clone().requires_grad_(true));
  // Group 0 (three tensors) always has gradients: the flat path. Group 1's tensor 4 has none at step 1, so its
  // step count falls behind and that group goes tensor by tensor, as LibTorch does.
  FlatAdamW flat({{{ours[0], ours[1], ours[2]}, 3e-3, 1e-2}, {{ours[3], ours[4]}, 3e-2, 0.0}});
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(
      std::vector<torch::Tensor>{ref[0], ref[1], ref[2]},
      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(3e-3).weight_decay(1e-2)));
  groups.emplace_back(std::vector<torch::Tensor>{ref[3], ref[4]},
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(3e-2).weight_decay(0.0)));
  torch::optim::AdamW adamw(groups, torch::optim::AdamWOptions(1e-3));
  const auto before = ours[0].data_ptr();
  for (int step = 1; step <= 8; ++step) {
    INFO("step " << step);
    std::vector<torch::Tensor> coef;
    for (const auto& s : shapes) coef.push_back(torch::randn(s));
    auto loss = [&](std::vector<torch::Tensor>& ps) {
      auto l = torch::zeros({});
      for (size_t i = 0; i < ps.size(); ++i)
        if (!(step == 1 && i == 4)) l = l + (ps[i] * ps[i] * coef[i]).sum() + (ps[i] * coef[i]).sum();
      return l;
    };
    flat.zero_grad();
    adamw.zero_grad();
    loss(ours).backward();
    loss(ref).backward();
    std::vector<uint32_t> versions;
    for (const auto& p : ours) versions.push_back(p._version());
    flat.step();
    adamw.step();
    for (size_t i = 0; i < ours.size(); ++i)  // what a frozen model's memo keys on must see every update
      if (!(step == 1 && i == 4)) CHECK(ours[i]._version() > versions[i]);
    for (size_t i = 0; i < ours.size(); ++i) {
      INFO("tensor " << i);
      CHECK(torch::allclose(ours[i], ref[i], 1e-6, 1e-7));
    }
    if (step == 4) {  // someone replaces a tensor's data (a restore by set_data): the next steps still track it
      torch::NoGradGuard ng;
      ours[1].set_data(ours[1].detach().clone());
    }
  }
  CHECK(ours[0].data_ptr() == before);  // the same tensors, re-seated in place, not copies
  CHECK(ours[0].grad().defined());
}
