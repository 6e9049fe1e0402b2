#pragma once
// Native sentence-transformers BERT encoders in LibTorch (all-MiniLM-L6-v2 by default): WordPiece, the BERT
// encoder, mean pooling over the attention mask, L2 normalisation. Weights from model.safetensors; the
// architecture from config.json, so other BERT-family sentence encoders with mean pooling load too.
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "embeddings/encoder.hpp"
#include "embeddings/wordpiece.hpp"

namespace plural::core {

struct BertWeights;

class MiniLmEncoder : public Encoder {
 public:
  /// model_dir holds config.json, vocab.txt and model.safetensors (see `make models`).
  explicit MiniLmEncoder(const std::string& model_dir, int64_t max_len = 256, int64_t batch_tokens = 2048);
  ~MiniLmEncoder() override;
  std::string id() const override { return id_; }
  int64_t dim() const override;
  torch::Tensor encode(const std::vector<std::string>& texts) override;
  int64_t batch_size() const override { return 4096; }

  /// Token ids of each text ([CLS] … [SEP], truncated).
  std::vector<std::vector<int64_t>> tokenize(const std::vector<std::string>& texts) const;
  /// Embeddings of already-tokenised texts of similar length (one padded batch).
  torch::Tensor forward(const std::vector<std::vector<int64_t>>& ids) const;
  /// Per text [n, H + 1]: the sum of the last layer's states over its word tokens ([CLS] and [SEP] left out) and,
  /// in the last column, how many there are. What token-level CHES needs of each response (core/diagnostics/ches.hpp).
  torch::Tensor token_sums(const std::vector<std::string>& texts);
  /// Floating-point operations of forward() for sequences of these lengths (for GFLOP/s figures).
  double flops(const std::vector<int64_t>& lengths) const;

  /// The last layer's states [B, L, H] and the attention mask [B, L] of one padded batch (call under
  /// c10::InferenceMode or torch::NoGradGuard).
  std::pair<torch::Tensor, torch::Tensor> hidden_states(const std::vector<std::vector<int64_t>>& ids) const;

 private:
  /// Runs `batch_fn` over length-sorted batches of the texts (in parallel workers) into rows of [n, width].
  using BatchFn = std::function<torch::Tensor(const std::vector<std::vector<int64_t>>&)>;
  torch::Tensor run_batches(const std::vector<std::string>& texts, int64_t width, const BatchFn& batch_fn);
  std::unique_ptr<WordPiece> tokenizer_;
  std::unique_ptr<BertWeights> w_;
  int64_t max_len_, batch_tokens_;
  std::string id_;
};

/// A MiniLM's token sums as an Encoder, so the feature cache stores them (content-addressed, under their own id) and
/// `plural doctor data --token-ches` computes each text once.
class MiniLmTokenSums : public Encoder {
 public:
  explicit MiniLmTokenSums(std::shared_ptr<MiniLmEncoder> base) : base_(std::move(base)) {}
  std::string id() const override { return base_->id() + "+token-sums"; }
  int64_t dim() const override { return base_->dim() + 1; }
  torch::Tensor encode(const std::vector<std::string>& texts) override { return base_->token_sums(texts); }
  int64_t batch_size() const override { return base_->batch_size(); }

 private:
  std::shared_ptr<MiniLmEncoder> base_;
};

/// The token-sums encoder of the encoder `spec` names, or null when that encoder is not a MiniLM.
std::unique_ptr<Encoder> make_token_sums_encoder(const std::string& spec);

/// Where `make models` puts all-MiniLM-L6-v2: $PLURAL_MODELS/all-MiniLM-L6-v2, else ./models/all-MiniLM-L6-v2.
std::string default_minilm_dir();

}  // namespace plural::core
