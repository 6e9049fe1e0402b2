#pragma once
// Native sentence-transformers BERT encoders in LibTorch (all-MiniLM-L6-v2 by default): WordPiece, the BERT
// encoder, mean pooling over the attention mask, L2 normalisation. Weights from model.safetensors; the
// architecture from config.json, so other BERT-family sentence encoders with mean pooling load too.
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/encoder.hpp"
#include "core/wordpiece.hpp"

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
  /// Floating-point operations of forward() for sequences of these lengths (for GFLOP/s figures).
  double flops(const std::vector<int64_t>& lengths) const;

 private:
  std::unique_ptr<WordPiece> tokenizer_;
  std::unique_ptr<BertWeights> w_;
  int64_t max_len_, batch_tokens_;
  std::string id_;
};

/// Where `make models` puts all-MiniLM-L6-v2: $PLURAL_MODELS/all-MiniLM-L6-v2, else ./models/all-MiniLM-L6-v2.
std::string default_minilm_dir();

}  // namespace plural::core
