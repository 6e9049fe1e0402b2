#include <torch/torch.h>

#include <cmath>

#include "core/base/error.hpp"
#include "core/base/hash.hpp"
#include "embeddings/encoder.hpp"

namespace plural::core {

namespace {
// Lower-cased words: runs of ASCII letters/digits and any non-ASCII bytes (so accented words stay whole).
std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) {
      cur.push_back(static_cast<char>(c < 0x80 ? std::tolower(c) : c));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

void add(float* v, int64_t dim, std::string_view gram, uint64_t kind, float weight) {
  uint64_t h = hash64(gram, kind);
  float sign = (h >> 63) ? -1.f : 1.f;
  v[(h & 0x7fffffffffffffffULL) % static_cast<uint64_t>(dim)] += sign * weight;
}
}  // namespace

HashedNgramEncoder::HashedNgramEncoder(int64_t dim) : dim_(dim) {
  PLURAL_CHECK(dim >= 8 && dim <= (1 << 20), "HashedNgramEncoder: dim must be in [8, 2^20], got ", dim);
}

std::string HashedNgramEncoder::id() const { return "hashed-ngram-v1:dim=" + std::to_string(dim_) + ",w12,c3"; }

torch::Tensor HashedNgramEncoder::encode(const std::vector<std::string>& texts) {
  auto out = torch::zeros({static_cast<int64_t>(texts.size()), dim_});
  float* base = out.data_ptr<float>();
  at::parallel_for(0, static_cast<int64_t>(texts.size()), 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float* v = base + i * dim_;
      auto w = words(texts[i]);
      for (size_t j = 0; j < w.size(); ++j) {
        add(v, dim_, w[j], 1, 1.f);
        if (j + 1 < w.size()) add(v, dim_, w[j] + ' ' + w[j + 1], 2, 1.f);
        std::string padded = "<" + w[j] + ">";
        for (size_t k = 0; k + 3 <= padded.size(); ++k) add(v, dim_, std::string_view(padded).substr(k, 3), 3, 0.5f);
      }
      double norm = 0;
      for (int64_t d = 0; d < dim_; ++d) norm += double(v[d]) * v[d];
      if (norm > 0) {
        auto inv = static_cast<float>(1.0 / std::sqrt(norm));
        for (int64_t d = 0; d < dim_; ++d) v[d] *= inv;
      }
    }
  });
  return out;
}

namespace {
const bool registered = register_encoder(
    "hashed",
    [](const EncoderSpec& s) -> std::unique_ptr<Encoder> {
      s.only({"dim"});
      return std::make_unique<HashedNgramEncoder>(s.get_int("dim", 512));
    },
    "hashed word 1-2-grams + char 3-grams, no download (options: dim=512)");
}  // namespace

}  // namespace plural::core
