#pragma once
// The preference data model: users, texts and comparisons. Plain C++ (no torch) so readers stay cheap to build.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace plural::core {

/// Which part of the protocol a comparison belongs to. Unseen users have only `support` (their few-shot
/// pool) and `test`; seen users have `train`, `val` and `test`.
enum class Split : uint8_t { train = 0, val = 1, test = 2, support = 3 };
const char* split_name(Split s);
/// Parses "train" | "val" | "test" | "support"; throws ValueError naming `where` otherwise.
Split parse_split(const std::string& name, const std::string& where);

/// One pairwise judgement: `label` = P(a ≻ b) for `user`. A pair may use two prompts (DOVE-style).
struct Comparison {
  int32_t user = -1;
  int32_t prompt_a = -1;   ///< text index, -1 = no prompt
  int32_t prompt_b = -1;   ///< text index, equal to prompt_a for the usual single-prompt pair
  int32_t a = -1, b = -1;  ///< text indices of the two items
  float label = 1.f;       ///< P(a ≻ b) in [0, 1]; 0.5 is a tie
  int32_t context = -1;    ///< text index of a context (criterion, scenario), -1 = none
  float weight = 1.f;      ///< non-negative importance weight
  float margin = 0.f;  ///< training loss sees logit − s·margin, s = the label's direction (TRL's `margin` column)
  int32_t rationale = -1;  ///< text index of why the label was given (training-time only), -1 = none
  Split split = Split::train;
};

struct User {
  std::string id;
  bool seen = true;    ///< has training comparisons; unseen users are adapted from their support pairs
  int32_t group = -1;  ///< ground-truth cluster/prototype when known (synthetic data), else -1
};

/// Interns texts by content: the same string always gets the same index.
class TextTable {
 public:
  int32_t intern(const std::string& text);
  const std::string& operator[](int32_t i) const { return texts_.at(static_cast<size_t>(i)); }
  int32_t find(const std::string& text) const;  ///< -1 when absent
  size_t size() const { return texts_.size(); }
  const std::vector<std::string>& all() const { return texts_; }

 private:
  std::vector<std::string> texts_;
  std::unordered_map<std::string, int32_t> index_;
};

struct PreferenceData {
  std::vector<User> users;
  TextTable texts;
  std::vector<Comparison> comparisons;
  std::string source;  ///< where it came from (a path, a generator with its seed); shown in errors and logs

  int32_t user_index(const std::string& id);       ///< interns a user id (new users start as seen)
  int32_t find_user(const std::string& id) const;  ///< -1 when absent

  /// Marks users without train comparisons as unseen. Readers call it after loading.
  void infer_seen();
  /// Throws ValueError naming `source` and the first bad comparison (row, field) if anything is inconsistent:
  /// out-of-range indices, labels outside [0,1], negative or non-finite weights, users without comparisons.
  void validate() const;

  std::vector<size_t> select(Split split, bool seen_users) const;  ///< comparison rows
  bool has_prompts() const;
  bool has_contexts() const;
  bool has_rationales() const;
  std::string summary() const;  ///< one human-readable paragraph
 private:
  std::unordered_map<std::string, int32_t> user_index_;
};

}  // namespace plural::core
