#include "mixture/row_memo.hpp"

#include <torch/torch.h>

#include <string_view>

#include "core/error.hpp"

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
  const int64_t B = r.size(0), row_bytes = r.size(1) * static_cast<int64_t>(sizeof(float));
  PLURAL_CHECK(groups >= 1 && B % groups == 0, "distinct_rows: ", B, " rows do not split into ", groups, " groups");
  const int64_t per_group = B / groups;
  const char* base = static_cast<const char*>(r.data_ptr());
  std::unordered_map<core::Hash128, int64_t, core::Hash128Hasher> slot;
  DistinctRows d;
  std::vector<int64_t> inverse(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i) {
    if (i > 0 && i % per_group == 0) slot.clear();
    auto h = core::hash128(std::string_view(base + i * row_bytes, static_cast<size_t>(row_bytes)));
    auto [it, fresh] = slot.emplace(h, static_cast<int64_t>(d.first.size()));
    if (fresh) {
      d.first.push_back(i);
      d.keys.push_back(h);
    }
    inverse[static_cast<size_t>(i)] = it->second;
  }
  d.inverse = torch::tensor(inverse, torch::kInt64);
  return d;
}

at::Tensor RowMemo::get(const at::Tensor& rows, const DistinctRows& d, uint64_t version,
                        const std::function<at::Tensor(const at::Tensor&)>& compute) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (version != version_ || memo_.size() > 65536) {
    memo_.clear();
    version_ = version;
  }
  std::vector<size_t> missing;  // indices into d.keys
  std::vector<int64_t> missing_rows;
  for (size_t j = 0; j < d.keys.size(); ++j)
    if (!memo_.count(d.keys[j])) {
      missing.push_back(j);
      missing_rows.push_back(d.first[j]);
    }
  if (!missing.empty()) {
    auto computed = compute(rows.index_select(0, torch::tensor(missing_rows, torch::kInt64)));
    for (size_t m = 0; m < missing.size(); ++m) memo_[d.keys[missing[m]]] = computed[static_cast<int64_t>(m)];
  }
  if (d.keys.size() == 1) return memo_.at(d.keys[0]).unsqueeze(0);
  std::vector<at::Tensor> out;
  out.reserve(d.keys.size());
  for (const auto& h : d.keys) out.push_back(memo_.at(h));
  return torch::stack(out);
}

void RowMemo::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  memo_.clear();
}

}  // namespace plural::mixture
