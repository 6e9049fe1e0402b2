#pragma once
// FeatureCache: one HDF5 file of frozen-encoder features, a group per encoder id, rows keyed by the 128-bit hash
// of (encoder id, text). Writes are transactions on a copy that is renamed over the file on commit, so a killed or
// failing writer never damages what was there (docs/feature_cache.md).
#include <torch/types.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/base/hash.hpp"

namespace plural::core {

enum class Storage { float32, float16 };
Storage parse_storage(const std::string& name);

class FeatureCache {
 public:
  /// A cache at `path`; the file is created by the first commit. An existing file is checked on open.
  explicit FeatureCache(std::string path);
  ~FeatureCache();
  FeatureCache(const FeatureCache&) = delete;
  FeatureCache& operator=(const FeatureCache&) = delete;

  const std::string& path() const { return path_; }
  std::vector<std::string> encoders() const;
  bool has_encoder(const std::string& encoder_id) const;
  int64_t dim(const std::string& encoder_id) const;
  int64_t rows(const std::string& encoder_id) const;
  Storage storage(const std::string& encoder_id) const;

  /// Which texts have a row.
  std::vector<bool> contains(const std::string& encoder_id, const std::vector<std::string>& texts) const;
  /// Features of `texts`, float32 [n, dim]. Throws ValueError naming the first missing text and the count.
  torch::Tensor lookup(const std::string& encoder_id, const std::vector<std::string>& texts) const;

  /// A write transaction for one encoder. Appends are staged in a private copy of the file; commit() renames it
  /// over the cache atomically; destroying an uncommitted writer discards it. One writer at a time (file lock).
  class Writer {
   public:
    ~Writer();
    Writer(Writer&&) noexcept;
    Writer(const Writer&) = delete;
    /// Adds rows for texts not already cached (duplicates are skipped). features: float [n, dim], finite.
    /// Returns how many rows were new.
    int64_t append(const std::vector<std::string>& texts, const torch::Tensor& features);
    void commit();
    int64_t pending() const;

   private:
    friend class FeatureCache;
    struct Impl;
    explicit Writer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
  };
  /// Begins a transaction. A new encoder group is created with `dim`/`storage`; an existing one must match
  /// (a mismatch names both).
  Writer writer(const std::string& encoder_id, int64_t dim, Storage storage = Storage::float32);

  /// Drops the in-memory key index and re-reads the file (after another process wrote to it).
  void refresh();

  struct Group;  ///< one encoder's metadata and key index (internal)

 private:
  const Group& group(const std::string& encoder_id) const;
  std::string path_;
  mutable std::unordered_map<std::string, std::shared_ptr<Group>> groups_;
};

/// The group name used for an encoder id inside the file.
std::string encoder_group_name(const std::string& encoder_id);

}  // namespace plural::core
