#pragma once
// Durable users for `plural serve`: a user's answers and the state adapted from them are committed together, so an
// acknowledged answer survives a crash and a restarted server finds every user as she was. One interface, so a
// deployment with several replicas can put the store on a shared database (docs/serve.md).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/session/personalizer.hpp"

namespace plural::apps {

struct StoredUser {
  std::vector<core::TextComparison> answers;  ///< every answer, oldest first
  std::string state_json;                     ///< the state adapted from all of them (state_json.hpp)
};

class UserStore {
 public:
  virtual ~UserStore() = default;
  /// Appends `answers` to `user` and replaces her state in one transaction: on return both are durable, and a crash
  /// before it leaves neither.
  virtual void commit(const std::string& user, const std::vector<core::TextComparison>& answers,
                      const std::string& state_json) = 0;
  /// Replaces the states of several users at once (re-adaptation after the model changed), one transaction.
  virtual void replace_states(const std::vector<std::pair<std::string, std::string>>& user_states) = 0;
  virtual std::optional<StoredUser> load(const std::string& user) = 0;
  /// False when there was no such user.
  virtual bool remove(const std::string& user) = 0;
  virtual std::vector<std::string> users() = 0;
  virtual int64_t user_count() = 0;
  /// A value kept with the users (e.g. the weights id of the model their states belong to; "" = none).
  virtual std::string meta(const std::string& key) = 0;
  virtual void set_meta(const std::string& key, const std::string& value) = 0;
};

/// The embedded store: SQLite in WAL mode with synchronous=FULL (a commit is on disk before it returns).
std::unique_ptr<UserStore> open_sqlite_store(const std::string& path);

}  // namespace plural::apps
