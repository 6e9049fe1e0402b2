#pragma once
// One name -> implementation table, used by every "register by name" concept (encoders, losses, model families,
// query scorers). An unknown name is a ValueError that lists the known ones.
#include <map>
#include <string>
#include <utility>

#include "core/base/error.hpp"

namespace plural::core {

template <typename Entry>
class Registry {
 public:
  explicit Registry(std::string what) : what_(std::move(what)) {}
  void add(const std::string& name, Entry entry, std::string help) {
    items_[name] = {std::move(entry), std::move(help)};
  }
  bool has(const std::string& name) const { return items_.count(name) > 0; }
  const Entry& get(const std::string& name) const {
    auto it = items_.find(name);
    if (it == items_.end()) throw ValueError(detail::cat("unknown ", what_, " '", name, "' (known: ", known(), ")"));
    return it->second.first;
  }
  std::map<std::string, std::string> help() const {
    std::map<std::string, std::string> out;
    for (const auto& kv : items_) out[kv.first] = kv.second.second;
    return out;
  }
  std::string known() const {
    std::string s;
    for (const auto& kv : items_) s += (s.empty() ? "" : ", ") + kv.first;
    return s;
  }

 private:
  std::string what_;
  std::map<std::string, std::pair<Entry, std::string>> items_;
};

}  // namespace plural::core
