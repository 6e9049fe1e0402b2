#include <charconv>
#include <nlohmann/json.hpp>

#include "core/base/atomic_file.hpp"
#include "core/base/error.hpp"
#include "core/data/readers.hpp"

namespace plural::core {

namespace {
using nlohmann::json;

// The shortest decimal that reads back as the same float (0.1f is written 0.1, not 0.10000000149011612), whatever
// the C locale's decimal separator.
json shortest(float v) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return json::parse(std::string(buf, end));
}

json record(const PreferenceData& d, const Comparison& c) {
  json r = {{"user", d.users[c.user].id}};
  if (c.prompt_a >= 0) r["prompt"] = d.texts[c.prompt_a];
  if (c.prompt_b != c.prompt_a) r["prompt_b"] = d.texts[c.prompt_b];
  r["a"] = d.texts[c.a];
  r["b"] = d.texts[c.b];
  r["label"] = shortest(c.label);
  if (c.context >= 0) r["context"] = d.texts[c.context];
  if (c.weight != 1.f) r["weight"] = shortest(c.weight);
  if (c.margin != 0.f) r["margin"] = shortest(c.margin);
  if (c.rationale >= 0) r["rationale"] = d.texts[c.rationale];
  r["split"] = split_name(c.split);
  return r;
}
}  // namespace

void write_jsonl(const PreferenceData& data, const std::string& path) {
  PLURAL_CHECK(path.size() < 3 || path.compare(path.size() - 3, 3, ".gz") != 0, path,
               ": export writes plain JSON Lines (.jsonl); compress it afterwards if you need to");
  data.validate();  // data built in Python may hold indices the readers would have refused
  AtomicFile out(path);
  std::string chunk;
  for (const auto& c : data.comparisons) {
    chunk += record(data, c).dump(-1, ' ', false, json::error_handler_t::strict);
    chunk += '\n';
    if (chunk.size() >= (1 << 20)) {
      out.write(chunk);
      chunk.clear();
    }
  }
  out.write(chunk);
  out.commit();
}

}  // namespace plural::core
