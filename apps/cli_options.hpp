#pragma once
// Options shared by the `plural` tool and `plural-bench`.
#include <cstdint>
#include <string>
#include <vector>

namespace plural::apps {

/// Options every command shares.
struct Common {
  int threads = 0;  ///< 0 = all cores
};

/// Bounds every count a list option may hold (shots, K, pairs, batch sizes): sizes are checked before allocation.
constexpr int64_t kMaxListValue = 1000000;
/// Parses "0,1,2,5" into integers, each in [lo, hi]; throws ValueError naming `option` otherwise.
std::vector<int64_t> parse_int_list(const std::string& s, const std::string& option, int64_t lo = 0,
                                    int64_t hi = kMaxListValue);
/// Splits "a,b,c" (empty items dropped).
std::vector<std::string> split_list(const std::string& s);
/// The folder holding data/, scripts/ and models/: the package folder of a pip-installed plural (the tool is
/// plural/bin/plural there), else the source tree this build came from.
std::string resource_dir();
/// A path inside the bundled data/ folder, so the bundled datasets import from any working directory:
/// $PLURAL_DATA_DIR/`relative` when that variable is set, else resource_dir()/data/`relative`.
std::string bundled_data(const std::string& relative);
/// Points $PLURAL_MODELS at resource_dir()/models when it is unset and ./models has no encoder weights, so an
/// installed tool finds the weights that shipped with it, from any working directory.
void default_models_dir();

}  // namespace plural::apps
