#pragma once
// Any TorchScript module as a frozen encoder: forward(ids [B, L] int64, mask [B, L] int64) -> [B, D] float.
// Texts are tokenised with a BERT WordPiece vocabulary, so a user can export an LLM's penultimate layer (or any
// model) from Python with torch.jit.script/trace and use it here without Python.
#include <memory>
#include <string>

#include "embeddings/encoder.hpp"
#include "embeddings/wordpiece.hpp"

namespace torch::jit {
struct Module;
}

namespace plural::core {

class TorchScriptEncoder : public Encoder {
 public:
  TorchScriptEncoder(const std::string& module_path, const std::string& vocab_path, const std::string& name,
                     int64_t max_len = 256, int64_t batch_size = 64);
  ~TorchScriptEncoder() override;
  std::string id() const override { return id_; }
  int64_t dim() const override { return dim_; }
  torch::Tensor encode(const std::vector<std::string>& texts) override;

 private:
  torch::Tensor run(const std::vector<std::vector<int64_t>>& ids);
  std::unique_ptr<torch::jit::Module> module_;
  std::unique_ptr<WordPiece> tokenizer_;
  std::string path_, id_;
  int64_t max_len_, batch_, dim_ = 0;
};

}  // namespace plural::core
