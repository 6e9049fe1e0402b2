#pragma once
// Filling the FeatureCache from an Encoder, and reading a dataset's features back.
#include <torch/types.h>

#include <string>
#include <vector>

#include "core/data/data.hpp"
#include "embeddings/encoder.hpp"
#include "embeddings/feature_cache.hpp"

namespace plural::core {

struct EncodeOptions {
  int64_t commit_every = 20000;  ///< rows per transaction: an interruption loses at most this much work
  Storage storage = Storage::float32;
  bool progress = true;
};

struct EncodeStats {
  int64_t texts = 0;    ///< distinct texts asked for
  int64_t cached = 0;   ///< already in the cache (skipped)
  int64_t encoded = 0;  ///< newly encoded and committed
  double seconds = 0;
};

/// Encodes the texts the cache lacks (sorted by length so batches pad little) and commits them in transactions.
EncodeStats encode_into_cache(FeatureCache& cache, Encoder& encoder, const std::vector<std::string>& texts,
                              const EncodeOptions& options = {});

/// Features [texts, D] of every text of `data`. Missing rows are encoded first when `encoder` is given;
/// otherwise they are an error naming the first missing text.
torch::Tensor dataset_features(FeatureCache& cache, const std::string& encoder_id, const PreferenceData& data,
                               Encoder* encoder = nullptr, const EncodeOptions& options = {});

}  // namespace plural::core
