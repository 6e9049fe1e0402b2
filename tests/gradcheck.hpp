#pragma once
// Finite-difference check of a model's parameter gradients (float64 models): the first and last entry of every
// parameter that the loss reaches.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <functional>
#include <string>

namespace plural::test {

/// Returns how many entries were checked.
inline int check_parameter_gradients(torch::nn::Module& model, const std::function<torch::Tensor()>& loss_of,
                                     const std::string& label, double h = 1e-6) {
  auto params = model.parameters();
  auto grads = torch::autograd::grad({loss_of()}, params, {}, false, false, /*allow_unused=*/true);
  int checked = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i].defined()) continue;
    auto flat = params[i].view(-1);
    for (int64_t j : {int64_t(0), flat.numel() - 1}) {
      auto loss_at = [&](double v) {
        {
          torch::NoGradGuard ng;
          flat[j].fill_(v);
        }
        return loss_of().item<double>();
      };
      double saved;
      {
        torch::NoGradGuard ng;
        saved = flat[j].item<double>();
      }
      double fd = (loss_at(saved + h) - loss_at(saved - h)) / (2 * h);
      loss_at(saved);
      INFO(label << ": parameter " << i << " entry " << j);
      CHECK(grads[i].view(-1)[j].item<double>() == Approx(fd).margin(1e-6).epsilon(1e-4));
      ++checked;
    }
  }
  return checked;
}

}  // namespace plural::test
