#include "embeddings/row_memo.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <unordered_set>

namespace plural::core {

torch::Tensor RowMemo::gather(const std::vector<std::string>& texts, const std::vector<std::string>& others,
                              const torch::Tensor& rows) const {
  if (texts.empty()) return {};
  std::unordered_map<std::string, int64_t> other_row;
  for (size_t i = 0; i < others.size(); ++i) other_row.emplace(others[i], static_cast<int64_t>(i));
  std::vector<int64_t> mine_at, mine_slot, other_at, other_slot;  // positions in `texts`, rows in the source
  for (size_t i = 0; i < texts.size(); ++i) {
    if (auto it = index_.find(texts[i]); it != index_.end()) {
      mine_at.push_back(static_cast<int64_t>(i));
      mine_slot.push_back(it->second);
    } else if (auto jt = other_row.find(texts[i]); jt != other_row.end()) {
      other_at.push_back(static_cast<int64_t>(i));
      other_slot.push_back(jt->second);
    } else {
      return {};
    }
  }
  auto index = [](const std::vector<int64_t>& v) { return torch::tensor(v, torch::kLong); };
  if (other_at.empty()) return rows_.index_select(0, index(mine_slot));
  if (mine_at.empty()) return rows.index_select(0, index(other_slot));
  auto out = torch::empty({static_cast<int64_t>(texts.size()), rows.size(1)}, rows.options());
  out.index_copy_(0, index(mine_at), rows_.index_select(0, index(mine_slot)).to(rows.scalar_type()));
  out.index_copy_(0, index(other_at), rows.index_select(0, index(other_slot)));
  return out;
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
