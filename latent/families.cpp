#include "latent/families.hpp"

namespace plural::latent {

std::vector<core::FamilyRecord> families() { return {vpl_family(), context_family(), cross_attention_family()}; }

}  // namespace plural::latent
