#include "mixture/families.hpp"

namespace plural::mixture {

std::vector<core::FamilyRecord> families() { return {pal_a_family(), pal_b_family(), lore_family(), pal_h_family()}; }

}  // namespace plural::mixture
