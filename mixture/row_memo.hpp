#pragma once
// Per-row results of a frozen model, remembered by the row's content. A few prompts recur across every user's
// shots and scored items, so their share of a forward pass (PAL-B's K prompt projectors, PAL-A's prompt half of
// f's first layer) need not be recomputed for each user. Invalidated whenever a weight it depends on changes.
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/base/hash.hpp"

namespace plural::mixture {

/// A frozen model: evaluation mode without autograd (training and gradient checks never read a memo).
bool is_frozen(const torch::nn::Module& m);

/// Changes whenever any of the tensors is updated in place (optimizer step, load) or replaced.
uint64_t weights_version(const std::vector<at::Tensor>& params);
/// A module's parameters and buffers (batchnorm statistics): what a frozen copy of it depends on. Listed once by
/// the owner, since collecting them took ~1.4 µs per adaptation.
std::vector<at::Tensor> parameters_and_buffers(const torch::nn::Module& m);

/// The distinct rows of a [B, D] float32 matrix, told apart by a 128-bit content hash (O(B·D), where sorting rows
/// was the main per-batch cost): row i is distinct row index[i], first seen at row first[j]. With groups > 1 the
/// rows are that many equal consecutive blocks, and rows of different blocks are never merged (a training batch's
/// two sides, so that each draws its own dropout masks).
struct DistinctRows {
  std::vector<core::Hash128> keys;
  std::vector<int64_t> first;
  std::vector<int64_t> index;  ///< [B]
  at::Tensor inverse;          ///< index as a [B] int64 tensor (the tensor overload only)
};
DistinctRows distinct_rows(const at::Tensor& rows, int64_t groups = 1);
/// The same for rows given by pointer (row i at rows[i], D floats each), without a LibTorch op: a row equal to the
/// one before it is compared, not hashed again (a user's shots mostly share one prompt).
DistinctRows distinct_rows(const float* const* rows, int64_t B, int64_t D, int64_t groups = 1);

/// Values remembered by a row's content key, for a frozen model: missing ones are computed in one call
/// compute(the first row of each missing key) -> one value each. A new version forgets everything. Thread-safe;
/// the values are shared, so a caller keeps hers while another call forgets them.
template <class T>
class KeyedMemo {
 public:
  using Compute = std::function<std::vector<T>(const std::vector<int64_t>& first_rows)>;
  /// One value per distinct row of d, in d's order.
  std::vector<std::shared_ptr<const T>> get(const DistinctRows& d, uint64_t version, const Compute& compute) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (version != version_ || memo_.size() > 65536) {
      memo_.clear();
      version_ = version;
    }
    std::vector<std::shared_ptr<const T>> out(d.keys.size());
    std::vector<size_t> missing;
    std::vector<int64_t> missing_rows;
    for (size_t j = 0; j < d.keys.size(); ++j) {
      auto it = memo_.find(d.keys[j]);
      if (it != memo_.end()) {
        out[j] = it->second;
      } else {
        missing.push_back(j);
        missing_rows.push_back(d.first[j]);
      }
    }
    if (missing.empty()) return out;
    auto computed = compute(missing_rows);
    for (size_t m = 0; m < missing.size(); ++m) {
      auto v = std::make_shared<const T>(std::move(computed[m]));
      memo_[d.keys[missing[m]]] = v;
      out[missing[m]] = v;
    }
    return out;
  }

 private:
  std::mutex mutex_;  // scoring may be concurrent
  std::unordered_map<core::Hash128, std::shared_ptr<const T>, core::Hash128Hasher> memo_;
  uint64_t version_ = 0;
};

/// A KeyedMemo of tensors with a tensor interface.
class RowMemo {
 public:
  /// Results [P, ...] of the distinct rows of `rows`: remembered ones as they are, missing ones from one call
  /// compute(missing rows [M, D]) -> [M, ...]. A new version forgets everything.
  at::Tensor get(const at::Tensor& rows, const DistinctRows& d, uint64_t version,
                 const std::function<at::Tensor(const at::Tensor&)>& compute);

 private:
  KeyedMemo<at::Tensor> memo_;
};

/// One value built from a frozen model's weights (an inference copy of a projector), rebuilt when their version
/// changes. Shared, so a caller keeps using the copy it got while another thread replaces it.
template <class T>
class VersionedValue {
 public:
  std::shared_ptr<const T> get(uint64_t version, const std::function<T()>& build) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!value_ || version != version_) {
      value_ = std::make_shared<const T>(build());
      version_ = version;
    }
    return value_;
  }

 private:
  std::mutex mutex_;
  std::shared_ptr<const T> value_;
  uint64_t version_ = 0;
};

}  // namespace plural::mixture
