#pragma once
// The mixture families' records (core/family.hpp): PAL-A, PAL-B and LoRe, sharing the Newton and AdamW adapters.
#include <vector>

#include "core/family.hpp"

namespace plural::mixture {

core::FamilyRecord pal_a_family();
core::FamilyRecord pal_b_family();
core::FamilyRecord lore_family();
core::FamilyRecord pal_h_family();
/// Every family of this folder: a new one is added here (core/session registers each folder's list).
std::vector<core::FamilyRecord> families();
/// Newton on the user's K simplex logits with a Laplace covariance (default), and the original's AdamW steps.
std::vector<core::AdapterRecord> mixture_adapters();
/// Newton on a pal-h user's mixture logits and deviation together, with their joint Laplace covariance.
std::vector<core::AdapterRecord> pal_h_adapters();

}  // namespace plural::mixture
