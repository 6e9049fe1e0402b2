#include "core/session/builtin_families.hpp"

#include <mutex>

#include "core/bt/bt.hpp"
#include "core/family.hpp"
#include "latent/families.hpp"
#include "mixture/families.hpp"

namespace plural::core {

void register_builtin_families() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (auto folder : {bt_families, mixture::families, latent::families})
      for (auto& record : folder()) register_family(std::move(record));
  });
}

namespace {
// A shared library (or an executable linking these objects) has the families before main; a static link that uses
// the session gets them from its calls.
const bool registered = (register_builtin_families(), true);
}  // namespace

}  // namespace plural::core
