#include "apps/serve/service.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <iostream>
#include <set>
#include <tuple>

#include "apps/serve/state_json.hpp"
#include "core/base/error.hpp"

namespace plural::apps {

using core::TextComparison;
using core::UserState;
using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& message) { throw HttpError(400, message); }

void require_object(const json& j, const std::string& what) {
  if (!j.is_object()) bad(what + ": expected a JSON object, got " + std::string(j.type_name()));
}

/// `obj[name]` as a string of at most `max_chars`; "" when absent and not `required`.
std::string text_field(const json& obj, const std::string& name, const std::string& where, bool required,
                       size_t max_chars) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    if (required) bad(where + name + ": missing");
    return {};
  }
  if (!it->is_string()) bad(where + name + ": expected a string, got " + std::string(it->type_name()));
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max_chars)
    throw HttpError(
        413, where + name + ": " + std::to_string(s.size()) + " characters, at most " + std::to_string(max_chars));
  return s;
}

/// A list of strings; entries may be numbers (OpenRLHF labels often are) or null ("") when `lenient`.
std::vector<std::string> text_list(const json& obj, const std::string& name, bool required, size_t max_items,
                                   size_t max_chars, bool lenient = false) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    if (required) bad(name + ": missing");
    return {};
  }
  if (!it->is_array()) bad(name + ": expected a list, got " + std::string(it->type_name()));
  if (it->size() > max_items)
    throw HttpError(413, name + ": " + std::to_string(it->size()) + " entries, at most " + std::to_string(max_items));
  std::vector<std::string> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& v = (*it)[i];
    const std::string at = name + "[" + std::to_string(i) + "]";
    if (v.is_string()) {
      if (v.get_ref<const std::string&>().size() > max_chars)
        throw HttpError(413, at + ": longer than " + std::to_string(max_chars) + " characters");
      out.push_back(v.get<std::string>());
    } else if (lenient && v.is_null()) {
      out.emplace_back();
    } else if (lenient && v.is_number_integer()) {
      out.push_back(v.dump());
    } else {
      bad(at + ": expected a string, got " + std::string(v.type_name()));
    }
  }
  return out;
}

double number_field(const json& obj, const std::string& name, const std::string& where, double fallback, double lo,
                    double hi) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_number()) bad(where + name + ": expected a number, got " + std::string(it->type_name()));
  double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi)
    bad(where + name + ": " + it->dump() + " is outside [" + json(lo).dump() + ", " + json(hi).dump() + "]");
  return v;
}

/// Runs `fn`, turning a ValueError from the session (a prompt the model needs, a foreign state) into a 400 that
/// says which part of the request it concerns.
template <typename Fn>
auto as_request_error(const std::string& where, Fn&& fn) {
  try {
    return fn();
  } catch (const ValueError& e) {
    bad(where + e.what());
  }
}

std::string response_of(const std::string& query, const std::string& prompt) {
  if (prompt.empty() || query.compare(0, prompt.size(), prompt) != 0) return query;
  size_t start = prompt.size();
  while (start < query.size() && std::isspace(static_cast<unsigned char>(query[start]))) ++start;
  return start < query.size() ? query.substr(start) : query;
}

std::vector<std::string> texts_of(const std::vector<TextComparison>& pairs) {
  std::vector<std::string> out;
  for (const auto& p : pairs) out.insert(out.end(), {p.prompt, p.chosen, p.rejected});
  return out;
}

std::vector<double> to_vector(const torch::Tensor& t) {
  auto flat = t.detach().to(torch::kCPU, torch::kDouble).contiguous().view(-1);
  return {flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel()};
}

}  // namespace

void PreferenceService::check_user_id(const std::string& id, const std::string& field) {
  bool ok = !id.empty() && id.size() <= 128;
  for (char c : id) ok = ok && c != '\0' && (std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_.-@:", c));
  if (!ok) bad(field + ": a user id is 1-128 letters, digits or _.-@: (got " + json(id.substr(0, 140)).dump() + ")");
}

PreferenceService::PreferenceService(core::Personalizer& session, UserStore& store, ServiceOptions options)
    : session_(session),
      store_(store),
      options_(std::move(options)),
      encoder_batch_(
          [this](const std::vector<std::string>& texts) {
            std::lock_guard<std::mutex> lock(mu_);
            return session_.feature_source().uncached(texts);
          },
          [this](const std::vector<std::string>& batch) {
            auto rows = session_.feature_source().encode(batch);  // the slow part, while others are served
            std::lock_guard<std::mutex> lock(mu_);
            session_.feature_source().store(batch, rows);
          }) {
  readapt_stale_users();
}

void PreferenceService::encode_missing(const std::vector<std::string>& texts) {
  std::vector<std::string> nonempty;
  for (const auto& t : texts)
    if (!t.empty()) nonempty.push_back(t);
  as_request_error("", [&] {
    encoder_batch_.ensure(nonempty);
    return 0;
  });
}

void PreferenceService::readapt_stale_users() {
  const std::string want = session_.model().model_id() + ":" + session_.model().weights_id();
  const std::string have = store_.meta("model");
  if (have == want) return;
  std::vector<std::pair<std::string, std::string>> states;
  for (const auto& user : store_.users()) {
    auto stored = store_.load(user);
    states.emplace_back(user, state_to_json(session_.adapt(user, stored->answers)));
  }
  store_.replace_states(states);
  store_.set_meta("model", want);
  if (!states.empty())
    std::cerr << "plural serve: the model changed; re-adapted " << states.size()
              << " stored users from their answers\n";
}

PreferenceService::Known PreferenceService::lookup(const std::string& user, bool must_exist) {
  if (auto it = cache_.find(user); it != cache_.end()) return it->second;
  if (auto stored = store_.load(user)) {
    Known k{state_from_json(stored->state_json, "stored user '" + user + "'"),
            static_cast<int64_t>(stored->answers.size()), true};
    return cache_[user] = k;
  }
  if (session_.model().user_row(user) >= 0) return {session_.seen_user(user), -1, false};
  if (must_exist)
    throw HttpError(404, "unknown user '" + user + "': no stored answers and not a user the model was trained on");
  UserState prior = session_.model().prior_state();
  prior.user_id = user;
  return {prior, 0, false};
}

UserState PreferenceService::state_for(const std::string& user) {
  return user.empty() ? session_.model().prior_state() : lookup(user, true).state;
}

json PreferenceService::describe(const std::string& user, const Known& k) {
  json j = {{"user", user},
            {"answers", std::max<int64_t>(k.answers, 0)},
            {"stored", k.stored},
            {"seen_in_training", k.answers < 0},
            {"family", k.state.family}};
  auto emb = session_.user_embedding(k.state);
  j["embedding"] = {{"kind", core::embedding_kind_name(emb.kind)},
                    {"values", emb.values.defined() ? to_vector(emb.values) : std::vector<double>{}}};
  // How sure the model is: the posterior's standard deviations of the state's free parameters.
  json sd = nullptr;
  if (auto c = k.state.tensors.find("cov"); c != k.state.tensors.end() && c->second.dim() == 2)
    sd = to_vector(c->second.diagonal().clamp_min(0).sqrt());
  else if (auto s = k.state.tensors.find("sigma"); s != k.state.tensors.end())
    sd = to_vector(s->second);
  j["posterior_sd"] = sd;
  j["state"] = json::parse(state_to_json(k.state));
  return j;
}

json PreferenceService::get_reward(const json& req) {
  require_object(req, "body");
  const auto& L = options_.limits;
  auto queries = text_list(req, "query", true, L.max_texts, L.max_text_chars);
  auto prompts = text_list(req, "prompts", false, L.max_texts, L.max_text_chars);
  auto labels = text_list(req, "labels", false, L.max_texts, 128, /*lenient=*/true);
  if (prompts.empty()) prompts.resize(queries.size());
  if (labels.empty()) labels.resize(queries.size());
  if (prompts.size() != queries.size() || labels.size() != queries.size())
    bad("query, prompts and labels must have one entry each: " + std::to_string(queries.size()) + ", " +
        std::to_string(prompts.size()) + ", " + std::to_string(labels.size()));
  for (size_t i = 0; i < labels.size(); ++i)
    if (!labels[i].empty()) check_user_id(labels[i], "labels[" + std::to_string(i) + "]");

  // One model call per (user, prompt): an RLHF batch is a few prompts with several samples each.
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < queries.size(); ++i) groups[{labels[i], prompts[i]}].push_back(i);
  std::vector<std::string> response(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) response[i] = response_of(queries[i], prompts[i]);
  std::vector<std::string> texts = prompts;
  texts.insert(texts.end(), response.begin(), response.end());
  encode_missing(texts);
  std::vector<double> rewards(queries.size());
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, rows] : groups) {
    const std::string at = "query[" + std::to_string(rows.front()) + "]: ";
    UserState state = state_for(key.first);
    std::vector<std::string> responses;
    for (size_t i : rows) responses.push_back(response[i]);
    auto r = as_request_error(at, [&] { return session_.rewards(state, key.second, responses); });
    for (size_t j = 0; j < rows.size(); ++j) rewards[rows[j]] = r[j];
  }
  return {{"rewards", rewards}, {"scores", rewards}};
}

json PreferenceService::reward(const json& req) {
  require_object(req, "body");
  const auto& L = options_.limits;
  auto texts = text_list(req, "texts", true, L.max_texts, L.max_text_chars);
  auto prompt = text_field(req, "prompt", "", false, L.max_text_chars);
  auto user = text_field(req, "user", "", false, 128);
  texts.push_back(prompt);
  encode_missing(texts);
  texts.pop_back();
  std::lock_guard<std::mutex> lock(mu_);
  UserState state;
  if (req.contains("state") && !req["state"].is_null()) {
    require_object(req["state"], "state");
    state = state_from_json(req["state"].dump(), "state");
  } else {
    if (!user.empty()) check_user_id(user, "user");
    state = state_for(user);
  }
  auto r = as_request_error("", [&] { return session_.rewards(state, prompt, texts); });
  return {{"rewards", r}, {"user", user}};
}

json PreferenceService::prefer(const json& req) {
  require_object(req, "body");
  const auto& L = options_.limits;
  auto a = text_field(req, "a", "", true, L.max_text_chars);
  auto b = text_field(req, "b", "", true, L.max_text_chars);
  auto prompt = text_field(req, "prompt", "", false, L.max_text_chars);
  auto user = text_field(req, "user", "", false, 128);
  if (!user.empty()) check_user_id(user, "user");
  encode_missing({a, b, prompt});
  std::lock_guard<std::mutex> lock(mu_);
  UserState state = state_for(user);
  double p = as_request_error("", [&] { return session_.prefer(state, prompt, a, b); });
  return {{"p_a", p}, {"user", user}};
}

json PreferenceService::add_answers(const std::string& user, const json& req) {
  check_user_id(user, "user");
  require_object(req, "body");
  const auto& L = options_.limits;
  auto it = req.find("answers");
  if (it == req.end() || !it->is_array() || it->empty()) bad("answers: expected a non-empty list of answers");
  if (it->size() > L.max_answers)
    throw HttpError(413, "answers: " + std::to_string(it->size()) + " entries, at most " +
                             std::to_string(L.max_answers) + " per request");
  std::vector<TextComparison> fresh;
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string at = "answers[" + std::to_string(i) + "].";
    const auto& a = (*it)[i];
    require_object(a, "answers[" + std::to_string(i) + "]");
    TextComparison c;
    c.prompt = text_field(a, "prompt", at, false, L.max_text_chars);
    c.chosen = text_field(a, "chosen", at, true, L.max_text_chars);
    c.rejected = text_field(a, "rejected", at, true, L.max_text_chars);
    c.p_chosen = number_field(a, "p_chosen", at, 1.0, 0.0, 1.0);
    c.weight = number_field(a, "weight", at, 1.0, 1e-6, 1e6);
    if (c.chosen == c.rejected) bad(at + "rejected: the same text as chosen");
    fresh.push_back(std::move(c));
  }
  encode_missing(texts_of(fresh));
  std::lock_guard<std::mutex> lock(mu_);
  auto stored = store_.load(user);
  std::vector<TextComparison> all = stored ? stored->answers : std::vector<TextComparison>{};
  if (all.size() + fresh.size() > L.max_stored_answers)
    throw HttpError(
        413, "answers: user '" + user + "' would have more than " + std::to_string(L.max_stored_answers) + " answers");
  all.insert(all.end(), fresh.begin(), fresh.end());
  UserState state = as_request_error("answers: ", [&] { return session_.adapt(user, all); });
  store_.commit(user, fresh, state_to_json(state));  // durable before the reply
  Known k{state, static_cast<int64_t>(all.size()), true};
  cache_[user] = k;
  return describe(user, k);
}

json PreferenceService::get_user(const std::string& user) {
  check_user_id(user, "user");
  std::lock_guard<std::mutex> lock(mu_);
  return describe(user, lookup(user, true));
}

json PreferenceService::delete_user(const std::string& user) {
  check_user_id(user, "user");
  std::lock_guard<std::mutex> lock(mu_);
  cache_.erase(user);
  if (!store_.remove(user)) throw HttpError(404, "unknown user '" + user + "': nothing stored");
  return {{"deleted", user}};
}

json PreferenceService::next(const std::string& user, const json& req) {
  check_user_id(user, "user");
  require_object(req, "body");
  const auto& L = options_.limits;
  std::vector<TextComparison> pool;
  if (auto it = req.find("candidates"); it != req.end() && !it->is_null()) {
    if (!it->is_array()) bad("candidates: expected a list of {a, b, prompt?}");
    if (it->size() > L.max_candidates)
      throw HttpError(
          413, "candidates: " + std::to_string(it->size()) + " pairs, at most " + std::to_string(L.max_candidates));
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string at = "candidates[" + std::to_string(i) + "].";
      require_object((*it)[i], "candidates[" + std::to_string(i) + "]");
      pool.push_back({text_field((*it)[i], "prompt", at, false, L.max_text_chars),
                      text_field((*it)[i], "a", at, true, L.max_text_chars),
                      text_field((*it)[i], "b", at, true, L.max_text_chars)});
    }
  } else {
    pool = options_.candidates;
  }
  if (pool.empty()) bad("candidates: none given, and the server was started without --candidates");
  const auto n = static_cast<int64_t>(number_field(req, "n", "", 1, 1, static_cast<double>(L.max_next)));
  const std::string scorer = req.contains("scorer") ? text_field(req, "scorer", "", true, 32) : options_.scorer;

  encode_missing(texts_of(pool));
  std::lock_guard<std::mutex> lock(mu_);
  Known k = lookup(user, false);
  std::set<std::tuple<std::string, std::string, std::string>> answered;  // prompt and the unordered pair
  if (auto stored = store_.load(user))
    for (const auto& a : stored->answers) {
      auto [lo, hi] = std::minmax(a.chosen, a.rejected);
      answered.insert({a.prompt, lo, hi});
    }
  std::vector<size_t> rows;
  std::vector<TextComparison> open;
  for (size_t i = 0; i < pool.size(); ++i) {
    auto [lo, hi] = std::minmax(pool[i].chosen, pool[i].rejected);
    if (answered.count({pool[i].prompt, lo, hi})) continue;
    rows.push_back(i);
    open.push_back(pool[i]);
  }
  json out = {{"user", user},        {"answers", std::max<int64_t>(k.answers, 0)},
              {"scorer", scorer},    {"candidates", pool.size()},
              {"open", open.size()}, {"pairs", json::array()}};
  if (open.empty()) {
    out["expected_gain"] = 0.0;
    out["done"] = true;
    return out;
  }
  auto ranking = as_request_error("", [&] {
    return session_.query(k.state, session_.pairs(open), scorer, n, static_cast<uint64_t>(k.answers + 1));
  });
  for (size_t r = 0; r < ranking.order.size(); ++r) {
    const auto i = ranking.order[r];
    out["pairs"].push_back({{"candidate", rows[i]},
                            {"prompt", open[i].prompt},
                            {"a", open[i].chosen},
                            {"b", open[i].rejected},
                            {"score", ranking.scores[i].item<double>()},
                            {"gain", ranking.gain[r]},
                            {"p_a", ranking.p_a[i].item<double>()}});
  }
  const double gain = ranking.order.empty() ? 0.0 : ranking.gain.front();  // none chosen: nothing worth asking
  out["expected_gain"] = gain;
  out["done"] = gain < options_.done_below;
  return out;
}

}  // namespace plural::apps
