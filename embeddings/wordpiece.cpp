#include "embeddings/wordpiece.hpp"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include "core/base/error.hpp"
#include "core/base/text_io.hpp"

namespace plural::core {

namespace {
bool is_whitespace(UChar32 c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || u_charType(c) == U_SPACE_SEPARATOR;
}

bool is_control(UChar32 c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (u_charType(c)) {
    case U_CONTROL_CHAR:
    case U_FORMAT_CHAR:
    case U_UNASSIGNED:
    case U_PRIVATE_USE_CHAR:
    case U_SURROGATE:
      return true;
    default:
      return false;
  }
}

bool is_punctuation(UChar32 c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  switch (u_charType(c)) {
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_CONNECTOR_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

bool is_cjk(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::vector<UChar32> decode(const std::string& s) {
  std::vector<UChar32> out;
  int32_t i = 0, n = static_cast<int32_t>(s.size());
  while (i < n) {
    UChar32 c;
    U8_NEXT(reinterpret_cast<const uint8_t*>(s.data()), i, n, c);
    out.push_back(c < 0 ? 0xFFFD : c);
  }
  return out;
}

void append_utf8(std::string& out, UChar32 c) {
  uint8_t buf[4];
  int32_t len = 0;
  UBool err = false;
  U8_APPEND(buf, len, 4, c, err);
  if (!err) out.append(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
}

// NFD of one code point, without non-spacing marks, then full lower-case mapping of each remaining code point
// (context-free, like Rust's char::to_lowercase).
void strip_and_lower(UChar32 c, std::vector<UChar32>& out) {
  UErrorCode st = U_ZERO_ERROR;
  static const UNormalizer2* nfd = unorm2_getNFDInstance(&st);
  UChar src[2], dec[32];
  int32_t slen = 0;
  U16_APPEND_UNSAFE(src, slen, c);
  st = U_ZERO_ERROR;
  int32_t dlen = unorm2_normalize(nfd, src, slen, dec, 32, &st);
  if (U_FAILURE(st)) {
    dlen = slen;
    std::copy(src, src + slen, dec);
  }
  for (int32_t i = 0; i < dlen;) {
    UChar32 d;
    U16_NEXT(dec, i, dlen, d);
    if (u_charType(d) == U_NON_SPACING_MARK) continue;
    UChar one[2], low[8];
    int32_t olen = 0;
    U16_APPEND_UNSAFE(one, olen, d);
    st = U_ZERO_ERROR;
    int32_t llen = u_strToLower(low, 8, one, olen, "", &st);
    if (U_FAILURE(st)) {
      out.push_back(d);
      continue;
    }
    for (int32_t k = 0; k < llen;) {
      UChar32 l;
      U16_NEXT(low, k, llen, l);
      out.push_back(l);
    }
  }
}
}  // namespace

WordPiece::WordPiece(const std::string& vocab_path) {
  LineReader r(vocab_path);
  std::string line;
  int64_t id = 0;
  while (r.next(line)) vocab_.emplace(line, id++);
  auto need = [&](const char* tok, int64_t& slot) {
    auto it = vocab_.find(tok);
    if (it == vocab_.end()) throw IoError(detail::cat(vocab_path, ": vocabulary has no ", tok, " token"));
    slot = it->second;
  };
  need("[CLS]", cls_);
  need("[SEP]", sep_);
  need("[PAD]", pad_);
  need("[UNK]", unk_);
}

std::vector<std::string> WordPiece::words(const std::string& text) const {
  std::vector<UChar32> norm;
  for (UChar32 c : decode(text)) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_whitespace(c)) {
      norm.push_back(' ');
    } else if (is_cjk(c)) {
      norm.push_back(' ');
      norm.push_back(c);
      norm.push_back(' ');
    } else {
      strip_and_lower(c, norm);
    }
  }
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(std::move(cur));
    cur.clear();
  };
  for (UChar32 c : norm) {
    if (is_whitespace(c)) {
      flush();
    } else if (is_punctuation(c)) {
      flush();
      append_utf8(cur, c);
      flush();
    } else {
      append_utf8(cur, c);
    }
  }
  flush();
  return out;
}

void WordPiece::word_pieces(const std::string& word, std::vector<int64_t>& out) const {
  // Positions of code-point starts, so substrings never split a character.
  std::vector<size_t> starts;
  for (size_t i = 0; i < word.size(); ++i)
    if ((static_cast<unsigned char>(word[i]) & 0xC0) != 0x80) starts.push_back(i);
  starts.push_back(word.size());
  const size_t n = starts.size() - 1;
  if (n > 100) {
    out.push_back(unk_);
    return;
  }
  std::vector<int64_t> pieces;
  size_t start = 0;
  while (start < n) {
    size_t end = n;
    int64_t found = -1;
    while (end > start) {
      std::string sub = word.substr(starts[start], starts[end] - starts[start]);
      if (start > 0) sub = "##" + sub;
      auto it = vocab_.find(sub);
      if (it != vocab_.end()) {
        found = it->second;
        break;
      }
      --end;
    }
    if (found < 0) {
      out.push_back(unk_);
      return;
    }
    pieces.push_back(found);
    start = end;
  }
  out.insert(out.end(), pieces.begin(), pieces.end());
}

std::vector<int64_t> WordPiece::encode(const std::string& text, size_t max_len) const {
  PLURAL_CHECK(max_len >= 2, "WordPiece::encode: max_len must be >= 2");
  std::vector<int64_t> ids{cls_};
  for (const auto& w : words(text)) {
    word_pieces(w, ids);
    if (ids.size() >= max_len - 1) break;
  }
  if (ids.size() > max_len - 1) ids.resize(max_len - 1);
  ids.push_back(sep_);
  return ids;
}

std::vector<std::string> WordPiece::tokenize(const std::string& text) const {
  std::vector<int64_t> ids;
  for (const auto& w : words(text)) word_pieces(w, ids);
  std::vector<std::string> inv(vocab_.size());
  for (const auto& kv : vocab_) inv[static_cast<size_t>(kv.second)] = kv.first;
  std::vector<std::string> out;
  for (auto id : ids) out.push_back(inv[static_cast<size_t>(id)]);
  return out;
}

}  // namespace plural::core
