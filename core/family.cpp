#include "core/family.hpp"

#include <algorithm>

#include "core/base/error.hpp"
#include "core/base/registry.hpp"

namespace plural::core {

namespace {
Registry<FamilyRecord>& families() {
  static Registry<FamilyRecord> r("model family");
  return r;
}
}  // namespace

void register_family(FamilyRecord record) {
  PLURAL_CHECK(record.make, "register_family(", record.name, "): no factory");
  int defaults = 0;
  for (const auto& a : record.adapters) defaults += a.is_default;
  PLURAL_CHECK(record.adapters.empty() || defaults == 1, "register_family(", record.name,
               "): exactly one adapter must be the default, got ", defaults);
  auto name = record.name;
  auto help = record.help;
  families().add(name, std::move(record), help);
}

const FamilyRecord& family_record(const std::string& family) { return families().get(family); }

std::vector<std::string> family_names() {
  std::vector<std::string> out;
  for (const auto& kv : families().help()) out.push_back(kv.first);
  return out;
}

std::shared_ptr<RewardModel> make_model(const std::string& family, const ModelDims& dims,
                                        const std::string& config_json) {
  const auto& record = family_record(family);
  PLURAL_CHECK(dims.item_dim > 0, "make_model(", family, "): item_dim must be > 0, got ", dims.item_dim);
  return record.make(dims, config_json.empty() ? "{}" : config_json);
}

std::unique_ptr<Adapter> make_adapter(const std::string& family, const std::string& name,
                                      const std::string& options_json) {
  const auto& record = family_record(family);
  PLURAL_CHECK(!record.adapters.empty(), "no adapter registered for model family '", family, "'");
  for (const auto& a : record.adapters)
    if ((name.empty() && a.is_default) || a.name == name) return a.make(options_json);
  std::string names;
  for (const auto& n : adapter_names(family)) names += (names.empty() ? "" : ", ") + n;
  throw ValueError(detail::cat("model family '", family, "' has no adapter '", name, "' (known: ", names, ")"));
}

std::map<std::string, std::string> model_families() { return families().help(); }

void require_model_family(const std::string& family) { family_record(family); }

std::vector<std::string> adapter_names(const std::string& family) {
  std::vector<std::string> out;
  if (!families().has(family)) return out;
  for (const auto& a : family_record(family).adapters) out.push_back(a.name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace plural::core
