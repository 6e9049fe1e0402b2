#include "core/data/chat_pairs.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/base/text_io.hpp"
#include "core/data/json_row.hpp"

namespace plural::core {

namespace {
using nlohmann::json;

const std::string kAssistant = "\n\nAssistant:";

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

struct Pair {
  std::string prompt, chosen, rejected;
};

// One record of a file: the RLHF formats read into a Pair, with errors naming the file, line and field.
class Record {
 public:
  Record(const std::string& path, size_t line, json obj) : obj_(std::move(obj)), row_{path, line, obj_} {}
  Record(const Record&) = delete;  // row_ refers to obj_
  Record& operator=(const Record&) = delete;

  std::string where(const std::string& field) const { return row_.where(field); }
  bool has(const char* field) const { return row_.has(field); }
  const json& at(const char* field) const { return row_.at(field); }
  std::string text(const json& v, const std::string& field) const { return row_.text_of(v, field); }

  std::string user(const ChatPairsOptions& o) const {
    if (!o.user.empty()) return o.user;
    const std::string field = o.user_field.empty() ? "user" : o.user_field;
    PLURAL_CHECK(has(field.c_str()), row_.path, ":", row_.line, ": no '", field,
                 "' field: give --user NAME (one user for every comparison) or --user-field FIELD");
    return row_.id(field.c_str());
  }

  // A list of {"role", "content"} messages, checked.
  const json& messages(const char* field) const {
    const auto& m = at(field);
    PLURAL_CHECK(m.is_array() && !m.empty(), where(field), ": expected a non-empty list of {role, content} messages");
    for (size_t i = 0; i < m.size(); ++i) {
      const std::string f = detail::cat(field, "[", i, "]");
      PLURAL_CHECK(m[i].is_object(), where(f), ": expected a {role, content} object, got ", m[i].type_name());
      PLURAL_CHECK(m[i].contains("role"), where(f + ".role"), ": missing");
      PLURAL_CHECK(m[i].contains("content"), where(f + ".content"), ": missing");
      text(m[i]["role"], f + ".role");
      text(m[i]["content"], f + ".content");
    }
    return m;
  }

  // The response a message list ends with: its last message, which must be the assistant's.
  std::string response(const char* field) const {
    const auto& m = messages(field);
    const std::string f = detail::cat(field, "[", m.size() - 1, "]");
    PLURAL_CHECK(m.back()["role"] == "assistant", where(f + ".role"),
                 ": the last message must be the assistant's "
                 "response, got ",
                 m.back()["role"].dump());
    return m.back()["content"].get<std::string>();
  }

  Pair conversational() const {
    Pair p;
    p.chosen = response("chosen");
    p.rejected = response("rejected");
    if (has("prompt")) {
      const auto& q = at("prompt");
      p.prompt = q.is_string() ? text(q, "prompt") : render(messages("prompt"), q.size());
      return p;
    }
    const auto &c = at("chosen"), &r = at("rejected");  // implicit prompt: the turns both lists share
    PLURAL_CHECK(c.size() == r.size() && std::equal(c.begin(), c.end() - 1, r.begin()), where("rejected"),
                 ": without a 'prompt', chosen and rejected must share every message but their last");
    p.prompt = render(c, c.size() - 1);
    return p;
  }

  Pair strings() const {
    Pair p{"", text(at("chosen"), "chosen"), text(at("rejected"), "rejected")};
    if (has("prompt")) {
      p.prompt = text(at("prompt"), "prompt");
      return p;
    }
    // HH-RLHF: both strings are the whole conversation; they part after the last assistant turn they share.
    const auto common = static_cast<size_t>(
        std::mismatch(p.chosen.begin(), p.chosen.end(), p.rejected.begin(), p.rejected.end()).first - p.chosen.begin());
    const auto cut =
        common >= kAssistant.size() ? p.chosen.rfind(kAssistant, common - kAssistant.size()) : std::string::npos;
    if (cut == std::string::npos) return p;  // no shared conversation: prompt-less responses
    const size_t start = cut + kAssistant.size();
    return {trim(p.chosen.substr(0, cut)), trim(p.chosen.substr(start)), trim(p.rejected.substr(start))};
  }

  Pair pair() const {
    const bool chat = has("chosen") && at("chosen").is_array();
    return chat ? conversational() : strings();
  }

 private:
  // The first n messages as prompt text: a lone user message is its content; a dialogue is "role: content" lines.
  static std::string render(const json& m, size_t n) {
    if (n == 1 && m[0]["role"] == "user") return m[0]["content"].get<std::string>();
    std::string out;
    for (size_t i = 0; i < n; ++i)
      out += (i ? "\n" : "") + m[i]["role"].get<std::string>() + ": " + m[i]["content"].get<std::string>();
    return out;
  }

  json obj_;
  JsonRow row_;  // reads obj_
};

}  // namespace

PreferenceData read_chat_pairs(const std::string& path, const ChatPairsOptions& options,
                               std::vector<std::string>* skipped) {
  PreferenceData data;
  data.source = path;
  LineReader reader(path);
  std::string line;
  while (reader.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    json obj = parse_json_line(path, reader.line_number(), line);
    PLURAL_CHECK(obj.is_object(), path, ":", reader.line_number(), ": expected a JSON object, got ", obj.type_name());
    Record rec(path, reader.line_number(), std::move(obj));
    const Pair p = rec.pair();
    const char* unusable = trim(p.chosen).empty()     ? "the chosen response is empty"
                           : trim(p.rejected).empty() ? "the rejected response is empty"
                           : p.chosen == p.rejected   ? "the same response as chosen"
                                                      : nullptr;
    if (unusable && options.skip_unusable) {
      if (skipped) skipped->push_back(detail::cat(path, ":", reader.line_number(), ": ", unusable));
      continue;
    }
    PLURAL_CHECK(!unusable, rec.where(trim(p.chosen).empty() ? "chosen" : "rejected"), ": ", unusable,
                 " (--skip-unusable leaves such records out and lists them)");
    Comparison c;
    c.user = data.user_index(rec.user(options));
    if (!p.prompt.empty()) c.prompt_a = c.prompt_b = data.texts.intern(p.prompt);
    c.a = data.texts.intern(p.chosen);
    c.b = data.texts.intern(p.rejected);
    c.label = 1.f;
    if (rec.has("split")) c.split = parse_split(rec.text(rec.at("split"), "split"), rec.where("split"));
    data.comparisons.push_back(c);
  }
  PLURAL_CHECK(!data.comparisons.empty(), path, ": no comparisons");
  data.infer_seen();
  data.validate();
  return data;
}

}  // namespace plural::core
