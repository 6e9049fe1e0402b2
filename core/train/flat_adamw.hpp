#pragma once
// AdamW with LibTorch's update rule, over parameter groups whose tensors are re-seated as views of one flat
// buffer per group (and, after the first step, whose gradients are views of another): a step is ~10 ops per
// group instead of ~10 per tensor. At small batches the per-tensor step was a third of a training step (PAL-B,
// batch 4: 0.51 of 1.45 ms).
#include <ATen/core/Tensor.h>

#include <vector>

namespace plural::core {

struct FlatAdamWGroup {
  std::vector<at::Tensor> params;
  double lr = 1e-3, weight_decay = 1e-2;
};

class FlatAdamW {
 public:
  explicit FlatAdamW(std::vector<FlatAdamWGroup> groups, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8);
  /// Zeroes the gradients in place, as torch::optim::Optimizer::zero_grad does in LibTorch 1.13.
  void zero_grad();
  /// One AdamW step of every parameter that has a gradient; the others are skipped, as LibTorch skips them.
  void step();

 private:
  struct Group {
    FlatAdamWGroup options;
    bool flat_ok = false;  // float32, contiguous, distinct tensors: else every step goes tensor by tensor
    at::Tensor flat, flat_grad, exp_avg, exp_avg_sq;  // [the group's numel]
    std::vector<at::Tensor> m, v;  // each tensor's moments: views of exp_avg, exp_avg_sq on the flat path
    std::vector<int64_t> offset;
    std::vector<int64_t> steps;  // per parameter, as LibTorch counts them
  };
  at::Tensor slice(const Group& g, const at::Tensor& buffer, size_t i) const;
  static const void* at(const at::Tensor& buffer, const Group& g, size_t i);
  void seat_params(Group& g);  // parameters as views of g.flat (after someone replaced one's data)
  void seat_grads(Group& g);   // gradients as views of g.flat_grad
  void step_flat(Group& g);
  void step_each(Group& g);
  std::vector<Group> groups_;
  double beta1_, beta2_, eps_;
};

}  // namespace plural::core
