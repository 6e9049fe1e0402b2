#pragma once
// Feature rows already read, by text, in one growing tensor. A text's row never changes (the cache is content-
// addressed and append-only), so a long-lived session that asks for the same texts again — a server re-adapting a
// user on her growing answers, a query pool scored every round — reads them from memory instead of HDF5.
#include <torch/types.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace plural::core {

class RowMemo {
 public:
  /// Holds at most `max_bytes` of rows; texts past that are simply not remembered.
  explicit RowMemo(size_t max_bytes = size_t{64} << 20) : max_bytes_(max_bytes) {}
  /// The rows [n, D] of `texts` when every one is remembered; an undefined tensor otherwise.
  torch::Tensor find(const std::vector<std::string>& texts) const { return gather(texts, {}, {}); }
  /// The rows [n, D] of `texts`: remembered ones from memory, the others from `rows` [m, D] of `others` (rows just
  /// read that may not all have fit); an undefined tensor when a text is in neither.
  torch::Tensor gather(const std::vector<std::string>& texts, const std::vector<std::string>& others,
                       const torch::Tensor& rows) const;
  /// The texts of `texts` it does not hold, each once, in first-seen order.
  std::vector<std::string> missing(const std::vector<std::string>& texts) const;
  /// Remembers `rows` [n, D] as the rows of `texts` (as many as fit).
  void add(const std::vector<std::string>& texts, const torch::Tensor& rows);

 private:
  size_t max_bytes_;
  std::unordered_map<std::string, int64_t> index_;
  torch::Tensor rows_;  // [capacity, D], the first used_ rows filled
  int64_t used_ = 0;
};

}  // namespace plural::core
