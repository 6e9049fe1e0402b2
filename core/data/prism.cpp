#include "core/data/prism.hpp"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/base/error.hpp"
#include "core/base/text_io.hpp"
#include "core/data/json_row.hpp"

namespace plural::core {

namespace {
using nlohmann::json;

struct Response {
  std::string text;
  double score = 0;
  bool chosen = false;
};

struct Turn {
  std::string user_message;
  bool has_user = false;
  std::vector<Response> responses;
};

// conversation_history of one conversation, grouped by turn and checked field by field.
std::map<int64_t, Turn> read_turns(const JsonRow& row) {
  const auto& history = row.at("conversation_history");
  PLURAL_CHECK(history.is_array(), row.where("conversation_history"), ": expected a list of messages, got ",
               history.type_name());
  std::map<int64_t, Turn> turns;
  for (size_t i = 0; i < history.size(); ++i) {
    const std::string f = detail::cat("conversation_history[", i, "]");
    const auto& m = history[i];
    PLURAL_CHECK(m.is_object(), row.where(f), ": expected an object, got ", m.type_name());
    PLURAL_CHECK(m.contains("turn") && m["turn"].is_number_integer() && m["turn"].get<int64_t>() >= 0,
                 row.where(f + ".turn"), ": expected a whole number >= 0");
    PLURAL_CHECK(m.contains("role"), row.where(f + ".role"), ": missing");
    PLURAL_CHECK(m.contains("content"), row.where(f + ".content"), ": missing");
    const std::string role = row.text_of(m["role"], f + ".role");
    Turn& turn = turns[m["turn"].get<int64_t>()];
    if (role == "user") {
      PLURAL_CHECK(!turn.has_user, row.where(f), ": a second user message in turn ", m["turn"].get<int64_t>());
      turn.user_message = row.text_of(m["content"], f + ".content");
      turn.has_user = true;
    } else {
      PLURAL_CHECK(role == "model", row.where(f + ".role"), ": expected \"user\" or \"model\", got \"", role, "\"");
      PLURAL_CHECK(m.contains("score") && m["score"].is_number() && std::isfinite(m["score"].get<double>()),
                   row.where(f + ".score"), ": expected the participant's rating (a number), got ",
                   m.contains("score") ? m["score"].dump() : "nothing");
      const bool chosen = m.contains("if_chosen") && m["if_chosen"].is_boolean() && m["if_chosen"].get<bool>();
      turn.responses.push_back({row.text_of(m["content"], f + ".content"), m["score"].get<double>(), chosen});
    }
  }
  for (const auto& [t, turn] : turns)
    PLURAL_CHECK(turn.has_user || turn.responses.empty(), row.where("conversation_history"), ": turn ", t,
                 " has model responses but no user message");
  return turns;
}

// The response the conversation went on with: the flagged one, else the best rated.
const Response& continued_with(const Turn& turn) {
  const Response* best = &turn.responses.front();
  for (const auto& r : turn.responses) {
    if (r.chosen) return r;
    if (r.score > best->score) best = &r;
  }
  return *best;
}

// "field: value; field: value" from one participant's survey record; dotted fields reach into nested objects.
std::string context_of(const JsonRow& survey, const std::vector<std::string>& fields) {
  std::string out;
  for (const auto& field : fields) {
    const json* v = &survey.obj;
    size_t start = 0;
    while (true) {
      const size_t dot = field.find('.', start);
      const std::string key = field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      PLURAL_CHECK(v->is_object() && v->contains(key), survey.where(field), ": missing");
      v = &(*v)[key];
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    PLURAL_CHECK(!v->is_object() && !v->is_array(), survey.where(field), ": holds a ", v->type_name(),
                 "; name one of its fields with a dot (", field, ".NAME)");
    const std::string value = v->is_null() ? "n/a" : v->is_string() ? survey.text_of(*v, field) : v->dump();
    out += (out.empty() ? "" : "; ") + field + ": " + value;
  }
  return out;
}

// user_id -> context text, from survey.jsonl.
std::unordered_map<std::string, std::string> read_contexts(const PrismOptions& o) {
  std::unordered_map<std::string, std::string> contexts;
  if (o.context_fields.empty()) return contexts;
  PLURAL_CHECK(!o.survey.empty(), "PRISM: context fields (", o.context_fields.front(),
               ", ...) are read from survey.jsonl: give its path");
  LineReader reader(o.survey);
  std::string line;
  while (reader.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const json obj = parse_json_line(o.survey, reader.line_number(), line);
    PLURAL_CHECK(obj.is_object(), o.survey, ":", reader.line_number(), ": expected a JSON object");
    const JsonRow row{o.survey, reader.line_number(), obj};
    contexts[row.id("user_id")] = context_of(row, o.context_fields);
  }
  return contexts;
}

// Adds one conversation's within-turn comparisons.
void add_conversation(PreferenceData& data, const JsonRow& row, const PrismOptions& o,
                      const std::unordered_map<std::string, std::string>& contexts, PrismCounts& n) {
  const std::string user = row.id("user_id");
  int32_t context = -1;
  if (!o.context_fields.empty()) {
    auto it = contexts.find(user);
    PLURAL_CHECK(it != contexts.end(), row.where("user_id"), ": participant \"", user, "\" is not in ", o.survey);
    context = data.texts.intern(it->second);
  }
  std::string transcript;
  for (const auto& [t, turn] : read_turns(row)) {
    ++n.turns;
    const std::string prompt = o.history ? transcript + "user: " + turn.user_message : turn.user_message;
    if (turn.responses.size() < 2) ++n.single_response_turns;
    for (size_t i = 0; i < turn.responses.size(); ++i)
      for (size_t j = i + 1; j < turn.responses.size(); ++j) {
        const auto &x = turn.responses[i], &y = turn.responses[j];
        if (x.text == y.text) continue;  // the same words twice say nothing about the participant
        if (x.score == y.score) {
          ++n.ties;
          if (!o.keep_ties) continue;
        }
        Comparison c;
        c.user = data.user_index(user);
        c.prompt_a = c.prompt_b = data.texts.intern(prompt);
        const bool x_first = x.score >= y.score;
        c.a = data.texts.intern(x_first ? x.text : y.text);
        c.b = data.texts.intern(x_first ? y.text : x.text);
        c.label = x.score == y.score ? 0.5f : 1.f;
        c.context = context;
        data.comparisons.push_back(c);
        ++n.pairs;
      }
    if (o.history && !turn.responses.empty())
      transcript += "user: " + turn.user_message + "\nassistant: " + continued_with(turn).text + "\n";
  }
  ++n.conversations;
}
}  // namespace

PreferenceData read_prism(const std::string& path, const PrismOptions& options, PrismCounts* counts) {
  const auto contexts = read_contexts(options);
  PreferenceData data;
  data.source = path;
  PrismCounts n;
  LineReader reader(path);
  std::string line;
  while (reader.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const json obj = parse_json_line(path, reader.line_number(), line);
    PLURAL_CHECK(obj.is_object(), path, ":", reader.line_number(), ": expected a JSON object, got ", obj.type_name());
    add_conversation(data, JsonRow{path, reader.line_number(), obj}, options, contexts, n);
  }
  PLURAL_CHECK(!data.comparisons.empty(), path, ": no comparisons (", n.conversations, " conversations, ", n.turns,
               " turns, ", n.ties, " tied pairs left out; is this PRISM's conversations.jsonl?)");
  data.infer_seen();
  data.validate();
  if (counts) *counts = n;
  return data;
}

}  // namespace plural::core
