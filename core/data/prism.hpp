#pragma once
// PRISM (Kirk et al., 2024; huggingface.co/datasets/HannahRoseKirk/prism-alignment, CC BY-NC 4.0): 1,500
// participants rated each model response of their live conversations on a 1–100 scale. Within a turn every
// response answers the same user message, so two responses with different scores are one pairwise comparison by that
// participant (the higher score is chosen). Read from conversations.jsonl; survey.jsonl optionally supplies each
// participant's answers as the comparisons' context (docs/data_format.md, "PRISM").
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/data.hpp"

namespace plural::core {

struct PrismOptions {
  std::string survey;                       ///< survey.jsonl (needed only for context_fields)
  std::vector<std::string> context_fields;  ///< survey fields ("age", "location.reside_country") -> context text
  bool history = false;    ///< the prompt is the conversation so far (earlier turns with their chosen responses)
  bool keep_ties = false;  ///< equal scores as label 0.5 (default: left out, as the PRISM paper's pairs do)
};

struct PrismCounts {
  int64_t conversations = 0, turns = 0, pairs = 0;
  int64_t ties = 0;                   ///< pairs with equal scores (left out unless keep_ties)
  int64_t single_response_turns = 0;  ///< turns with fewer than two rated responses: nothing to compare
};

PreferenceData read_prism(const std::string& conversations_path, const PrismOptions& options = {},
                          PrismCounts* counts = nullptr);

}  // namespace plural::core
