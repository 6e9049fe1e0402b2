#include "embeddings/torchscript_encoder.hpp"

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <numeric>

#include "core/base/error.hpp"
#include "core/base/hash.hpp"

namespace plural::core {

namespace {
std::string file_hash(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(detail::cat(path, ": cannot open"));
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return hash128(bytes).hex().substr(0, 16);
}
}  // namespace

TorchScriptEncoder::TorchScriptEncoder(const std::string& module_path, const std::string& vocab_path,
                                       const std::string& name, int64_t max_len, int64_t batch_size)
    : path_(module_path), max_len_(max_len), batch_(batch_size) {
  PLURAL_CHECK(max_len >= 2 && batch_size >= 1, "torchscript encoder: need max_len >= 2 and batch >= 1");
  tokenizer_ = std::make_unique<WordPiece>(vocab_path);
  try {
    module_ = std::make_unique<torch::jit::Module>(torch::jit::load(module_path));
  } catch (const c10::Error& e) {
    throw IoError(detail::cat(
        module_path, ": not a loadable TorchScript module: ", std::string(e.what_without_backtrace()).substr(0, 200)));
  }
  module_->eval();
  dim_ = run({tokenizer_->encode("probe", static_cast<size_t>(max_len_))}).size(1);
  id_ = "torchscript:" + name + ":" + file_hash(module_path) + ":" + file_hash(vocab_path) + ":max" +
        std::to_string(max_len_);
}

TorchScriptEncoder::~TorchScriptEncoder() = default;

torch::Tensor TorchScriptEncoder::run(const std::vector<std::vector<int64_t>>& ids) {
  c10::InferenceMode guard;
  const auto B = static_cast<int64_t>(ids.size());
  int64_t L = 0;
  for (const auto& v : ids) L = std::max<int64_t>(L, static_cast<int64_t>(v.size()));
  auto tok = torch::full({B, L}, tokenizer_->pad_id(), torch::kInt64);
  auto mask = torch::zeros({B, L}, torch::kInt64);
  for (int64_t b = 0; b < B; ++b) {
    auto n = static_cast<int64_t>(ids[b].size());
    tok[b].slice(0, 0, n).copy_(torch::tensor(ids[b], torch::kInt64));
    mask[b].slice(0, 0, n).fill_(1);
  }
  torch::IValue out;
  try {
    out = module_->forward({tok, mask});
  } catch (const std::exception& e) {
    throw ValueError(detail::cat(path_, ": forward(ids, mask) failed: ", std::string(e.what()).substr(0, 300)));
  }
  PLURAL_CHECK(out.isTensor(), path_, ": forward must return a Tensor");
  auto t = out.toTensor();
  PLURAL_CHECK(t.dim() == 2 && t.size(0) == B, path_, ": forward returned shape ", t.sizes(), ", expected [", B,
               ", D]");
  t = t.to(torch::kFloat32).contiguous();
  PLURAL_CHECK(torch::isfinite(t).all().item<bool>(), path_, ": forward returned NaN or Inf");
  PLURAL_CHECK(dim_ == 0 || t.size(1) == dim_, path_, ": forward returned dim ", t.size(1), ", earlier ", dim_);
  return t;
}

torch::Tensor TorchScriptEncoder::encode(const std::vector<std::string>& texts) {
  const auto n = static_cast<int64_t>(texts.size());
  auto out = torch::empty({n, dim_});
  std::vector<std::vector<int64_t>> ids(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) ids[i] = tokenizer_->encode(texts[i], static_cast<size_t>(max_len_));
  std::vector<int64_t> order(texts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ids[a].size() < ids[b].size(); });
  for (int64_t i = 0; i < n; i += batch_) {
    std::vector<int64_t> rows(order.begin() + i, order.begin() + std::min(n, i + batch_));
    std::vector<std::vector<int64_t>> batch;
    for (auto r : rows) batch.push_back(ids[r]);
    out.index_copy_(0, torch::tensor(rows, torch::kInt64), run(batch));
  }
  return out;
}

namespace {
const bool registered = register_encoder(
    "torchscript",
    [](const EncoderSpec& s) -> std::unique_ptr<Encoder> {
      s.only({"path", "vocab", "name", "max_len", "batch"});
      std::string path = s.get("path", ""), vocab = s.get("vocab", "");
      PLURAL_CHECK(!path.empty() && !vocab.empty(), "encoder 'torchscript' needs path=MODULE.pt and vocab=vocab.txt");
      return std::make_unique<TorchScriptEncoder>(path, vocab, s.get("name", "module"), s.get_int("max_len", 256),
                                                  s.get_int("batch", 64));
    },
    "a TorchScript module forward(ids, mask) -> [B, D]: path=M.pt,vocab=vocab.txt[,name=,max_len=256,batch=64]");
}  // namespace

}  // namespace plural::core
