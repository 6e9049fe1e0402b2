#pragma once
// Reading model/adapter configs from JSON with strict keys: an unknown or mistyped key is an error that names it.
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "core/base/error.hpp"

namespace plural::core {

// Bounds on the sizes a config may ask for, checked before anything is allocated: K = 10⁹ would exhaust memory
// rather than fail.
constexpr int64_t kMaxPrototypes = 256;  ///< K of a mixture
constexpr int64_t kMaxWidth = 16384;     ///< a projection, hidden, latent or token width
constexpr int64_t kMaxSupport = 100000;  ///< support pairs per set

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
  /// Reads `key` into `value` when present. Integers must be whole numbers that fit (2.5 and true are not 3 and 1),
  /// floating-point values finite.
  template <typename T>
  void get(const char* key, T& value) {
    used_.insert(key);
    if (!j_.contains(key)) return;
    const auto& v = j_[key];
    try {
      if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
        value = number<T>(key, v);
      } else if constexpr (std::is_same_v<T, std::vector<int64_t>> || std::is_same_v<T, std::vector<int>>) {
        PLURAL_CHECK(v.is_array(), who_, ": config key '", key, "' must be a list of integers, got ", v.dump());
        T out;
        for (const auto& e : v) out.push_back(number<typename T::value_type>(key, e));
        value = out;
      } else {
        value = v.get<T>();
      }
    } catch (const ValueError&) {
      throw;
    } catch (const std::exception&) {
      throw ValueError(detail::cat(who_, ": config key '", key, "' has the wrong type: ", v.dump()));
    }
  }
  /// Same, and the number (or every number of a list) must lie in [lo, hi]: sizes are bounded before anything is
  /// allocated.
  template <typename T>
  void get(const char* key, T& value, double lo, double hi) {
    get(key, value);
    if constexpr (std::is_arithmetic_v<T>) {
      in_range(key, value, lo, hi);
    } else {
      for (const auto& e : value) in_range(key, e, lo, hi);
    }
  }
  /// Call after all get()s: rejects keys nobody read.
  void finish() const {
    for (const auto& kv : j_.items())
      PLURAL_CHECK(used_.count(kv.key()), who_, ": unknown config key '", kv.key(), "'");
  }

 private:
  template <typename T>
  T number(const char* key, const nlohmann::json& v) const {
    if constexpr (std::is_integral_v<T>) {
      PLURAL_CHECK(v.is_number_integer(), who_, ": config key '", key, "' must be a whole number, got ", v.dump());
      if (v.is_number_unsigned()) {
        auto u = v.get<uint64_t>();
        PLURAL_CHECK(u <= static_cast<uint64_t>(std::numeric_limits<T>::max()), who_, ": config key '", key,
                     "' is too large: ", v.dump());
        return static_cast<T>(u);
      }
      auto i = v.get<int64_t>();
      PLURAL_CHECK(i >= static_cast<int64_t>(std::numeric_limits<T>::lowest()) &&
                       (i < 0 || static_cast<uint64_t>(i) <= static_cast<uint64_t>(std::numeric_limits<T>::max())),
                   who_, ": config key '", key, "' is out of range: ", v.dump());
      return static_cast<T>(i);
    } else {
      PLURAL_CHECK(v.is_number(), who_, ": config key '", key, "' must be a number, got ", v.dump());
      auto d = v.get<double>();
      PLURAL_CHECK(std::isfinite(d), who_, ": config key '", key, "' must be finite, got ", v.dump());
      return static_cast<T>(d);
    }
  }
  template <typename T>
  void in_range(const char* key, T value, double lo, double hi) const {
    PLURAL_CHECK(static_cast<double>(value) >= lo && static_cast<double>(value) <= hi, who_, ": config key '", key,
                 "' must be in [", lo, ", ", hi, "], got ", value);
  }

  nlohmann::json j_;
  std::string who_;
  std::set<std::string> used_;
};

}  // namespace plural::core
