#pragma once
// Model and state files are torch archives, i.e. zip files. LibTorch's reader crashes (SIGSEGV in its TorchScript
// importer) on some damaged archives instead of throwing, so plural checks the zip's own CRC-32 of every entry first:
// a file whose every byte of content is what its writer wrote is one LibTorch can read. No torch here.
#include <string>

namespace plural::core {

/// Throws IoError naming `path` unless `bytes` is a zip whose central directory is consistent and whose every stored
/// entry matches its CRC-32. Entries too large for the classic format (zip64) are left to LibTorch.
void verify_zip(const std::string& bytes, const std::string& path);

}  // namespace plural::core
