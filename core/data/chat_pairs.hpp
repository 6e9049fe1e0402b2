#pragma once
// Pairwise preference files in the formats of the RLHF ecosystem (docs/data_format.md, "RLHF formats"), one JSON
// record per line, read into plural's comparisons (prompt, chosen response, rejected response):
//  - HH-RLHF: "chosen" / "rejected" strings holding the whole conversation ("\n\nHuman: …\n\nAssistant: …"); the
//    prompt is their shared prefix up to the last "\n\nAssistant:" in it, the responses what follows;
//  - TRL's standard format: "prompt", "chosen", "rejected" strings;
//  - TRL's conversational format and UltraFeedback-binarized: "chosen" / "rejected" as lists of {"role", "content"}
//    messages ending with the assistant's response, with an explicit "prompt" (a string or messages) or an implicit
//    one (the messages the two lists share).
// These files rarely name a user: give one for all (`user`) or the field that holds it (`user_field`).
#include <string>
#include <vector>

#include "core/data/data.hpp"

namespace plural::core {

struct ChatPairsOptions {
  std::string user;            ///< the user of every comparison ("" = read from user_field)
  std::string user_field;      ///< the record field holding the user id ("" = "user")
  bool skip_unusable = false;  ///< skip (and list) records whose responses are equal or empty, instead of failing
};

/// `skipped` (with skip_unusable): "file:line: why" of each record left out.
PreferenceData read_chat_pairs(const std::string& path, const ChatPairsOptions& options = {},
                               std::vector<std::string>* skipped = nullptr);

}  // namespace plural::core
