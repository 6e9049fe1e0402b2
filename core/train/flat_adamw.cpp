#include "core/train/flat_adamw.hpp"

#include <ATen/ATen.h>  // not torch.h: this file is built without the precompiled header (CMakeLists.txt)

#include <cmath>
#include <set>

namespace plural::core {

FlatAdamW::FlatAdamW(std::vector<FlatAdamWGroup> groups, double beta1, double beta2, double eps)
    : beta1_(beta1), beta2_(beta2), eps_(eps) {
  at::NoGradGuard ng;
  for (auto& options : groups) {
    Group g;
    g.options = std::move(options);
    const auto& ps = g.options.params;
    g.steps.assign(ps.size(), 0);
    std::set<const void*> seen;
    g.flat_ok = !ps.empty();
    int64_t total = 0;
    for (const auto& p : ps) {
      g.flat_ok = g.flat_ok && p.scalar_type() == at::kFloat && p.is_contiguous() && p.device().is_cpu() &&
                  seen.insert(p.unsafeGetTensorImpl()).second;
      g.offset.push_back(total);
      total += p.numel();
    }
    if (g.flat_ok) {
      auto zeros = [&] { return at::zeros({total}, at::kFloat); };
      g.exp_avg = zeros();
      g.exp_avg_sq = zeros();
      g.flat = at::empty({total}, at::kFloat);
      g.flat_grad = zeros();
      seat_params(g);  // copies each tensor's values into g.flat, then makes it a view of them
    }
    for (size_t i = 0; i < ps.size(); ++i) {  // per-tensor views of the moments (own tensors off the flat path)
      g.m.push_back(g.flat_ok ? slice(g, g.exp_avg, i) : at::zeros_like(ps[i]));
      g.v.push_back(g.flat_ok ? slice(g, g.exp_avg_sq, i) : at::zeros_like(ps[i]));
    }
    groups_.push_back(std::move(g));
  }
}

at::Tensor FlatAdamW::slice(const Group& g, const at::Tensor& buffer, size_t i) const {
  const auto& p = g.options.params[i];
  return buffer.narrow(0, g.offset[i], p.numel()).view(p.sizes());
}

// Where tensor i of the group starts in a flat buffer: compared with data_ptr() on every step, so no view is made.
const void* FlatAdamW::at(const at::Tensor& buffer, const Group& g, size_t i) {
  return buffer.data_ptr<float>() + g.offset[i];
}

void FlatAdamW::seat_params(Group& g) {
  for (size_t i = 0; i < g.options.params.size(); ++i) {
    auto& p = g.options.params[i];
    if (p.data_ptr() == at(g.flat, g, i)) continue;
    auto view = slice(g, g.flat, i);
    view.copy_(p.detach());  // its current values (at the start, or after someone replaced them)
    p.set_data(view);
  }
}

void FlatAdamW::seat_grads(Group& g) {
  for (size_t i = 0; i < g.options.params.size(); ++i) {
    auto& p = g.options.params[i];
    if (p.grad().data_ptr() == at(g.flat_grad, g, i)) continue;
    auto view = slice(g, g.flat_grad, i);
    view.copy_(p.grad());
    p.mutable_grad() = view;
  }
}

void FlatAdamW::zero_grad() {
  at::NoGradGuard ng;
  for (auto& g : groups_) {
    bool seated = g.flat_ok;
    for (size_t i = 0; seated && i < g.options.params.size(); ++i) {
      const auto& grad = g.options.params[i].grad();
      seated = grad.defined() && grad.data_ptr() == at(g.flat_grad, g, i);
    }
    if (seated) {
      g.flat_grad.zero_();
      continue;
    }
    for (auto& p : g.options.params)
      if (p.grad().defined() && p.grad().is_view()) {
        // A view of an earlier optimizer's flat buffer (the model trained before, e.g. a staged family's last stage):
        // it cannot be detached in place, and zeroing it would write into that buffer.
        p.mutable_grad() = at::zeros_like(p.grad());
      } else if (p.grad().defined()) {
        p.mutable_grad().detach_();
        p.mutable_grad().zero_();
      }
  }
}

void FlatAdamW::step() {
  at::NoGradGuard ng;
  for (auto& g : groups_) {
    bool whole = g.flat_ok;
    for (size_t i = 0; whole && i < g.options.params.size(); ++i)
      whole = g.options.params[i].grad().defined() && g.steps[i] == g.steps[0];
    if (whole) {
      seat_params(g);
      seat_grads(g);
      step_flat(g);
    } else {
      step_each(g);
    }
  }
}

namespace {

struct AdamWConstants {
  float decay, b1, b2, a1, a2, sqrt_bc2, eps, step_size;
};

// LibTorch's AdamW update (torch/csrc/api/src/optim/adamw.cpp) in one pass over the group instead of its nine
// tensor ops, each a pass over memory: the same arithmetic in the same order, so the two agree to float rounding
// (LibTorch's kernels fuse some multiply-adds; this loop rounds each step). Its two divisions and square root per
// element bound it, so it is built for the widest vectors the CPU has (chosen at load time): a PAL-B step's update
// (~130k floats) took 0.16 ms with SSE2.
__attribute__((target_clones("avx512f", "avx2", "default"))) void adamw_loop(float* p, float* m, float* v,
                                                                             const float* grad, int64_t n,
                                                                             const AdamWConstants c) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = grad[i];
    const float pi = p[i] * c.decay;
    const float mi = m[i] * c.b1 + gi * c.a1;
    const float vi = v[i] * c.b2 + gi * gi * c.a2;
    const float denom = std::sqrt(vi) / c.sqrt_bc2 + c.eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + c.step_size * (mi / denom);
  }
}

}  // namespace

void FlatAdamW::step_flat(Group& g) {
  const int64_t step = ++g.steps[0];
  for (auto& s : g.steps) s = step;
  const double lr = g.options.lr;
  const float decay = static_cast<float>(1 - lr * g.options.weight_decay);
  const float b1 = static_cast<float>(beta1_), b2 = static_cast<float>(beta2_);
  const float a1 = static_cast<float>(1 - beta1_), a2 = static_cast<float>(1 - beta2_);
  const float sqrt_bc2 = static_cast<float>(std::sqrt(1 - std::pow(beta2_, step)));
  const float eps = static_cast<float>(eps_), step_size = static_cast<float>(-lr / (1 - std::pow(beta1_, step)));
  float* p = g.flat.data_ptr<float>();
  float* m = g.exp_avg.data_ptr<float>();
  float* v = g.exp_avg_sq.data_ptr<float>();
  const float* grad = g.flat_grad.data_ptr<float>();
  adamw_loop(p, m, v, grad, g.flat.numel(), {decay, b1, b2, a1, a2, sqrt_bc2, eps, step_size});
  // Written through a raw pointer, which LibTorch cannot see: bump each parameter's version as an in-place op would,
  // or whatever keys on it (a frozen model's memo of its shared parts) would go on using the old weights.
  for (auto& t : g.options.params) t.unsafeGetTensorImpl()->bump_version();
}

void FlatAdamW::step_each(Group& g) {
  const double lr = g.options.lr;
  for (size_t i = 0; i < g.options.params.size(); ++i) {
    auto& p = g.options.params[i];
    if (!p.grad().defined()) continue;
    const int64_t step = ++g.steps[i];
    const double bc1 = 1 - std::pow(beta1_, step), bc2 = 1 - std::pow(beta2_, step);
    auto &exp_avg = g.m[i], &exp_avg_sq = g.v[i];
    const auto& grad = p.grad();
    p.mul_(1 - lr * g.options.weight_decay);
    exp_avg.mul_(beta1_).add_(grad, 1 - beta1_);
    exp_avg_sq.mul_(beta2_).addcmul_(grad, grad, 1 - beta2_);
    auto denom = (exp_avg_sq.sqrt() / std::sqrt(bc2)).add_(eps_);
    p.addcdiv_(exp_avg, denom, -lr / bc1);
  }
}

}  // namespace plural::core
