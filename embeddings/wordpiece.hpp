#pragma once
// BERT's uncased WordPiece tokenizer, as the HuggingFace fast BertTokenizer does it: clean text, pad CJK
// characters, strip accents (NFD, drop non-spacing marks), lower-case, split on whitespace and punctuation,
// greedy longest-match WordPiece with "##" continuations. Unicode tables from ICU.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace plural::core {

class WordPiece {
 public:
  /// vocab.txt: one token per line, the line number is its id. Needs [CLS], [SEP], [PAD], [UNK].
  explicit WordPiece(const std::string& vocab_path);
  /// Token ids with [CLS] … [SEP], truncated to `max_len` ids in all.
  std::vector<int64_t> encode(const std::string& text, size_t max_len) const;
  /// Word pieces without special tokens (for inspection and tests).
  std::vector<std::string> tokenize(const std::string& text) const;
  int64_t pad_id() const { return pad_; }
  size_t vocab_size() const { return vocab_.size(); }

 private:
  std::vector<std::string> words(const std::string& text) const;  // normalised, pre-tokenised
  void word_pieces(const std::string& word, std::vector<int64_t>& out) const;
  std::unordered_map<std::string, int64_t> vocab_;
  int64_t cls_ = -1, sep_ = -1, pad_ = -1, unk_ = -1;
};

}  // namespace plural::core
