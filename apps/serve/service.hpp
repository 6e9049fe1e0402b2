#pragma once
// What `plural serve` does, without HTTP: each route is a function of a JSON request to a JSON reply over one
// Personalizer (the same session the CLI and Python use) and a UserStore. Bad input throws HttpError (4xx) naming
// the field; http_server.cpp only routes, authenticates, bounds bodies and counts.
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/serve/user_store.hpp"
#include "core/session/personalizer.hpp"
#include "embeddings/encode_batcher.hpp"

namespace plural::apps {

struct HttpError : std::runtime_error {
  HttpError(int status, const std::string& message) : std::runtime_error(message), status(status) {}
  int status;
};

/// Bounds on what one request may ask for (a request over them is a 413 or 400 naming the field).
struct ServiceLimits {
  size_t max_texts = 1024;            ///< texts (queries, responses) in one reward request
  size_t max_text_chars = 32768;      ///< characters of one text
  size_t max_answers = 256;           ///< answers appended in one request
  size_t max_candidates = 10000;      ///< candidate pairs of one `next` request
  size_t max_stored_answers = 10000;  ///< answers one user may accumulate
  size_t max_next = 100;              ///< pairs one `next` request may return
};

struct ServiceOptions {
  ServiceLimits limits;
  std::string scorer = "bald";                   ///< query scorer of `next`
  double done_below = 0.01;                      ///< `next` says done when the best pair's score is below this
  std::vector<core::TextComparison> candidates;  ///< the default pool of `next` (the page asks from it)
};

class PreferenceService {
 public:
  /// Opens the service; stored users whose states belong to other weights are re-adapted from their answers.
  PreferenceService(core::Personalizer& session, UserStore& store, ServiceOptions options);

  /// OpenRLHF's remote reward model: {"query": [...], "prompts": [...], "labels": [...]} -> {"rewards": [...]}.
  nlohmann::json get_reward(const nlohmann::json& request);
  /// {"texts": [...], "prompt"?, "user"?} -> {"rewards": [...]}.
  nlohmann::json reward(const nlohmann::json& request);
  /// {"a", "b", "prompt"?, "user"?} -> {"p_a"}.
  nlohmann::json prefer(const nlohmann::json& request);
  /// {"answers": [{"chosen", "rejected", "prompt"?, "p_chosen"?, "weight"?}]}: stored, re-adapted, committed.
  nlohmann::json add_answers(const std::string& user, const nlohmann::json& request);
  nlohmann::json get_user(const std::string& user);
  nlohmann::json delete_user(const std::string& user);
  /// {"candidates"?: [{"a", "b", "prompt"?}], "n"?, "scorer"?} -> the most informative unanswered pairs.
  nlohmann::json next(const std::string& user, const nlohmann::json& request);

  int64_t user_count() { return store_.user_count(); }
  core::EncodeBatcher::Stats encoded() const { return encoder_batch_.stats(); }
  const core::Personalizer& session() const { return session_; }

  /// 400 unless `id` is 1-128 characters of letters, digits and "_.-@:".
  static void check_user_id(const std::string& id, const std::string& field);

 private:
  struct Known {
    core::UserState state;
    int64_t answers = 0;
    bool stored = false;
  };
  /// The user's state: stored, else a seen user of the model, else the prior (`must_exist`: else 404).
  Known lookup(const std::string& user, bool must_exist);
  /// Whom a reward or preference is for: "" = the population prior, else a user who must exist.
  core::UserState state_for(const std::string& user);
  void readapt_stale_users();
  /// Encodes the request's texts missing from the cache (batched with concurrent requests, outside mu_).
  void encode_missing(const std::vector<std::string>& texts);
  nlohmann::json describe(const std::string& user, const Known& k);

  core::Personalizer& session_;
  UserStore& store_;
  ServiceOptions options_;
  std::mutex mu_;  // the session (cache writes, torch state) and each user's read-adapt-commit are serial
  std::map<std::string, Known> cache_;
  core::EncodeBatcher encoder_batch_;
};

}  // namespace plural::apps
