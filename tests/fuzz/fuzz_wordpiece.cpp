// WordPiece: a vocabulary file (before the first \x01) and a text to tokenize with it (after it).
#include <algorithm>

#include "embeddings/wordpiece.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* end = data + size;
  const auto* split = std::find(data, end, uint8_t{1});
  plural::fuzz::InputFile vocab(data, static_cast<size_t>(split - data), ".txt");
  std::string text = split == end ? std::string("hello world") : std::string(split + 1, end);
  return plural::fuzz::expect_clean_errors([&] {
    plural::core::WordPiece wp(vocab.path());
    wp.encode(text, 128);
  });
}
