#pragma once
// The latent families' records (core/family.hpp): VPL, the context-conditioned model and PPD-style cross-attention.
#include "core/family.hpp"

namespace plural::latent {

core::FamilyRecord vpl_family();
core::FamilyRecord context_family();
core::FamilyRecord cross_attention_family();

}  // namespace plural::latent
