#include "core/data/persona_k.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/base/error.hpp"
#include "core/base/random.hpp"
#include "core/base/text_io.hpp"

namespace plural::core {

PersonaStatements read_persona_statements(const std::string& path) {
  LineReader reader(path);
  std::string line;
  PLURAL_CHECK(reader.next(line), path, ": empty file");
  PLURAL_CHECK(line == "behavior\tmatches\tlabel_confidence\tstatement", path,
               ":1: expected the header 'behavior, matches, label_confidence, statement' (tab-separated)");
  PersonaStatements out;
  std::map<std::string, int32_t> index;
  while (reader.next(line)) {
    auto f = split_tsv(line);
    PLURAL_CHECK(f.size() == 4, path, ":", reader.line_number(), ": expected 4 columns, got ", f.size());
    PLURAL_CHECK(f[1] == "0" || f[1] == "1", path, ":", reader.line_number(),
                 ": column 'matches': expected 0 or 1, got '", f[1], "'");
    auto it = index.find(f[0]);
    if (it == index.end()) {
      it = index.emplace(f[0], static_cast<int32_t>(out.behaviors.size())).first;
      out.behaviors.push_back(f[0]);
    }
    out.statements.push_back(
        {it->second, static_cast<int8_t>(f[1] == "1" ? 1 : -1), sanitize_utf8(tsv_unescape(f[3]))});
  }
  PLURAL_CHECK(!out.statements.empty(), path, ": no statements");
  return out;
}

void PersonaKConfig::validate() const {
  PLURAL_CHECK(prototypes >= 1, "PersonaKConfig: prototypes must be >= 1, got ", prototypes);
  PLURAL_CHECK(behavior_names.empty() ? behaviors >= 2 : behavior_names.size() >= 2,
               "PersonaKConfig: need at least 2 behaviours");
  PLURAL_CHECK(alpha >= 0, "PersonaKConfig: alpha must be >= 0 (0 = one prototype per user), got ", alpha);
  PLURAL_CHECK(statements_per_behavior >= 10, "PersonaKConfig: statements_per_behavior must be >= 10");
  PLURAL_CHECK(val_fraction >= 0 && test_fraction > 0 && val_fraction + test_fraction < 0.9,
               "PersonaKConfig: val_fraction + test_fraction must be < 0.9 with test_fraction > 0");
  PLURAL_CHECK(seen_users >= 1 && unseen_users >= 0, "PersonaKConfig: need >= 1 seen user and >= 0 unseen users");
  PLURAL_CHECK(train_pairs >= 1 && val_pairs >= 0 && test_pairs >= 1 && support_pairs >= 1,
               "PersonaKConfig: pair counts must be positive (val may be 0)");
  PLURAL_CHECK(noise_temperature >= 0, "PersonaKConfig: noise_temperature must be >= 0");
  PLURAL_CHECK(held_out_contexts >= 0 && held_out_contexts < prototypes,
               "PersonaKConfig: held_out_contexts must be in [0, ", prototypes - 1,
               "] (some prototype must remain for seen users), got ", held_out_contexts);
  PLURAL_CHECK(held_out_contexts == 0 || contexts, "PersonaKConfig: held_out_contexts needs contexts = true");
}

namespace {
// A behaviour file name in plain words: "believes-in-gun-rights" -> "believes in gun rights".
std::string behavior_words(std::string name) {
  std::replace(name.begin(), name.end(), '-', ' ');
  return name;
}
}  // namespace

std::string persona_context_text(const std::vector<std::string>& behaviors, const std::vector<int>& signs) {
  std::string out = "Traits: ";
  for (size_t d = 0; d < behaviors.size(); ++d)
    out += (d ? "; " : "") + behavior_words(behaviors[d]) + (signs[d] > 0 ? ": yes" : ": no");
  return out + ".";
}

std::string persona_rationale_text(const std::string& chosen, int chosen_stance, const std::string& other,
                                   int other_stance) {
  auto side = [](const std::string& name, int stance) {
    return std::string(stance > 0 ? "agrees with " : "disagrees with ") + behavior_words(name);
  };
  return "Preferred a statement that " + side(chosen, chosen_stance) + " over one that " + side(other, other_stance) +
         ".";
}

PersonaK generate_persona_k(const PersonaKConfig& cfg) {
  cfg.validate();
  PersonaStatements all = read_persona_statements(cfg.statements_path);
  Rng rng(cfg.seed);
  PersonaK out;

  // Behaviours: named, or D drawn at random.
  std::vector<int32_t> chosen;
  if (!cfg.behavior_names.empty()) {
    for (const auto& name : cfg.behavior_names) {
      auto it = std::find(all.behaviors.begin(), all.behaviors.end(), name);
      PLURAL_CHECK(it != all.behaviors.end(), "Persona-K: unknown behaviour '", name, "' (not in ", cfg.statements_path,
                   ")");
      chosen.push_back(static_cast<int32_t>(it - all.behaviors.begin()));
    }
  } else {
    PLURAL_CHECK(static_cast<size_t>(cfg.behaviors) <= all.behaviors.size(), "Persona-K: asked for ", cfg.behaviors,
                 " behaviours, the file has ", all.behaviors.size());
    std::vector<int32_t> ids(all.behaviors.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    rng.shuffle(ids);
    chosen.assign(ids.begin(), ids.begin() + cfg.behaviors);
    std::sort(chosen.begin(), chosen.end());
  }
  const size_t D = chosen.size(), K = static_cast<size_t>(cfg.prototypes);
  for (auto b : chosen) out.behaviors.push_back(all.behaviors[b]);

  // Prototypes: distinct random sign vectors over the D behaviours.
  while (out.prototypes.size() < K) {
    std::vector<int> s(D);
    for (auto& x : s) x = rng.uniform() < 0.5 ? -1 : 1;
    if (D >= 6 && std::find(out.prototypes.begin(), out.prototypes.end(), s) != out.prototypes.end()) continue;
    out.prototypes.push_back(s);
  }

  // Statement pools per split: [split][behaviour d] -> statement ids.
  std::vector<std::vector<size_t>> by_behavior(D);
  std::map<int32_t, size_t> pos;
  for (size_t d = 0; d < D; ++d) pos[chosen[d]] = d;
  for (size_t i = 0; i < all.statements.size(); ++i) {
    auto it = pos.find(all.statements[i].behavior);
    if (it != pos.end()) by_behavior[it->second].push_back(i);
  }
  enum { kTrain, kVal, kTest };
  std::vector<std::vector<std::vector<size_t>>> pool(3, std::vector<std::vector<size_t>>(D));
  for (size_t d = 0; d < D; ++d) {
    auto& ids = by_behavior[d];
    rng.shuffle(ids);
    ids.resize(std::min(ids.size(), static_cast<size_t>(cfg.statements_per_behavior)));
    size_t n = ids.size(), n_test = std::max<size_t>(1, size_t(std::round(n * cfg.test_fraction)));
    size_t n_val = cfg.val_fraction > 0 ? std::max<size_t>(1, size_t(std::round(n * cfg.val_fraction))) : 0;
    pool[kTest][d].assign(ids.begin(), ids.begin() + n_test);
    pool[kVal][d].assign(ids.begin() + n_test, ids.begin() + n_test + n_val);
    pool[kTrain][d].assign(ids.begin() + n_test + n_val, ids.end());
  }

  auto& data = out.data;
  data.source = detail::cat("persona-k(K*=", K, ", D=", D, ", alpha=", cfg.alpha, ", seed=", cfg.seed, ")");
  int32_t prompt = data.texts.intern(cfg.prompt);
  std::vector<int32_t> context_text;
  if (cfg.contexts)
    for (const auto& signs : out.prototypes) {
      out.contexts.push_back(persona_context_text(out.behaviors, signs));
      context_text.push_back(data.texts.intern(out.contexts.back()));
    }

  auto intern_statement = [&](size_t stmt, size_t d) {
    int32_t t = data.texts.intern(all.statements[stmt].text);
    if (static_cast<size_t>(t) >= out.text_behavior.size()) {
      out.text_behavior.resize(t + 1, -1);
      out.text_stance.resize(t + 1, 0);
    }
    out.text_behavior[t] = static_cast<int32_t>(d);
    out.text_stance[t] = all.statements[stmt].stance;
    return t;
  };
  auto reward = [&](const std::vector<double>& w, size_t stmt, size_t d) {
    double r = 0;
    for (size_t k = 0; k < K; ++k) r += w[k] * out.prototypes[k][d];
    return r * all.statements[stmt].stance;
  };
  auto draw_pairs = [&](int32_t user, const std::vector<double>& w, int which_pool, Split split, int count) {
    const int32_t context = cfg.contexts ? context_text[data.users[user].group] : -1;
    const auto& p = pool[which_pool];
    int made = 0, attempts = 0;
    while (made < count && attempts < count * 50) {
      ++attempts;
      size_t da = rng.index(D), db = rng.index(D - 1);
      if (db >= da) ++db;  // two different behaviours
      if (p[da].empty() || p[db].empty()) continue;
      size_t sa = p[da][rng.index(p[da].size())], sb = p[db][rng.index(p[db].size())];
      double delta = reward(w, sa, da) - reward(w, sb, db);
      if (std::abs(delta) < 1e-9) continue;  // ties carry no preference
      float label = delta > 0 ? 1.f : 0.f;
      if (cfg.noise_temperature > 0) {
        double prob = 1.0 / (1.0 + std::exp(-delta / cfg.noise_temperature));
        label = cfg.soft_labels ? static_cast<float>(prob) : (rng.uniform() < prob ? 1.f : 0.f);
      }
      Comparison c;
      c.user = user;
      c.prompt_a = c.prompt_b = prompt;
      c.a = intern_statement(sa, da);
      c.b = intern_statement(sb, db);
      c.label = label;
      c.context = context;
      if (cfg.rationales) {  // the label's side first (a noisy label's rationale follows the label)
        bool a_chosen = label >= 0.5f;
        size_t sc = a_chosen ? sa : sb, so = a_chosen ? sb : sa, dc = a_chosen ? da : db, dd = a_chosen ? db : da;
        c.rationale = data.texts.intern(persona_rationale_text(out.behaviors[dc], all.statements[sc].stance,
                                                               out.behaviors[dd], all.statements[so].stance));
      }
      c.split = split;
      data.comparisons.push_back(c);
      ++made;
    }
    PLURAL_CHECK(made == count, "Persona-K: could only draw ", made, " of ", count,
                 " non-tied pairs for a user; use alpha > 0 or more behaviours");
  };

  int n_users = cfg.seen_users + cfg.unseen_users;
  for (int u = 0; u < n_users; ++u) {
    bool seen = u < cfg.seen_users;
    std::vector<double> w(K, 0.0);
    // Seen users never have a held-out prototype as their dominant one.
    const size_t allowed = seen ? K - static_cast<size_t>(cfg.held_out_contexts) : K;
    if (cfg.alpha <= 0 || K == 1) {
      w[rng.index(allowed)] = 1.0;
    } else {
      do {
        w = rng.dirichlet(K, cfg.alpha);
      } while (static_cast<size_t>(std::max_element(w.begin(), w.end()) - w.begin()) >= allowed);
    }
    char id[32];
    std::snprintf(id, sizeof id, seen ? "seen-%04d" : "unseen-%04d", seen ? u : u - cfg.seen_users);
    int32_t user = data.user_index(id);
    data.users[user].seen = seen;
    data.users[user].group = static_cast<int32_t>(std::max_element(w.begin(), w.end()) - w.begin());
    out.weights.push_back(w);
    if (seen) {
      draw_pairs(user, w, kTrain, Split::train, cfg.train_pairs);
      if (cfg.val_pairs > 0) draw_pairs(user, w, kVal, Split::val, cfg.val_pairs);
      draw_pairs(user, w, kTest, Split::test, cfg.test_pairs);
    } else {
      draw_pairs(user, w, kTrain, Split::support, cfg.support_pairs);
      draw_pairs(user, w, kTest, Split::test, cfg.test_pairs);
    }
  }
  out.text_behavior.resize(data.texts.size(), -1);
  out.text_stance.resize(data.texts.size(), 0);
  data.validate();
  return out;
}

}  // namespace plural::core
