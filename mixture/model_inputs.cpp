#include "mixture/model_inputs.hpp"

#include <torch/torch.h>

#include "core/base/error.hpp"

namespace plural::mixture {

using core::ItemBatch;
using core::PairBatch;

void check_items(const ItemBatch& items, const core::ModelDims& dims, bool prompt, const std::string& who) {
  PLURAL_CHECK(items.x.defined() && items.x.dim() == 2, who, ": item features must be 2-D [B, D]");
  PLURAL_CHECK(items.x.size(1) == dims.item_dim, who, ": feature dimension mismatch: the model was trained on ",
               dims.item_dim, "-dim features, got ", items.x.size(1));
  if (prompt)
    PLURAL_CHECK(items.prompt.defined() && items.prompt.dim() == 2 && items.prompt.size(1) == dims.prompt_dim, who,
                 ": the model uses prompt features of dim ", dims.prompt_dim, "; give them as [B, ", dims.prompt_dim,
                 "]");
}

void check_shots(const PairBatch& shots, const core::ModelDims& dims, bool prompt, const std::string& who) {
  check_items(shots.a, dims, prompt, who);
  check_items(shots.b, dims, prompt, who);
  const int64_t n = shots.size();
  PLURAL_CHECK(shots.a.x.size(0) == n && shots.b.x.size(0) == n, who, ": ", n, " labels but ", shots.a.x.size(0),
               " and ", shots.b.x.size(0), " item rows");
  if (prompt)
    PLURAL_CHECK(shots.a.prompt.size(0) == n && shots.b.prompt.size(0) == n, who, ": ", n, " labels but ",
                 shots.a.prompt.size(0), " and ", shots.b.prompt.size(0), " prompt rows");
}

at::Tensor broadcast_weights(const at::Tensor& w, int64_t B) {
  return w.dim() == 1 ? w.unsqueeze(0).expand({B, -1}) : w;
}

}  // namespace plural::mixture
