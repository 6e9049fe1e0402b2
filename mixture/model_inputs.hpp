#pragma once
// What every mixture model checks of its inputs at its boundary, and how one weight vector meets a batch.
#include <ATen/core/Tensor.h>

#include <string>

#include "core/model.hpp"

namespace plural::mixture {

/// Item features [B, item_dim] (and prompt features [B, prompt_dim] when the model uses them), or a clear error.
void check_items(const core::ItemBatch& items, const core::ModelDims& dims, bool prompt, const std::string& who);
/// Both sides of the shots, and one row of each per label: the frozen paths read raw buffers of that many rows.
void check_shots(const core::PairBatch& shots, const core::ModelDims& dims, bool prompt, const std::string& who);
/// One user's weights w [K] repeated for B items; per-item weights [B, K] as they are.
at::Tensor broadcast_weights(const at::Tensor& w, int64_t B);

}  // namespace plural::mixture
