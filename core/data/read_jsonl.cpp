#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/base/error.hpp"
#include "core/base/text_io.hpp"
#include "core/data/json_row.hpp"
#include "core/data/read_records.hpp"
#include "core/data/readers.hpp"

namespace plural::core {

using nlohmann::json;

PreferenceData read_jsonl(const std::string& path) { return read_jsonl(path, false); }

PreferenceData read_candidates(const std::string& path) {
  PLURAL_CHECK(path.find(".jsonl") != std::string::npos, path,
               ": candidate pairs are read from JSON Lines (.jsonl or .jsonl.gz)");
  return read_jsonl(path, true);
}

namespace {
// One JSON object (a line of `source`, numbered `line_no`) -> one comparison of `data`.
void add_object(PreferenceData& data, const std::string& source, size_t line_no, const json& obj, bool unlabelled) {
  PLURAL_CHECK(obj.is_object(), source, ":", line_no, ": expected a JSON object, got ", obj.type_name());
  JsonRow row{source, line_no, obj};
  Comparison c;
  c.user = data.user_index(unlabelled && !row.has("user") ? std::string("candidates") : row.id("user"));
  if (row.has("prompt")) {
    c.prompt_a = data.texts.intern(row.text("prompt"));
    c.prompt_b = row.has("prompt_b") ? data.texts.intern(row.text("prompt_b")) : c.prompt_a;
  } else {
    PLURAL_CHECK(!row.has("prompt_b"), row.where("prompt_b"), ": given without 'prompt'");
  }
  bool pair_cr = row.has("chosen") || row.has("rejected");
  bool pair_ab = row.has("a") || row.has("b");
  bool pair_pal = row.has("left") || row.has("right");  // the original PAL code's convention
  PLURAL_CHECK(int(pair_cr) + int(pair_ab) + int(pair_pal) == 1, source, ":", line_no,
               ": give either 'chosen' and 'rejected', or 'a', 'b' and 'label', or PAL's 'left', 'right' and 'y'");
  if (pair_pal) {
    // PAL: y = -1 means the left item is preferred, +1 the right one. Ours: label = P(a ≻ b) with a = left.
    c.a = data.texts.intern(row.text("left"));
    c.b = data.texts.intern(row.text("right"));
    PLURAL_CHECK(row.has("y"), row.where("y"), ": missing (PAL's convention: -1 = left preferred, +1 = right)");
    double y = row.number("y");
    PLURAL_CHECK(y == -1.0 || y == 1.0, row.where("y"), ": must be -1 (left preferred) or +1 (right), got ",
                 obj["y"].dump());
    c.label = y < 0 ? 1.f : 0.f;
  } else if (pair_cr) {
    c.a = data.texts.intern(row.text("chosen"));
    c.b = data.texts.intern(row.text("rejected"));
    c.label = 1.f;
    PLURAL_CHECK(!row.has("label"), row.where("label"), ": not allowed with chosen/rejected (the label is 1)");
  } else {
    c.a = data.texts.intern(row.text("a"));
    c.b = data.texts.intern(row.text("b"));
    PLURAL_CHECK(unlabelled || row.has("label"), row.where("label"), ": missing (P(a preferred to b), in [0, 1])");
    c.label = row.has("label") ? row.number("label") : 0.5f;
    PLURAL_CHECK(std::isfinite(c.label) && c.label >= 0.f && c.label <= 1.f, row.where("label"),
                 ": must be in [0, 1], got ", obj["label"].dump());
  }
  if (row.has("context")) c.context = data.texts.intern(row.text("context"));
  if (row.has("rationale")) {  // "" means none, as an empty TSV cell does
    const auto why = row.text("rationale");
    if (!why.empty()) c.rationale = data.texts.intern(why);
  }
  if (row.has("weight")) {
    c.weight = row.number("weight");
    PLURAL_CHECK(std::isfinite(c.weight) && c.weight >= 0.f, row.where("weight"), ": must be finite and >= 0, got ",
                 obj["weight"].dump());
  }
  if (row.has("margin")) {
    c.margin = row.number("margin");
    PLURAL_CHECK(std::isfinite(c.margin), row.where("margin"), ": must be finite, got ", obj["margin"].dump());
  }
  if (row.has("split")) c.split = parse_split(row.text("split"), detail::cat(source, ":", line_no));
  data.comparisons.push_back(c);
}

void add_record(PreferenceData& data, const std::string& source, size_t line_no, const std::string& line,
                bool unlabelled) {
  add_object(data, source, line_no, parse_json_line(source, line_no, line), unlabelled);
}

PreferenceData finish(PreferenceData data, bool unlabelled) {
  PLURAL_CHECK(!data.comparisons.empty(), data.source,
               unlabelled ? ": no candidate pairs (the pool is empty)" : ": no comparisons");
  data.infer_seen();
  data.validate();
  return data;
}
}  // namespace

PreferenceData read_jsonl(const std::string& path, bool unlabelled) {
  PreferenceData data;
  data.source = path;
  LineReader reader(path);
  std::string line;
  while (reader.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines are allowed
    add_record(data, path, reader.line_number(), line, unlabelled);
  }
  return finish(std::move(data), unlabelled);
}

PreferenceData parse_jsonl_records(const std::vector<std::string>& records, const std::string& source,
                                   bool unlabelled) {
  PreferenceData data;
  data.source = source;
  for (size_t i = 0; i < records.size(); ++i) add_record(data, source, i + 1, records[i], unlabelled);
  return finish(std::move(data), unlabelled);
}

PreferenceData parse_json_objects(const std::vector<json>& records, const std::string& source, bool unlabelled) {
  PreferenceData data;
  data.source = source;
  for (size_t i = 0; i < records.size(); ++i) add_object(data, source, i + 1, records[i], unlabelled);
  return finish(std::move(data), unlabelled);
}

}  // namespace plural::core
