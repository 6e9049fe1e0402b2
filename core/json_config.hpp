#pragma once
// Reading model/adapter configs from JSON with strict keys: an unknown or mistyped key is an error that names it.
#include <nlohmann/json.hpp>

#include <set>
#include <string>

#include "core/error.hpp"

namespace plural::core {

class JsonConfig {
 public:
  JsonConfig(const std::string& text, std::string who) : who_(std::move(who)) {
    try {
      j_ = text.empty() ? nlohmann::json::object() : nlohmann::json::parse(text);
    } catch (const std::exception& e) {
      throw ValueError(detail::cat(who_, ": config is not valid JSON: ", e.what()));
    }
    PLURAL_CHECK(j_.is_object(), who_, ": config must be a JSON object");
  }
  template <typename T>
  void get(const char* key, T& value) {
    used_.insert(key);
    if (!j_.contains(key)) return;
    try {
      value = j_[key].get<T>();
    } catch (const std::exception&) {
      throw ValueError(detail::cat(who_, ": config key '", key, "' has the wrong type: ", j_[key].dump()));
    }
  }
  /// Call after all get()s: rejects keys nobody read.
  void finish() const {
    for (const auto& kv : j_.items())
      PLURAL_CHECK(used_.count(kv.key()), who_, ": unknown config key '", kv.key(), "'");
  }

 private:
  nlohmann::json j_;
  std::string who_;
  std::set<std::string> used_;
};

}  // namespace plural::core
