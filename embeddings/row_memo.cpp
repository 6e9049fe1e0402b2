#include "embeddings/row_memo.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <unordered_set>

namespace plural::core {

torch::Tensor RowMemo::find(const std::vector<std::string>& texts) const {
  if (texts.empty() || used_ == 0) return {};
  std::vector<int64_t> at;
  at.reserve(texts.size());
  for (const auto& t : texts) {
    auto it = index_.find(t);
    if (it == index_.end()) return {};
    at.push_back(it->second);
  }
  return rows_.index_select(0, torch::tensor(at, torch::kLong));
}

std::vector<std::string> RowMemo::missing(const std::vector<std::string>& texts) const {
  std::vector<std::string> out;
  std::unordered_set<std::string> listed;
  for (const auto& t : texts)
    if (!index_.count(t) && listed.insert(t).second) out.push_back(t);
  return out;
}

void RowMemo::add(const std::vector<std::string>& texts, const torch::Tensor& rows) {
  if (texts.empty() || rows.dim() != 2 || rows.size(0) != static_cast<int64_t>(texts.size())) return;
  const int64_t d = rows.size(1);
  const int64_t row_bytes = std::max<int64_t>(1, d * static_cast<int64_t>(rows.element_size()));
  const int64_t limit = static_cast<int64_t>(max_bytes_) / row_bytes;
  if (rows_.defined() && (rows_.size(1) != d || rows_.scalar_type() != rows.scalar_type())) return;
  for (size_t i = 0; i < texts.size() && used_ < limit; ++i) {
    if (index_.count(texts[i])) continue;
    if (!rows_.defined() || used_ == rows_.size(0)) {  // grow by doubling, up to the byte limit
      const int64_t cap = std::min(limit, std::max<int64_t>(1024, rows_.defined() ? 2 * rows_.size(0) : 0));
      auto grown = torch::empty({cap, d}, rows.options().device(torch::kCPU));
      if (used_ > 0) grown.slice(0, 0, used_).copy_(rows_.slice(0, 0, used_));
      rows_ = grown;
    }
    rows_[used_].copy_(rows[static_cast<int64_t>(i)]);
    index_.emplace(texts[i], used_++);
  }
}

}  // namespace plural::core
