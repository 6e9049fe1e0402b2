#pragma once
// Persona-K: synthetic pluralistic users over the Anthropic persona statements (docs/persona_k.md).
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/data.hpp"

namespace plural::core {

struct PersonaStatement {
  int32_t behavior = 0;  ///< index into the behaviour list of the file
  int8_t stance = 1;     ///< +1 when a person with the trait would say it, else -1
  std::string text;
};

struct PersonaStatements {
  std::vector<std::string> behaviors;  ///< sorted behaviour names
  std::vector<PersonaStatement> statements;
};
/// Reads data/persona/statements.tsv.gz (or the plain TSV).
PersonaStatements read_persona_statements(const std::string& path);

struct PersonaKConfig {
  std::string statements_path = "data/persona/statements.tsv.gz";
  int behaviors = 12;                       ///< D, chosen at random unless behavior_names is given
  std::vector<std::string> behavior_names;  ///< explicit behaviours (overrides `behaviors`)
  int prototypes = 3;                       ///< K*
  double alpha = 0.2;                       ///< Dirichlet concentration of user mixtures; 0 = exactly one prototype
  int statements_per_behavior = 1000;       ///< statements drawn per behaviour (most files have 1,000)
  double val_fraction = 0.1, test_fraction = 0.2;  ///< of each behaviour's statements
  int seen_users = 100, unseen_users = 40;
  int train_pairs = 300, val_pairs = 20, test_pairs = 50, support_pairs = 50;  ///< per user
  double noise_temperature = 0.0;  ///< > 0: label ~ Bernoulli(sigmoid(Δr / T)) instead of the sign of Δr
  bool soft_labels = false;        ///< with noise: store sigmoid(Δr / T) itself as the label
  std::string prompt = "Which of these two statements would you rather say?";
  /// Persona-C: every comparison carries, as its context, a plain-words description of its user's dominant
  /// prototype ("Traits: believes in gun rights: yes; agreeableness: no; …").
  bool contexts = false;
  /// Persona-C: the last this-many prototypes are held out: no seen user has one as dominant prototype, so their
  /// contexts appear only with unseen users (zero-shot contexts).
  int held_out_contexts = 0;
  /// Every comparison carries a rationale built from the truth: the behaviour and stance of the preferred
  /// statement and of the other one (persona_rationale_text). For measuring what rationales add in training.
  bool rationales = false;
  uint64_t seed = 0;
  void validate() const;
};

struct PersonaK {
  PreferenceData data;
  std::vector<std::string> behaviors;        ///< the D chosen behaviours
  std::vector<std::vector<int>> prototypes;  ///< [K*][D] signs
  std::vector<std::vector<double>> weights;  ///< [users][K*] true mixture weights, data.users order
  /// Ground truth per text (data.texts order): index into `behaviors` and stance ±1; -1 and 0 for the prompt.
  std::vector<int32_t> text_behavior;
  std::vector<int8_t> text_stance;
  std::vector<std::string> contexts;  ///< [K*] each prototype's context text (Persona-C), else empty
};

/// The plain-words description of a prototype: its behaviours' names with '-' read as spaces, "yes" or "no" each.
std::string persona_context_text(const std::vector<std::string>& behaviors, const std::vector<int>& signs);

/// Why a statement of behaviour `chosen` (stance ±1) was preferred to one of `other`: "Preferred a statement that
/// agrees with <behaviour words> over one that disagrees with <behaviour words>."
std::string persona_rationale_text(const std::string& chosen, int chosen_stance, const std::string& other,
                                   int other_stance);

PersonaK generate_persona_k(const PersonaKConfig& cfg);

}  // namespace plural::core
