#pragma once
// Encoder: text -> frozen feature vector. Every implementation has a stable id (name + weights hash + pooling)
// that keys the FeatureCache, so features of different encoders never mix.
#include <torch/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace plural::core {

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual std::string id() const = 0;
  virtual int64_t dim() const = 0;
  /// Features of `texts`, float32 [n, dim()].
  virtual torch::Tensor encode(const std::vector<std::string>& texts) = 0;
  /// Preferred batch size for encode() calls.
  virtual int64_t batch_size() const { return 1024; }
};

/// Options parsed from a spec "name:key=value,key=value".
struct EncoderSpec {
  std::string name;
  std::map<std::string, std::string> options;
  static EncoderSpec parse(const std::string& spec);
  std::string get(const std::string& key, const std::string& fallback) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  /// Throws ValueError naming any option not in `known`.
  void only(const std::vector<std::string>& known) const;
};

using EncoderFactory = std::function<std::unique_ptr<Encoder>(const EncoderSpec&)>;
/// Registers an encoder family by name (adding one touches its own file plus this call).
bool register_encoder(const std::string& name, EncoderFactory factory, const std::string& help);
/// Builds an encoder from a spec such as "hashed", "hashed:dim=1024" or "precomputed:features=x.npy,texts=t.txt".
std::unique_ptr<Encoder> make_encoder(const std::string& spec);
/// name -> one-line help, for --help and `plural doctor`.
std::map<std::string, std::string> encoder_names();
/// The spec that rebuilds the encoder behind a feature id ("hashed:dim=512", "minilm"), or "" when the id alone
/// cannot say (precomputed features, TorchScript modules): then texts must already be in the cache.
std::string encoder_spec_for(const std::string& encoder_id);

/// Deterministic hashed bag of word 1-2-grams and character 3-grams (signed feature hashing, L2-normalised).
/// Needs no download: the fallback encoder and the one tests use.
class HashedNgramEncoder : public Encoder {
 public:
  explicit HashedNgramEncoder(int64_t dim = 512);
  std::string id() const override;
  int64_t dim() const override { return dim_; }
  torch::Tensor encode(const std::vector<std::string>& texts) override;

 private:
  int64_t dim_;
};

/// Features computed elsewhere (any LLM's hidden states), imported from .npy or HDF5 with the texts they belong to.
class PrecomputedEncoder : public Encoder {
 public:
  /// features: float [n, d]; texts: n distinct strings; name: a label for the source model.
  PrecomputedEncoder(const std::vector<std::string>& texts, torch::Tensor features, const std::string& name);
  /// features_path: .npy, or .h5 with `dataset`; texts_path: .txt (one per line, \n escaped), .jsonl (one JSON
  /// string per line), or empty to read the string dataset `texts_dataset` from the same .h5.
  static std::unique_ptr<PrecomputedEncoder> from_files(const std::string& features_path, const std::string& texts_path,
                                                        const std::string& name,
                                                        const std::string& dataset = "features",
                                                        const std::string& texts_dataset = "texts");
  std::string id() const override { return id_; }
  int64_t dim() const override { return features_.size(1); }
  torch::Tensor encode(const std::vector<std::string>& texts) override;
  const std::vector<std::string>& texts() const { return texts_; }

 private:
  std::vector<std::string> texts_;
  std::map<std::string, int64_t> row_;
  torch::Tensor features_;
  std::string id_;
};

}  // namespace plural::core
