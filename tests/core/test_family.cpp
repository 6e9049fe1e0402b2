// Every family's record: its declared fields are exactly the keys of its config JSON, a declared default is what a
// model built from "{}" holds, ranges are enforced by name, and it has a default adapter.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include "core/base/error.hpp"
#include "core/family.hpp"

using namespace plural::core;
using Catch::Matchers::Contains;

namespace {
ModelDims small_dims() {
  ModelDims d;
  d.item_dim = 8;
  d.prompt_dim = 8;
  d.context_dim = 4;
  d.users = {"u0", "u1", "u2"};
  return d;
}
}  // namespace

TEST_CASE("each family record declares exactly the keys its config JSON holds, with its defaults") {
  const auto names = family_names();
  REQUIRE(names.size() >= 8);
  for (const auto& family : names) {
    INFO(family);
    const auto& record = family_record(family);
    auto model = make_model(family, small_dims(), "{}");
    auto written = nlohmann::json::parse(model->config_json());
    std::set<std::string> declared, keys;
    for (const auto& f : record.config) {
      declared.insert(f.name);
      REQUIRE(written.contains(f.name));
      CHECK(written[f.name] == f.default_value);
      CHECK(!f.help.empty());
    }
    for (const auto& kv : written.items()) keys.insert(kv.key());
    CHECK(keys == declared);
    CHECK(!record.adapters.empty());
    CHECK_NOTHROW(make_adapter(family, ""));
  }
}

TEST_CASE("a family's config is checked by its declared ranges and names") {
  for (const auto& family : family_names()) {
    INFO(family);
    for (const auto& f : family_record(family).config) {
      if (f.type != "int" || !std::isfinite(f.hi)) continue;
      nlohmann::json too_big = {{f.name, static_cast<int64_t>(f.hi) + 1}};
      CHECK_THROWS_WITH(make_model(family, small_dims(), too_big.dump()), Contains("'" + f.name + "' must be in"));
      break;
    }
    CHECK_THROWS_WITH(make_model(family, small_dims(), R"({"no_such_key": 1})"),
                      Contains("unknown config key 'no_such_key'"));
  }
  CHECK_THROWS_AS(family_record("no-such-family"), plural::ValueError);
}
