#include "embeddings/minilm.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <thread>

#include "core/base/error.hpp"
#include "core/base/safetensors.hpp"

namespace plural::core {

struct BertWeights {
  int64_t hidden = 0, heads = 0, layers = 0, intermediate = 0, max_pos = 0, vocab = 0;
  double eps = 1e-12;
  torch::Tensor word, pos, type0, emb_ln_w, emb_ln_b;
  struct Layer {
    torch::Tensor qkv_w, qkv_b, out_w, out_b, ln1_w, ln1_b, in_w, in_b, down_w, down_b, ln2_w, ln2_b;
  };
  std::vector<Layer> layer;
};

std::unique_ptr<Encoder> make_token_sums_encoder(const std::string& spec) {
  std::shared_ptr<Encoder> encoder = make_encoder(spec);
  auto minilm = std::dynamic_pointer_cast<MiniLmEncoder>(encoder);
  if (!minilm) return nullptr;
  return std::make_unique<MiniLmTokenSums>(std::move(minilm));
}

std::string default_minilm_dir() {
  const char* env = std::getenv("PLURAL_MODELS");
  return std::string(env && *env ? env : "models") + "/all-MiniLM-L6-v2";
}

MiniLmEncoder::MiniLmEncoder(const std::string& dir, int64_t max_len, int64_t batch_tokens)
    : max_len_(max_len), batch_tokens_(batch_tokens) {
  namespace fs = std::filesystem;
  PLURAL_CHECK(max_len >= 2, "minilm: max_len must be >= 2, got ", max_len);
  PLURAL_CHECK(batch_tokens >= max_len, "minilm: batch_tokens must be >= max_len");
  for (const char* f : {"config.json", "vocab.txt", "model.safetensors"})
    if (!fs::exists(fs::path(dir) / f))
      throw IoError(detail::cat(dir, ": missing ", f, " (run `make models`, or point minilm:path= at a ",
                                "sentence-transformers BERT folder)"));
  nlohmann::json cfg;
  try {
    std::ifstream f(fs::path(dir) / "config.json");
    cfg = nlohmann::json::parse(f);
  } catch (const std::exception& e) {
    throw IoError(detail::cat(dir, "/config.json: not valid JSON: ", e.what()));
  }
  w_ = std::make_unique<BertWeights>();
  auto& w = *w_;
  try {
    w.hidden = cfg.at("hidden_size");
    w.heads = cfg.at("num_attention_heads");
    w.layers = cfg.at("num_hidden_layers");
    w.intermediate = cfg.at("intermediate_size");
    w.max_pos = cfg.at("max_position_embeddings");
    w.vocab = cfg.at("vocab_size");
    w.eps = cfg.value("layer_norm_eps", 1e-12);
    PLURAL_CHECK(cfg.value("hidden_act", std::string("gelu")) == "gelu", dir,
                 "/config.json: only hidden_act gelu is supported");
  } catch (const nlohmann::json::exception& e) {
    throw IoError(detail::cat(dir, "/config.json: ", e.what()));
  }
  PLURAL_CHECK(w.hidden % w.heads == 0, dir, "/config.json: hidden_size not divisible by num_attention_heads");
  max_len_ = std::min(max_len_, w.max_pos);
  tokenizer_ = std::make_unique<WordPiece>((fs::path(dir) / "vocab.txt").string());
  PLURAL_CHECK(static_cast<int64_t>(tokenizer_->vocab_size()) == w.vocab, dir, "/vocab.txt has ",
               tokenizer_->vocab_size(), " tokens, config.json says ", w.vocab);

  SafeTensors st((fs::path(dir) / "model.safetensors").string());
  // Checkpoints exported from BertModel have no prefix; from BertFor* they carry "bert.".
  std::string prefix = st.has("embeddings.word_embeddings.weight") ? "" : "bert.";
  auto get = [&](const std::string& name, std::vector<int64_t> shape) { return st.get(prefix + name, shape); };
  const int64_t H = w.hidden, I = w.intermediate;
  w.word = get("embeddings.word_embeddings.weight", {w.vocab, H});
  w.pos = get("embeddings.position_embeddings.weight", {w.max_pos, H});
  w.type0 = get("embeddings.token_type_embeddings.weight", {cfg.value("type_vocab_size", 2), H})[0].clone();
  w.emb_ln_w = get("embeddings.LayerNorm.weight", {H});
  w.emb_ln_b = get("embeddings.LayerNorm.bias", {H});
  for (int64_t l = 0; l < w.layers; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    BertWeights::Layer L;
    L.qkv_w = torch::cat({get(p + "attention.self.query.weight", {H, H}), get(p + "attention.self.key.weight", {H, H}),
                          get(p + "attention.self.value.weight", {H, H})});
    L.qkv_b = torch::cat({get(p + "attention.self.query.bias", {H}), get(p + "attention.self.key.bias", {H}),
                          get(p + "attention.self.value.bias", {H})});
    L.out_w = get(p + "attention.output.dense.weight", {H, H});
    L.out_b = get(p + "attention.output.dense.bias", {H});
    L.ln1_w = get(p + "attention.output.LayerNorm.weight", {H});
    L.ln1_b = get(p + "attention.output.LayerNorm.bias", {H});
    L.in_w = get(p + "intermediate.dense.weight", {I, H});
    L.in_b = get(p + "intermediate.dense.bias", {I});
    L.down_w = get(p + "output.dense.weight", {H, I});
    L.down_b = get(p + "output.dense.bias", {H});
    L.ln2_w = get(p + "output.LayerNorm.weight", {H});
    L.ln2_b = get(p + "output.LayerNorm.bias", {H});
    w.layer.push_back(std::move(L));
  }
  std::string name = fs::path(dir).filename().string();
  if (name.empty()) name = fs::path(dir).parent_path().filename().string();
  id_ = name + ":" + st.content_hash().substr(0, 16) + ":mean-l2:max" + std::to_string(max_len_);
}

MiniLmEncoder::~MiniLmEncoder() = default;

int64_t MiniLmEncoder::dim() const { return w_->hidden; }

std::vector<std::vector<int64_t>> MiniLmEncoder::tokenize(const std::vector<std::string>& texts) const {
  std::vector<std::vector<int64_t>> ids(texts.size());
  at::parallel_for(0, static_cast<int64_t>(texts.size()), 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) ids[i] = tokenizer_->encode(texts[i], static_cast<size_t>(max_len_));
  });
  return ids;
}

std::pair<torch::Tensor, torch::Tensor> MiniLmEncoder::hidden_states(
    const std::vector<std::vector<int64_t>>& ids) const {
  const auto& w = *w_;
  const int64_t B = static_cast<int64_t>(ids.size());
  int64_t L = 0;
  for (const auto& v : ids) L = std::max<int64_t>(L, static_cast<int64_t>(v.size()));
  auto tok = torch::full({B, L}, tokenizer_->pad_id(), torch::kInt64);
  auto mask = torch::zeros({B, L}, torch::kFloat32);
  auto ta = tok.accessor<int64_t, 2>();
  auto ma = mask.accessor<float, 2>();
  for (int64_t b = 0; b < B; ++b)
    for (size_t t = 0; t < ids[b].size(); ++t) ta[b][t] = ids[b][t], ma[b][t] = 1.f;
  const int64_t H = w.hidden, nh = w.heads, hd = H / nh;
  auto x = w.word.index_select(0, tok.flatten()).view({B, L, H}) + w.pos.slice(0, 0, L).unsqueeze(0) + w.type0;
  x = torch::layer_norm(x, {H}, w.emb_ln_w, w.emb_ln_b, w.eps);
  // Additive key mask: padded keys get -inf before the softmax (every row has [CLS], so none is all -inf).
  auto key_bias = torch::zeros({B, 1, 1, L}).masked_fill(mask.view({B, 1, 1, L}) == 0, -INFINITY);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  for (const auto& layer : w.layer) {
    auto qkv = torch::linear(x, layer.qkv_w, layer.qkv_b).view({B, L, 3, nh, hd}).permute({2, 0, 3, 1, 4});
    auto q = qkv[0], k = qkv[1], v = qkv[2];  // [B, nh, L, hd]
    auto att = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * scale + key_bias, -1);
    auto ctx = torch::matmul(att, v).permute({0, 2, 1, 3}).reshape({B, L, H});
    x = torch::layer_norm(torch::linear(ctx, layer.out_w, layer.out_b) + x, {H}, layer.ln1_w, layer.ln1_b, w.eps);
    auto h = torch::gelu(torch::linear(x, layer.in_w, layer.in_b));
    x = torch::layer_norm(torch::linear(h, layer.down_w, layer.down_b) + x, {H}, layer.ln2_w, layer.ln2_b, w.eps);
  }
  return {x, mask};
}

torch::Tensor MiniLmEncoder::forward(const std::vector<std::vector<int64_t>>& ids) const {
  c10::InferenceMode guard;
  auto [x, mask] = hidden_states(ids);
  auto m = mask.unsqueeze(2);
  auto pooled = (x * m).sum(1) / m.sum(1).clamp_min(1e-9);
  return torch::nn::functional::normalize(pooled, torch::nn::functional::NormalizeFuncOptions().p(2).dim(1).eps(1e-12));
}

torch::Tensor MiniLmEncoder::token_sums(const std::vector<std::string>& texts) {
  return run_batches(texts, w_->hidden + 1, [this](const std::vector<std::vector<int64_t>>& ids) {
    c10::InferenceMode guard;
    auto [x, mask] = hidden_states(ids);
    // Word tokens only: position 0 is [CLS] and the last real position of each row is [SEP].
    auto words = mask.clone();
    words.select(1, 0).zero_();
    for (size_t b = 0; b < ids.size(); ++b)
      words[static_cast<int64_t>(b)][static_cast<int64_t>(ids[b].size()) - 1] = 0.f;
    auto sums = (x * words.unsqueeze(2)).sum(1);
    return torch::cat({sums, words.sum(1, /*keepdim=*/true)}, 1);
  });
}

double MiniLmEncoder::flops(const std::vector<int64_t>& lengths) const {
  const double H = w_->hidden, I = w_->intermediate;
  double total = 0;
  for (auto L : lengths) {
    double per_layer = 2 * L * (4 * H * H + 2 * H * I) + 2 * 2 * L * L * H;  // projections + attention products
    total += per_layer * w_->layers;
  }
  return total;
}

torch::Tensor MiniLmEncoder::encode(const std::vector<std::string>& texts) {
  return run_batches(texts, w_->hidden, [this](const std::vector<std::vector<int64_t>>& ids) { return forward(ids); });
}

torch::Tensor MiniLmEncoder::run_batches(const std::vector<std::string>& texts, int64_t width,
                                         const BatchFn& batch_fn) {
  const auto n = static_cast<int64_t>(texts.size());
  auto out = torch::empty({n, width});
  if (n == 0) return out;
  auto ids = tokenize(texts);
  // Sorted by length so each batch pads little; a batch holds at most batch_tokens padded tokens.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ids[a].size() < ids[b].size(); });
  // Batches: runs of the sorted order with at most batch_tokens padded tokens each.
  std::vector<std::pair<size_t, size_t>> batches;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() &&
           (j == i || static_cast<int64_t>(ids[order[j]].size()) * static_cast<int64_t>(j - i + 1) <= batch_tokens_))
      ++j;
    batches.emplace_back(i, j);
    i = j;
  }
  auto run = [&](size_t k) {
    auto [i, j] = batches[k];
    std::vector<std::vector<int64_t>> batch;
    for (size_t r = i; r < j; ++r) batch.push_back(ids[order[r]]);
    auto emb = batch_fn(batch);
    auto rows = torch::tensor(std::vector<int64_t>(order.begin() + i, order.begin() + j), torch::kInt64);
    out.index_copy_(0, rows, emb);  // disjoint rows per batch: safe from several workers
  };
  // Small GEMMs scale poorly across cores; one single-threaded worker per core on separate batches is faster
  // (bench/RESULTS.md). The thread setting is restored afterwards.
  const int threads = at::get_num_threads();
  if (threads <= 1 || batches.size() < 2) {
    for (size_t k = 0; k < batches.size(); ++k) run(k);
    return out;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  std::vector<std::thread> workers;
  at::set_num_threads(1);
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      at::set_num_threads(1);
      try {
        for (size_t k = next++; k < batches.size(); k = next++) run(k);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        error = std::current_exception();
      }
    });
  for (auto& w : workers) w.join();
  at::set_num_threads(threads);
  if (error) std::rethrow_exception(error);
  return out;
}

namespace {
const bool registered = register_encoder(
    "minilm",
    [](const EncoderSpec& s) -> std::unique_ptr<Encoder> {
      s.only({"path", "max_len", "batch_tokens"});
      return std::make_unique<MiniLmEncoder>(s.get("path", default_minilm_dir()), s.get_int("max_len", 256),
                                             s.get_int("batch_tokens", 2048));
    },
    "sentence-transformers all-MiniLM-L6-v2 in LibTorch (options: path=models/all-MiniLM-L6-v2, max_len=256, "
    "batch_tokens=2048)");
}  // namespace

}  // namespace plural::core
