#pragma once
// A config struct's fields declared once: name, range and help beside the struct's own default. Reading JSON (strict:
// unknown keys, wrong types and out-of-range values are errors that name the key), writing JSON and the description
// that the CLI's help, Python's keyword arguments and the docs show all come from that one list.
#include <cmath>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/base/error.hpp"
#include "core/base/json_config.hpp"

namespace plural::core {

/// One declared field, as the tools show it.
struct ConfigField {
  std::string name;
  std::string type;  ///< int | float | bool | string | list[int]
  nlohmann::json default_value;
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  std::string help;
  bool lo_open = false;  ///< the range is (lo, hi]: lo itself is refused
};

/// The fields as JSON: [{"name", "type", "default", "min"?, "max"?, "help"}], in declaration order.
inline nlohmann::json fields_json(const std::vector<ConfigField>& fields) {
  auto out = nlohmann::json::array();
  for (const auto& f : fields) {
    nlohmann::json j = {{"name", f.name}, {"type", f.type}, {"default", f.default_value}, {"help", f.help}};
    if (std::isfinite(f.lo)) j[f.lo_open ? "exclusive_min" : "min"] = f.lo;
    if (std::isfinite(f.hi)) j["max"] = f.hi;
    out.push_back(j);
  }
  return out;
}

template <class Config>
class ConfigSchema {
 public:
  explicit ConfigSchema(std::string who) : who_(std::move(who)) {}

  /// Declares a field that is a member of the config.
  template <class T>
  ConfigSchema& field(const char* name, T Config::*member, const char* help,
                      double lo = -std::numeric_limits<double>::infinity(),
                      double hi = std::numeric_limits<double>::infinity()) {
    return field(
        name, [member](Config& c) -> T& { return c.*member; }, help, lo, hi);
  }
  /// Declares a field reached by `get` (a lambda returning a reference into the config, so nested structs work).
  /// Numbers, and each number of a list, must lie in [lo, hi].
  template <class Get>
  ConfigSchema& field(const char* name, Get get, const char* help, double lo = -std::numeric_limits<double>::infinity(),
                      double hi = std::numeric_limits<double>::infinity()) {
    using T = std::decay_t<decltype(get(std::declval<Config&>()))>;
    const bool bounded = std::isfinite(lo) || std::isfinite(hi);
    Field f;
    f.info = {name, type_name<T>(), nlohmann::json(get(defaults_)), lo, hi, help};
    f.read = [get, name, bounded, lo, hi](JsonConfig& r, Config& c) {
      if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
        if (bounded) return r.get(name, get(c), lo, hi);
      } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
        if (bounded) return r.get(name, get(c), lo, hi);
      }
      r.get(name, get(c));
    };
    f.value = [get](const Config& c) -> double {
      if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
        return static_cast<double>(get(const_cast<Config&>(c)));
      } else {
        return 0;
      }
    };
    f.is_number = std::is_arithmetic_v<T> && !std::is_same_v<T, bool>;
    f.write = [get, name](nlohmann::json& j, const Config& c) { j[name] = get(const_cast<Config&>(c)); };
    fields_.push_back(std::move(f));
    return *this;
  }

  /// Marks the last declared field's range as (lo, hi]: a learning rate of 0 trains nothing.
  ConfigSchema& exclusive_min() {
    fields_.back().info.lo_open = true;
    return *this;
  }

  /// The struct's defaults overridden by `json` ("" or "{}" = defaults).
  Config read(const std::string& json) const {
    Config c{};
    JsonConfig r(json, who_);
    for (const auto& f : fields_) f.read(r, c);
    r.finish();
    for (const auto& f : fields_)
      if (f.info.lo_open) check(f, c);  // the open lower bounds JsonConfig does not know
    return c;
  }
  /// Every bounded number of `c` is finite and inside its declared range; ValueError naming the field otherwise.
  void validate(const Config& c) const {
    for (const auto& f : fields_) check(f, c);
  }
  nlohmann::json to_json(const Config& c) const {
    auto j = nlohmann::json::object();
    for (const auto& f : fields_) f.write(j, c);
    return j;
  }
  std::string write(const Config& c) const { return to_json(c).dump(); }
  std::vector<ConfigField> fields() const {
    std::vector<ConfigField> out;
    for (const auto& f : fields_) out.push_back(f.info);
    return out;
  }

 private:
  struct Field {
    ConfigField info;
    std::function<void(JsonConfig&, Config&)> read;
    std::function<void(nlohmann::json&, const Config&)> write;
    std::function<double(const Config&)> value;  ///< a number's value (validate)
    bool is_number = false;
  };
  void check(const Field& f, const Config& c) const {
    const auto& i = f.info;
    if (!f.is_number || !(std::isfinite(i.lo) || std::isfinite(i.hi))) return;
    const double v = f.value(c);
    const bool ok = std::isfinite(v) && (i.lo_open ? v > i.lo : v >= i.lo) && v <= i.hi;
    PLURAL_CHECK(ok, who_, ": ", i.name, " must be in ", i.lo_open ? "(" : "[", i.lo, ", ", i.hi, "], got ", v);
  }
  template <class T>
  static std::string type_name() {
    if constexpr (std::is_same_v<T, bool>) return "bool";
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) return "int";
    if constexpr (std::is_floating_point_v<T>) return "float";
    if constexpr (std::is_same_v<T, std::string>) return "string";
    if constexpr (std::is_same_v<T, std::vector<int64_t>>) return "list[int]";
    return "json";
  }

  std::string who_;
  Config defaults_{};
  std::vector<Field> fields_;
};

}  // namespace plural::core
