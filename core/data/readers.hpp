#pragma once
// Readers and writers of preference data. Schemas: docs/data_format.md.
#include <string>
#include <vector>

#include "core/data/data.hpp"

namespace plural::core {

/// JSON Lines, one comparison per line: {"user", "prompt"?, "chosen", "rejected"} or {"user", "prompt"?, "a", "b",
/// "label"}, plus optional "prompt_b", "context", "weight", "margin", "rationale", "split". Errors name the file, line
/// and field.
PreferenceData read_jsonl(const std::string& path);
/// `unlabelled`: pairs to ask about rather than answers — `user` and `label` are optional (label 0.5).
PreferenceData read_jsonl(const std::string& path, bool unlabelled);
/// A pool of candidate pairs for `plural query` (JSON Lines: `a`, `b`, optional `prompt`, `prompt_b`, `context`;
/// labels are ignored).
PreferenceData read_candidates(const std::string& path);
/// The same schema from JSON objects already in memory (one string each, e.g. from Python); errors name `source`
/// and the 1-based record number as a line.
PreferenceData parse_jsonl_records(const std::vector<std::string>& records, const std::string& source,
                                   bool unlabelled = false);
/// TSV with a header naming the same fields as columns.
PreferenceData read_tsv(const std::string& path);
/// Our HDF5 layout (see write_h5).
PreferenceData read_h5(const std::string& path);
/// Writes the HDF5 layout atomically: a failed write leaves any existing file at `path` untouched.
void write_h5(const PreferenceData& data, const std::string& path);
/// Writes the JSON Lines schema above, one comparison per line ({"user", "prompt"?, "a", "b", "label", "split", ...}),
/// atomically; read_jsonl reads it back to the same comparisons (user groups, which JSONL has no field for, are not
/// written).
void write_jsonl(const PreferenceData& data, const std::string& path);
/// Picks the reader from the extension: .jsonl/.jsonl.gz, .tsv/.tsv.gz, .h5/.hdf5.
PreferenceData read_preferences(const std::string& path);

}  // namespace plural::core
