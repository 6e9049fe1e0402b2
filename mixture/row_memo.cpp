#include "mixture/row_memo.hpp"

#include <torch/torch.h>

#include <cstring>
#include <string_view>

#include "core/base/error.hpp"
#include "mixture/row_gemm.hpp"

namespace plural::mixture {

bool is_frozen(const torch::nn::Module& m) { return !m.is_training() && !torch::GradMode::is_enabled(); }

uint64_t weights_version(const std::vector<at::Tensor>& params) {
  uint64_t v = 0;
  for (const auto& p : params) v = v * 1000003u + p._version() + reinterpret_cast<uintptr_t>(p.data_ptr());
  return v;
}

std::vector<at::Tensor> parameters_and_buffers(const torch::nn::Module& m) {
  auto out = m.parameters();
  for (auto& b : m.buffers()) out.push_back(b);
  return out;
}

DistinctRows distinct_rows(const at::Tensor& rows, int64_t groups) {
  auto r = rows.to(torch::kFloat32).contiguous();
  const int64_t B = r.size(0), D = r.size(1);
  auto d = distinct_rows(row_pointers(r.data_ptr<float>(), B, D).data(), B, D, groups);
  d.inverse = torch::tensor(d.index, torch::kInt64);
  return d;
}

DistinctRows distinct_rows(const float* const* rows, int64_t B, int64_t D, int64_t groups) {
  PLURAL_CHECK(groups >= 1 && B % groups == 0, "distinct_rows: ", B, " rows do not split into ", groups, " groups");
  const int64_t per_group = B / groups;
  const size_t row_bytes = static_cast<size_t>(D) * sizeof(float);
  std::unordered_map<core::Hash128, int64_t, core::Hash128Hasher> slot;
  DistinctRows d;
  d.index.resize(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i) {
    const bool new_group = i % per_group == 0;
    if (new_group) slot.clear();
    if (!new_group && (rows[i] == rows[i - 1] || std::memcmp(rows[i], rows[i - 1], row_bytes) == 0)) {
      d.index[static_cast<size_t>(i)] = d.index[static_cast<size_t>(i - 1)];
      continue;
    }
    auto h = core::hash128(std::string_view(reinterpret_cast<const char*>(rows[i]), row_bytes));
    auto [it, fresh] = slot.emplace(h, static_cast<int64_t>(d.first.size()));
    if (fresh) {
      d.first.push_back(i);
      d.keys.push_back(h);
    }
    d.index[static_cast<size_t>(i)] = it->second;
  }
  return d;
}

at::Tensor RowMemo::get(const at::Tensor& rows, const DistinctRows& d, uint64_t version,
                        const std::function<at::Tensor(const at::Tensor&)>& compute) {
  auto values = memo_.get(d, version, [&](const std::vector<int64_t>& first_rows) {
    auto computed = compute(rows.index_select(0, torch::tensor(first_rows, torch::kInt64)));
    std::vector<at::Tensor> out;
    for (int64_t m = 0; m < computed.size(0); ++m) out.push_back(computed[m]);
    return out;
  });
  if (values.size() == 1) return values[0]->unsqueeze(0);
  std::vector<at::Tensor> out;
  out.reserve(values.size());
  for (const auto& v : values) out.push_back(*v);
  return torch::stack(out);
}

}  // namespace plural::mixture
