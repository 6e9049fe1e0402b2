#pragma once
// Texts -> feature rows through the shared cache: what is cached is read, what is missing is encoded and cached
// first. The one place the CLI, the session and the tools turn texts into features (Python's FeatureStore mirrors
// it with a lock per file).
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

namespace plural::core {

class Encoder;
class FeatureCache;
class RowMemo;

class FeatureSource {
 public:
  /// `encoder_spec` names the encoder for missing texts; it is built now and must give `encoder_id` when one is
  /// given (the features a model was trained on). An empty spec with `infer_encoder` uses the encoder that id comes
  /// from, built on first need; an empty spec without it reads only what is cached under `encoder_id`.
  FeatureSource(std::shared_ptr<FeatureCache> cache, const std::string& encoder_spec, const std::string& encoder_id,
                bool infer_encoder = false);
  ~FeatureSource();
  FeatureSource(FeatureSource&&) noexcept;
  FeatureSource& operator=(FeatureSource&&) noexcept;

  /// Rows [n, D] of `texts`, encoding and caching the missing ones first (rows read before come from memory).
  torch::Tensor features(const std::vector<std::string>& texts);
  const std::string& encoder_id() const { return encoder_id_; }

  // The three steps of features() for a caller that encodes outside its lock (a server's EncodeBatcher): which
  // texts must be encoded, encoding them (no cache access: safe beside other calls of this source), storing them.
  /// The texts neither remembered nor cached, each once; none when there is no encoder (lookup names them).
  std::vector<std::string> uncached(const std::vector<std::string>& texts);
  /// Rows [n, D] of `texts` from the encoder (built by uncached(), which must have been called first).
  torch::Tensor encode(const std::vector<std::string>& texts);
  /// Commits `rows` of `texts` to the cache in one transaction.
  void store(const std::vector<std::string>& texts, const torch::Tensor& rows);
  FeatureCache& cache() { return *cache_; }

 private:
  Encoder& encoder();
  std::shared_ptr<FeatureCache> cache_;
  std::unique_ptr<Encoder> encoder_;
  std::unique_ptr<RowMemo> memo_;  // rows already read: a long-lived session skips HDF5 for texts it has seen
  std::string spec_, encoder_id_;
};

}  // namespace plural::core
