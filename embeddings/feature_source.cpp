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
  const auto unknown = memo_->missing(texts);  // only these go to HDF5 (and to the encoder if not cached)
  if (!spec_.empty()) {  // asked first so that a call whose texts are all cached never builds the encoder
    bool missing = false;
    for (bool have : cache_->contains(encoder_id_, unknown)) missing = missing || !have;
    if (missing) {
      EncodeOptions options;
      options.progress = false;
      encode_into_cache(*cache_, encoder(), unknown, options);
    }
  }
  auto fresh = cache_->lookup(encoder_id_, unknown);  // without an encoder, a missing text is an error naming it
  memo_->add(unknown, fresh);
  if (texts.empty()) return fresh;
  return memo_->gather(texts, unknown, fresh);  // one HDF5 read, whether or not the memo could keep its rows
}

}  // namespace plural::core
