#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>

#include "core/base/error.hpp"
#include "core/base/text_io.hpp"
#include "core/data/readers.hpp"

namespace plural::core {

PreferenceData read_tsv(const std::string& path) {
  PreferenceData data;
  data.source = path;
  LineReader reader(path);
  std::string line;
  PLURAL_CHECK(reader.next(line), path, ": empty file (expected a header line)");
  std::map<std::string, size_t> col;
  auto header = split_tsv(line);
  for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  auto has_col = [&](const char* name) { return col.count(name) > 0; };
  PLURAL_CHECK(has_col("user"), path, ":1: header has no 'user' column");
  bool cr = has_col("chosen") && has_col("rejected");
  bool ab = has_col("a") && has_col("b") && has_col("label");
  PLURAL_CHECK(cr != ab, path, ":1: header needs either 'chosen' and 'rejected' or 'a', 'b' and 'label' columns");
  auto number = [&](const std::string& s, const char* field, size_t line_no) {
    char* end = nullptr;
    errno = 0;
    float v = std::strtof(s.c_str(), &end);
    PLURAL_CHECK(!s.empty() && end && *end == '\0', path, ":", line_no, ": column '", field, "': not a number: '", s,
                 "'");
    PLURAL_CHECK(!(errno == ERANGE && std::isinf(v)), path, ":", line_no, ": column '", field, "': ", s,
                 " is out of range (a 32-bit float)");
    return v;
  };
  while (reader.next(line)) {
    if (line.empty()) continue;
    auto f = split_tsv(line);
    size_t ln = reader.line_number();
    PLURAL_CHECK(f.size() == header.size(), path, ":", ln, ": expected ", header.size(), " columns, got ", f.size());
    auto get = [&](const char* name) { return sanitize_utf8(tsv_unescape(f[col.at(name)])); };
    auto opt = [&](const char* name) { return has_col(name) ? get(name) : std::string(); };
    Comparison c;
    std::string user = get("user");
    PLURAL_CHECK(!user.empty(), path, ":", ln, ": column 'user': empty");
    c.user = data.user_index(user);
    if (std::string p = opt("prompt"); !p.empty() || has_col("prompt")) {
      c.prompt_a = data.texts.intern(p);
      std::string pb = opt("prompt_b");
      c.prompt_b = pb.empty() ? c.prompt_a : data.texts.intern(pb);
    }
    if (cr) {
      c.a = data.texts.intern(get("chosen"));
      c.b = data.texts.intern(get("rejected"));
    } else {
      c.a = data.texts.intern(get("a"));
      c.b = data.texts.intern(get("b"));
      c.label = number(f[col.at("label")], "label", ln);
      PLURAL_CHECK(std::isfinite(c.label) && c.label >= 0.f && c.label <= 1.f, path, ":", ln,
                   ": column 'label': must be in [0, 1], got ", f[col.at("label")]);
    }
    if (std::string ctx = opt("context"); !ctx.empty()) c.context = data.texts.intern(ctx);
    if (std::string why = opt("rationale"); !why.empty()) c.rationale = data.texts.intern(why);
    if (std::string w = opt("weight"); !w.empty()) {
      c.weight = number(w, "weight", ln);
      PLURAL_CHECK(std::isfinite(c.weight) && c.weight >= 0.f, path, ":", ln, ": column 'weight': must be >= 0, got ",
                   w);
    }
    if (std::string m = opt("margin"); !m.empty()) {
      c.margin = number(m, "margin", ln);
      PLURAL_CHECK(std::isfinite(c.margin), path, ":", ln, ": column 'margin': must be finite, got ", m);
    }
    if (std::string s = opt("split"); !s.empty()) c.split = parse_split(s, detail::cat(path, ":", ln));
    data.comparisons.push_back(c);
  }
  PLURAL_CHECK(!data.comparisons.empty(), path, ": no comparisons in the file");
  data.infer_seen();
  data.validate();
  return data;
}

}  // namespace plural::core
