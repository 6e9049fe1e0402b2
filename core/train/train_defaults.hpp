#pragma once
// Training defaults per model family, chosen by measurement (docs/pal.md, bench/RESULTS.md): what `plural train`
// and `plural-bench` use unless told otherwise.
#include <string>

#include "core/family.hpp"
#include "core/train/trainer.hpp"

namespace plural::core {

/// The TrainConfig a family trains best with on the bundled benchmarks: its record's TrainingDefaults
/// (core/family.hpp).
TrainConfig default_train_config(const std::string& family);
/// The model config (JSON) a family is benchmarked with for `k` prototypes / latent size (k <= 0: its default).
std::string default_model_config(const std::string& family, int k);
/// The shape of `view`'s training data (core/family.hpp).
DataShape data_shape(const DatasetView& view);
/// `config_json` over the family's data-dependent defaults for `view` (docs/real_data.md, "Defaults follow the
/// data"): a key the config gives is kept as given.
std::string config_for_data(const std::string& family, const DatasetView& view, const std::string& config_json);

}  // namespace plural::core
