#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/base/h5.hpp"
#include "core/base/hash.hpp"
#include "core/base/npy.hpp"
#include "core/base/text_io.hpp"
#include "embeddings/encoder.hpp"

namespace plural::core {

PrecomputedEncoder::PrecomputedEncoder(const std::vector<std::string>& texts, torch::Tensor features,
                                       const std::string& name)
    : texts_(texts) {
  PLURAL_CHECK(features.dim() == 2, "PrecomputedEncoder: features must be 2-D [n, d], got ", features.dim(), "-D");
  PLURAL_CHECK(features.size(0) == static_cast<int64_t>(texts.size()), "PrecomputedEncoder: ", features.size(0),
               " feature rows but ", texts.size(), " texts");
  PLURAL_CHECK(!name.empty() && name.find(',') == std::string::npos,
               "PrecomputedEncoder: name must be non-empty, without commas");
  features_ = features.to(torch::kFloat32).contiguous();
  auto finite = torch::isfinite(features_).all(1);
  if (!finite.all().item<bool>()) {
    int64_t bad = (~finite).nonzero()[0][0].item<int64_t>();
    throw ValueError(detail::cat("PrecomputedEncoder '", name, "': row ", bad, " (text \"", texts[bad].substr(0, 80),
                                 "\") has NaN or Inf"));
  }
  for (size_t i = 0; i < texts.size(); ++i) {
    bool fresh = row_.emplace(texts[i], static_cast<int64_t>(i)).second;
    PLURAL_CHECK(fresh, "PrecomputedEncoder '", name, "': text at row ", i, " repeats row ", row_[texts[i]], ": \"",
                 texts[i].substr(0, 80), "\"");
  }
  // The id pins the exact numbers: re-importing different features under the same name gives a new id.
  std::string content(reinterpret_cast<const char*>(features_.data_ptr<float>()), features_.numel() * sizeof(float));
  for (const auto& t : texts) content.append(t).push_back('\0');
  id_ = "precomputed:" + name + ":" + hash128(content).hex().substr(0, 16);
}

torch::Tensor PrecomputedEncoder::encode(const std::vector<std::string>& texts) {
  std::vector<int64_t> idx(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    auto it = row_.find(texts[i]);
    PLURAL_CHECK(it != row_.end(), "PrecomputedEncoder '", id_, "': no features for text \"", texts[i].substr(0, 80),
                 "\" (", texts.size(), " asked, the import has ", texts_.size(), ")");
    idx[i] = it->second;
  }
  return features_.index_select(0, torch::tensor(idx, torch::kInt64));
}

namespace {
std::vector<std::string> read_texts(const std::string& path) {
  std::vector<std::string> out;
  LineReader reader(path);
  std::string line;
  bool jsonl = path.find(".jsonl") != std::string::npos;
  while (reader.next(line)) {
    if (!jsonl) {
      out.push_back(sanitize_utf8(tsv_unescape(line)));
      continue;
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      throw ValueError(detail::cat(path, ":", reader.line_number(), ": malformed JSON: ", e.what()));
    }
    if (j.is_object() && j.contains("text")) j = j["text"];
    PLURAL_CHECK(j.is_string(), path, ":", reader.line_number(), ": expected a JSON string or {\"text\": ...}");
    out.push_back(sanitize_utf8(j.get<std::string>()));
  }
  return out;
}
}  // namespace

std::unique_ptr<PrecomputedEncoder> PrecomputedEncoder::from_files(const std::string& features_path,
                                                                   const std::string& texts_path,
                                                                   const std::string& name, const std::string& dataset,
                                                                   const std::string& texts_dataset) {
  torch::Tensor features;
  std::vector<std::string> texts;
  bool is_h5 = features_path.size() > 3 && (features_path.rfind(".h5") == features_path.size() - 3 ||
                                            features_path.rfind(".hdf5") != std::string::npos);
  if (is_h5) {
    h5::Handle file = h5::open_file(features_path, h5::Mode::read);
    h5::Handle ds = h5::open_dataset(file, dataset, features_path);
    auto dims = h5::shape(ds, features_path + ":" + dataset);
    PLURAL_CHECK(dims.size() == 2, features_path, ":", dataset, ": expected a 2-D [n, d] dataset, got rank ",
                 dims.size());
    features = torch::empty({static_cast<int64_t>(dims[0]), static_cast<int64_t>(dims[1])});
    h5::check(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, features.data_ptr<float>()), "reading",
              features_path + ":" + dataset);
    texts = texts_path.empty() ? h5::read_strings(file, texts_dataset, features_path) : read_texts(texts_path);
  } else {
    NpyArray a = read_npy(features_path);
    PLURAL_CHECK(a.shape.size() == 2, features_path, ": expected a 2-D [n, d] array, got ", a.shape.size(), "-D");
    features = torch::from_blob(a.data.data(), {a.shape[0], a.shape[1]}, torch::kFloat32).clone();
    PLURAL_CHECK(!texts_path.empty(), features_path, ": a .npy import needs texts=PATH (one text per row)");
    texts = read_texts(texts_path);
  }
  PLURAL_CHECK(features.size(0) == static_cast<int64_t>(texts.size()), features_path, ": ", features.size(0),
               " feature rows but ", texts.size(), " texts in ", texts_path.empty() ? features_path : texts_path);
  return std::make_unique<PrecomputedEncoder>(texts, features, name);
}

namespace {
const bool registered = register_encoder(
    "precomputed",
    [](const EncoderSpec& s) -> std::unique_ptr<Encoder> {
      s.only({"features", "texts", "name", "dataset", "texts_dataset"});
      std::string features = s.get("features", "");
      PLURAL_CHECK(!features.empty(), "encoder 'precomputed' needs features=PATH (.npy or .h5)");
      return PrecomputedEncoder::from_files(features, s.get("texts", ""), s.get("name", "imported"),
                                            s.get("dataset", "features"), s.get("texts_dataset", "texts"));
    },
    "features made elsewhere: features=X.npy|X.h5,texts=T.txt|T.jsonl,name=NAME[,dataset=,texts_dataset=]");
}  // namespace

}  // namespace plural::core
