#include "embeddings/feature_source.hpp"

#include <torch/torch.h>

#include "core/base/error.hpp"
#include "embeddings/encode.hpp"
#include "embeddings/encoder.hpp"
#include "embeddings/feature_cache.hpp"
#include "embeddings/row_memo.hpp"

namespace plural::core {

FeatureSource::FeatureSource(std::shared_ptr<FeatureCache> cache, const std::string& encoder_spec,
                             const std::string& encoder_id, bool infer_encoder)
    : cache_(std::move(cache)), memo_(std::make_unique<RowMemo>()), spec_(encoder_spec), encoder_id_(encoder_id) {
  if (!spec_.empty()) {
    encoder();  // a named encoder is built and checked now, and gives the id when none was given
  } else if (infer_encoder) {
    spec_ = encoder_spec_for(encoder_id_);  // "" when the features came from outside (precomputed rows)
  }
  PLURAL_CHECK(!encoder_id_.empty(), "features: give an encoder spec, or the id of features already in the cache");
}

FeatureSource::~FeatureSource() = default;
FeatureSource::FeatureSource(FeatureSource&&) noexcept = default;
FeatureSource& FeatureSource::operator=(FeatureSource&&) noexcept = default;

Encoder& FeatureSource::encoder() {
  if (!encoder_) {
    encoder_ = make_encoder(spec_);
    PLURAL_CHECK(encoder_id_.empty() || encoder_->id() == encoder_id_, "encoder '", spec_, "' has id '", encoder_->id(),
                 "', but the model needs '", encoder_id_, "' (the features it was trained on)");
    encoder_id_ = encoder_->id();
  }
  return *encoder_;
}

torch::Tensor FeatureSource::features(const std::vector<std::string>& texts) {
  if (auto known = memo_->find(texts); known.defined()) return known;
  const auto unknown = memo_->missing(texts);          // only these go to HDF5 (and to the encoder if not cached)
  if (auto todo = uncached(unknown); !todo.empty()) {  // a call whose texts are all cached never builds the encoder
    EncodeOptions options;
    options.progress = false;
    encode_into_cache(*cache_, encoder(), todo, options);
  }
  auto fresh = cache_->lookup(encoder_id_, unknown);  // without an encoder, a missing text is an error naming it
  memo_->add(unknown, fresh);
  if (texts.empty()) return fresh;
  return memo_->gather(texts, unknown, fresh);  // one HDF5 read, whether or not the memo could keep its rows
}

std::vector<std::string> FeatureSource::uncached(const std::vector<std::string>& texts) {
  if (spec_.empty()) return {};
  auto unknown = memo_->missing(texts);
  std::vector<std::string> out;
  auto have = cache_->contains(encoder_id_, unknown);
  for (size_t i = 0; i < unknown.size(); ++i)
    if (!have[i]) out.push_back(std::move(unknown[i]));
  if (!out.empty()) encoder();
  return out;
}

torch::Tensor FeatureSource::encode(const std::vector<std::string>& texts) {
  PLURAL_CHECK(encoder_, "FeatureSource::encode: call uncached() first");
  const auto bs = static_cast<size_t>(std::max<int64_t>(1, encoder_->batch_size()));
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i < texts.size(); i += bs)
    parts.push_back(encoder_->encode({texts.begin() + i, texts.begin() + std::min(texts.size(), i + bs)}));
  return parts.size() == 1 ? parts[0] : torch::cat(parts);
}

void FeatureSource::store(const std::vector<std::string>& texts, const torch::Tensor& rows) {
  // Not remembered here: the next features() reads the rows back as stored (float16 storage rounds them).
  auto storage = cache_->has_encoder(encoder_id_) ? cache_->storage(encoder_id_) : Storage::float32;
  auto writer = cache_->writer(encoder_id_, rows.size(1), storage);
  writer.append(texts, rows);
  writer.commit();
}

}  // namespace plural::core
