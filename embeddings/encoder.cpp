#include "embeddings/encoder.hpp"

#include <cstdlib>

#include "core/base/error.hpp"
#include "core/base/registry.hpp"

namespace plural::core {

EncoderSpec EncoderSpec::parse(const std::string& spec) {
  EncoderSpec s;
  auto colon = spec.find(':');
  s.name = spec.substr(0, colon);
  PLURAL_CHECK(!s.name.empty(), "encoder spec '", spec, "': empty name (expected name[:key=value,...])");
  if (colon == std::string::npos) return s;
  std::string rest = spec.substr(colon + 1);
  size_t start = 0;
  while (start < rest.size()) {
    size_t comma = rest.find(',', start);
    std::string kv = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto eq = kv.find('=');
    PLURAL_CHECK(eq != std::string::npos && eq > 0, "encoder spec '", spec, "': option '", kv, "' is not key=value");
    s.options[kv.substr(0, eq)] = kv.substr(eq + 1);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return s;
}

std::string EncoderSpec::get(const std::string& key, const std::string& fallback) const {
  auto it = options.find(key);
  return it == options.end() ? fallback : it->second;
}

int64_t EncoderSpec::get_int(const std::string& key, int64_t fallback) const {
  auto it = options.find(key);
  if (it == options.end()) return fallback;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  PLURAL_CHECK(end && *end == '\0' && !it->second.empty(), "encoder '", name, "': option ", key,
               " must be an integer, got '", it->second, "'");
  return v;
}

void EncoderSpec::only(const std::vector<std::string>& known) const {
  for (const auto& kv : options) {
    bool ok = false;
    for (const auto& k : known) ok = ok || k == kv.first;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    PLURAL_CHECK(ok, "encoder '", name, "': unknown option '", kv.first, "' (known: ", list, ")");
  }
}

namespace {
Registry<EncoderFactory>& registry() {
  static Registry<EncoderFactory> r("encoder");
  return r;
}
}  // namespace

bool register_encoder(const std::string& name, EncoderFactory factory, const std::string& help) {
  registry().add(name, std::move(factory), help);
  return true;
}

std::unique_ptr<Encoder> make_encoder(const std::string& spec) {
  EncoderSpec s = EncoderSpec::parse(spec);
  return registry().get(s.name)(s);
}

std::map<std::string, std::string> encoder_names() { return registry().help(); }

std::string encoder_spec_for(const std::string& id) {
  const std::string hashed = "hashed-ngram-v1:dim=";
  if (id.rfind(hashed, 0) == 0) return "hashed:dim=" + id.substr(hashed.size(), id.find(',') - hashed.size());
  // The MiniLM id is "<model dir name>:<weights hash>:mean-l2:max<L>"; the default model directory holds it.
  if (id.rfind("all-MiniLM-L6-v2:", 0) == 0) {
    auto pos = id.rfind(":max");
    return "minilm:max_len=" + id.substr(pos + 4);
  }
  return "";
}

}  // namespace plural::core
