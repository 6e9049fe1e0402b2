#pragma once
// The latent families' records (core/family.hpp): VPL, the context-conditioned model and PPD-style cross-attention.
#include <vector>

#include "core/family.hpp"

namespace plural::latent {

core::FamilyRecord vpl_family();
core::FamilyRecord context_family();
core::FamilyRecord cross_attention_family();
/// Every family of this folder: a new one is added here (core/session registers each folder's list).
std::vector<core::FamilyRecord> families();

}  // namespace plural::latent
