#pragma once
// A UserState as JSON text, the form the user store keeps (readable with the sqlite3 tool, exact for float32).
#include <string>

#include "core/model.hpp"

namespace plural::apps {

std::string state_to_json(const core::UserState& state);
/// `where` names the record in messages (a corrupt row is an IoError naming it).
core::UserState state_from_json(const std::string& text, const std::string& where);

}  // namespace plural::apps
