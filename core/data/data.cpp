#include "core/data/data.hpp"

#include <cmath>
#include <sstream>

#include "core/base/error.hpp"

namespace plural::core {

const char* split_name(Split s) {
  switch (s) {
    case Split::train:
      return "train";
    case Split::val:
      return "val";
    case Split::test:
      return "test";
    case Split::support:
      return "support";
  }
  return "?";
}

Split parse_split(const std::string& name, const std::string& where) {
  if (name == "train") return Split::train;
  if (name == "val" || name == "valid" || name == "validation") return Split::val;
  if (name == "test") return Split::test;
  if (name == "support" || name == "fewshot") return Split::support;
  throw ValueError(detail::cat(where, ": field 'split' must be train, val, test or support, got '", name, "'"));
}

int32_t TextTable::intern(const std::string& text) {
  auto it = index_.find(text);
  if (it != index_.end()) return it->second;
  auto id = static_cast<int32_t>(texts_.size());
  texts_.push_back(text);
  index_.emplace(text, id);
  return id;
}

int32_t TextTable::find(const std::string& text) const {
  auto it = index_.find(text);
  return it == index_.end() ? -1 : it->second;
}

int32_t PreferenceData::user_index(const std::string& id) {
  auto it = user_index_.find(id);
  if (it != user_index_.end()) return it->second;
  auto idx = static_cast<int32_t>(users.size());
  users.push_back(User{id, true, -1});
  user_index_.emplace(id, idx);
  return idx;
}

int32_t PreferenceData::find_user(const std::string& id) const {
  auto it = user_index_.find(id);
  if (it != user_index_.end()) return it->second;
  // Data built by hand (users pushed directly) has no index yet.
  for (size_t i = 0; i < users.size(); ++i)
    if (users[i].id == id) return static_cast<int32_t>(i);
  return -1;
}

void PreferenceData::infer_seen() {
  std::vector<char> has_train(users.size(), 0);
  for (const auto& c : comparisons)
    if (c.split == Split::train && c.user >= 0 && static_cast<size_t>(c.user) < users.size()) has_train[c.user] = 1;
  for (size_t u = 0; u < users.size(); ++u) users[u].seen = has_train[u] != 0;
}

void PreferenceData::validate() const {
  const auto n_users = static_cast<int64_t>(users.size());
  const auto n_texts = static_cast<int64_t>(texts.size());
  std::vector<int64_t> per_user(users.size(), 0);
  auto text_ok = [&](int32_t t, bool optional) { return (optional && t == -1) || (t >= 0 && t < n_texts); };
  for (size_t i = 0; i < comparisons.size(); ++i) {
    const auto& c = comparisons[i];
    auto where = [&](const char* field) { return detail::cat(source, ": comparison ", i, ", field '", field, "'"); };
    PLURAL_CHECK(c.user >= 0 && c.user < n_users, where("user"), ": index ", c.user, " outside [0, ", n_users, ")");
    PLURAL_CHECK(text_ok(c.a, false), where("a"), ": unknown text index ", c.a, " (", n_texts, " texts)");
    PLURAL_CHECK(text_ok(c.b, false), where("b"), ": unknown text index ", c.b, " (", n_texts, " texts)");
    PLURAL_CHECK(text_ok(c.prompt_a, true), where("prompt"), ": unknown text index ", c.prompt_a);
    PLURAL_CHECK(text_ok(c.prompt_b, true), where("prompt_b"), ": unknown text index ", c.prompt_b);
    PLURAL_CHECK((c.prompt_a == -1) == (c.prompt_b == -1), where("prompt_b"), ": both prompts or neither");
    PLURAL_CHECK(text_ok(c.context, true), where("context"), ": unknown text index ", c.context);
    PLURAL_CHECK(text_ok(c.rationale, true), where("rationale"), ": unknown text index ", c.rationale);
    PLURAL_CHECK(std::isfinite(c.label) && c.label >= 0.f && c.label <= 1.f, where("label"),
                 ": must be a probability in [0, 1], got ", c.label);
    PLURAL_CHECK(std::isfinite(c.weight) && c.weight >= 0.f, where("weight"), ": must be finite and >= 0, got ",
                 c.weight);
    PLURAL_CHECK(std::isfinite(c.margin), where("margin"), ": must be finite, got ", c.margin);
    PLURAL_CHECK(static_cast<int>(c.split) <= 3, where("split"), ": unknown split code ", static_cast<int>(c.split));
    ++per_user[c.user];
  }
  for (size_t u = 0; u < users.size(); ++u)
    PLURAL_CHECK(per_user[u] > 0, source, ": user '", users[u].id, "' (index ", u, ") has no comparisons");
}

std::vector<size_t> PreferenceData::select(Split split, bool seen_users) const {
  std::vector<size_t> rows;
  for (size_t i = 0; i < comparisons.size(); ++i) {
    const auto& c = comparisons[i];
    if (c.split == split && users[c.user].seen == seen_users) rows.push_back(i);
  }
  return rows;
}

bool PreferenceData::has_prompts() const {
  for (const auto& c : comparisons)
    if (c.prompt_a >= 0) return true;
  return false;
}

bool PreferenceData::has_contexts() const {
  for (const auto& c : comparisons)
    if (c.context >= 0) return true;
  return false;
}

bool PreferenceData::has_rationales() const {
  for (const auto& c : comparisons)
    if (c.rationale >= 0) return true;
  return false;
}

std::string PreferenceData::summary() const {
  size_t seen = 0, counts[4] = {0, 0, 0, 0}, soft = 0, why = 0;
  for (const auto& u : users) seen += u.seen;
  for (const auto& c : comparisons) {
    ++counts[static_cast<int>(c.split)];
    soft += (c.label != 0.f && c.label != 1.f);
    why += c.rationale >= 0;
  }
  std::ostringstream os;
  os << source << ": " << users.size() << " users (" << seen << " seen, " << users.size() - seen << " unseen), "
     << texts.size() << " texts, " << comparisons.size() << " comparisons (train " << counts[0] << ", val " << counts[1]
     << ", test " << counts[2] << ", support " << counts[3] << "; " << soft << " soft labels";
  if (why > 0) os << ", " << why << " with rationales";
  os << ")";
  return os.str();
}

}  // namespace plural::core
