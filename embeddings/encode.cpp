#include "embeddings/encode.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "core/base/error.hpp"
#include "core/base/progress.hpp"

namespace plural::core {

EncodeStats encode_into_cache(FeatureCache& cache, Encoder& encoder, const std::vector<std::string>& texts,
                              const EncodeOptions& options) {
  PLURAL_CHECK(options.commit_every >= 1, "encode: commit_every must be >= 1");
  auto t0 = std::chrono::steady_clock::now();
  EncodeStats st;
  std::vector<std::string> unique;
  {
    std::unordered_set<std::string> seen;
    for (const auto& t : texts)
      if (seen.insert(t).second) unique.push_back(t);
  }
  st.texts = static_cast<int64_t>(unique.size());
  auto have = cache.contains(encoder.id(), unique);
  std::vector<std::string> todo;
  for (size_t i = 0; i < unique.size(); ++i)
    if (!have[i]) todo.push_back(unique[i]);
  st.cached = st.texts - static_cast<int64_t>(todo.size());
  std::stable_sort(todo.begin(), todo.end(),
                   [](const std::string& a, const std::string& b) { return a.size() < b.size(); });

  Progress bar("encode " + encoder.id(), static_cast<int64_t>(todo.size()), options.progress);
  const auto bs = static_cast<size_t>(std::max<int64_t>(1, encoder.batch_size()));
  size_t i = 0;
  while (i < todo.size()) {
    auto writer = cache.writer(encoder.id(), encoder.dim(), options.storage);
    size_t end = std::min(todo.size(), i + static_cast<size_t>(options.commit_every));
    for (size_t j = i; j < end; j += bs) {
      std::vector<std::string> chunk(todo.begin() + j, todo.begin() + std::min(end, j + bs));
      writer.append(chunk, encoder.encode(chunk));
      bar.update(static_cast<int64_t>(j + chunk.size()));
    }
    writer.commit();
    st.encoded += static_cast<int64_t>(end - i);
    i = end;
  }
  bar.finish();
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

torch::Tensor dataset_features(FeatureCache& cache, const std::string& encoder_id, const PreferenceData& data,
                               Encoder* encoder, const EncodeOptions& options) {
  if (encoder) {
    PLURAL_CHECK(encoder->id() == encoder_id, "dataset_features: encoder id '", encoder->id(), "' != '", encoder_id,
                 "'");
    encode_into_cache(cache, *encoder, data.texts.all(), options);
  }
  return cache.lookup(encoder_id, data.texts.all());
}

}  // namespace plural::core
