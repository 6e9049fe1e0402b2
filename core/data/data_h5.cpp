// Our HDF5 layout for preference data (docs/data_format.md).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/base/atomic_file.hpp"
#include "core/base/error.hpp"
#include "core/base/h5.hpp"
#include "core/base/hash.hpp"
#include "core/base/isolated.hpp"
#include "core/data/readers.hpp"

namespace plural::core {

namespace {
constexpr const char* kFormat = "plural-preferences";
constexpr int64_t kFormatVersion = 1;

// HDF5 reads a damaged file's global heap (where variable-length strings live) without any check and can crash doing
// so. So the file's first 512 bytes, HDF5's user block, carry a hash of everything after them, checked before HDF5
// sees the file. Files from before this (no user block) and foreign ones are read as they are.
constexpr size_t kSealBytes = 512;
constexpr char kSealMagic[] = "plural-preferences sealed xxh3-128 ";

// HDF5's file image of a file with a user block leaves the block out: it goes in front, holding the seal.
std::string sealed(const std::string& image) {
  std::string header = kSealMagic + hash128(image).hex() + "\n";
  header.resize(kSealBytes, '\0');
  return header + image;
}

// True for a sealed file whose contents match; false for an unsealed one; a mismatch throws.
bool check_seal(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char head[sizeof kSealMagic - 1];
  if (!f.read(head, sizeof head) || std::memcmp(head, kSealMagic, sizeof head) != 0) return false;
  f.seekg(0);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t hex_at = sizeof kSealMagic - 1;
  if (bytes.size() <= kSealBytes ||
      bytes.compare(hex_at, 32, hash128(std::string_view(bytes).substr(kSealBytes)).hex()) != 0)
    throw IoError(detail::cat(path,
                              ": corrupt or truncated file (its contents do not match the checksum plural wrote "
                              "in its first 512 bytes; if another program changed it on purpose, overwrite "
                              "that header with zeros to read it unchecked: docs/data_format.md)"));
  return true;
}
}  // namespace

namespace {
// The file's bytes, sealed; `path` names it in errors.
std::string sealed_image(const PreferenceData& data, const std::string& path) {
  std::string image;
  {
    h5::Handle file = h5::create_in_memory(path, kSealBytes);
    h5::write_attr(file, "format", std::string(kFormat));
    h5::write_attr(file, "format_version", kFormatVersion);
    h5::write_attr(file, "source", data.source);
    h5::write_strings(file, "texts", data.texts.all());
    {
      h5::Handle g = h5::require_group(file, "users", path);
      std::vector<std::string> ids;
      std::vector<uint8_t> seen;
      std::vector<int32_t> group;
      for (const auto& u : data.users) {
        ids.push_back(u.id);
        seen.push_back(u.seen ? 1 : 0);
        group.push_back(u.group);
      }
      h5::write_strings(g, "id", ids);
      h5::write_vector(g, "seen", seen);
      h5::write_vector(g, "group", group);
    }
    {
      h5::Handle g = h5::require_group(file, "comparisons", path);
      size_t n = data.comparisons.size();
      std::vector<int32_t> user(n), pa(n), pb(n), a(n), b(n), ctx(n), why(n);
      std::vector<float> label(n), weight(n), margin(n);
      std::vector<uint8_t> split(n);
      bool any_margin = false;
      for (size_t i = 0; i < n; ++i) {
        const auto& c = data.comparisons[i];
        user[i] = c.user, pa[i] = c.prompt_a, pb[i] = c.prompt_b, a[i] = c.a, b[i] = c.b, ctx[i] = c.context;
        label[i] = c.label, weight[i] = c.weight, margin[i] = c.margin, split[i] = static_cast<uint8_t>(c.split);
        why[i] = c.rationale;
        any_margin |= c.margin != 0.f;
      }
      h5::write_vector(g, "user", user);
      h5::write_vector(g, "prompt_a", pa);
      h5::write_vector(g, "prompt_b", pb);
      h5::write_vector(g, "a", a);
      h5::write_vector(g, "b", b);
      h5::write_vector(g, "context", ctx);
      h5::write_vector(g, "label", label);
      h5::write_vector(g, "weight", weight);
      if (any_margin) h5::write_vector(g, "margin", margin);
      if (data.has_rationales()) h5::write_vector(g, "rationale", why);
      h5::write_vector(g, "split", split);
    }
    image = h5::file_image(file, path);
  }
  return sealed(image);
}
}  // namespace

void write_h5(const PreferenceData& data, const std::string& path) {
  write_file_atomic(path, sealed_image(data, path));
}

namespace {
// Reads a file HDF5 can be trusted with: sealed, or inside the isolated reader.
PreferenceData read_h5_direct(const std::string& path) {
  h5::Handle file = h5::open_file(path, h5::Mode::read);
  std::string format = h5::has_attr(file, "format") ? h5::read_attr_string(file, "format", path) : "";
  PLURAL_CHECK(format == kFormat, path, ": not a plural preference file (attribute 'format' is '", format,
               "', expected '", kFormat, "')");
  int64_t version = h5::read_attr_int(file, "format_version", path);
  PLURAL_CHECK(version >= 1 && version <= kFormatVersion, path, ": format_version ", version,
               " is newer than this plural understands (", kFormatVersion, ")");
  PreferenceData data;
  data.source = path;
  for (const auto& t : h5::read_strings(file, "texts", path)) data.texts.intern(t);
  PLURAL_CHECK(data.texts.size() == h5::shape(h5::open_dataset(file, "texts", path), path)[0], path,
               ": dataset 'texts' holds duplicate texts");
  auto ids = h5::read_strings(file, "users/id", path);
  auto seen = h5::read_uint8(file, "users/seen", path);
  auto group = h5::read_int32(file, "users/group", path);
  PLURAL_CHECK(seen.size() == ids.size() && group.size() == ids.size(), path,
               ": users/id, users/seen and users/group differ in length");
  for (size_t i = 0; i < ids.size(); ++i) {
    int32_t u = data.user_index(ids[i]);
    PLURAL_CHECK(static_cast<size_t>(u) == i, path, ": users/id row ", i, ": duplicate user id '", ids[i], "'");
    data.users[u].seen = seen[i] != 0;
    data.users[u].group = group[i];
  }
  const std::string g = "comparisons/";
  auto user = h5::read_int32(file, g + "user", path);
  auto pa = h5::read_int32(file, g + "prompt_a", path);
  auto pb = h5::read_int32(file, g + "prompt_b", path);
  auto a = h5::read_int32(file, g + "a", path);
  auto b = h5::read_int32(file, g + "b", path);
  auto ctx = h5::read_int32(file, g + "context", path);
  auto label = h5::read_float(file, g + "label", path);
  auto weight = h5::read_float(file, g + "weight", path);
  auto split = h5::read_uint8(file, g + "split", path);
  // Optional (files written before margins existed have none).
  auto margin = h5::exists(file, g + "margin") ? h5::read_float(file, g + "margin", path) : std::vector<float>{};
  auto why = h5::exists(file, g + "rationale") ? h5::read_int32(file, g + "rationale", path) : std::vector<int32_t>{};
  size_t n = user.size();
  for (auto* v : {&pa, &pb, &a, &b, &ctx})
    PLURAL_CHECK(v->size() == n, path, ": comparisons/* datasets differ in length");
  PLURAL_CHECK(label.size() == n && weight.size() == n && split.size() == n && (margin.empty() || margin.size() == n) &&
                   (why.empty() || why.size() == n),
               path, ": comparisons/* datasets differ in length");
  data.comparisons.resize(n);
  for (size_t i = 0; i < n; ++i) {
    PLURAL_CHECK(split[i] <= 3, path, ": comparisons/split row ", i, ": unknown split code ", int(split[i]));
    data.comparisons[i] = Comparison{user[i],
                                     pa[i],
                                     pb[i],
                                     a[i],
                                     b[i],
                                     label[i],
                                     ctx[i],
                                     weight[i],
                                     margin.empty() ? 0.f : margin[i],
                                     why.empty() ? -1 : why[i],
                                     static_cast<Split>(split[i])};
  }
  data.validate();
  return data;
}

// An unsealed file (written before the seal, or by another program) is parsed in a child process, which sends back
// the data as a sealed image: HDF5 hung or crashed on damaged files there, and such a file must be an error.
PreferenceData read_h5_isolated(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  const auto timeout = std::chrono::milliseconds(10000 + (ec ? 0 : static_cast<int64_t>(size / 1000)));  // + 1 s/MB
  std::string image = run_isolated([&] { return sealed_image(read_h5_direct(path), path); }, timeout, path);
  static std::atomic<int> serial{0};
  AtomicFile scratch((std::filesystem::temp_directory_path() /
                      ("plural-unsealed-" + std::to_string(::getpid()) + "-" + std::to_string(serial++) + ".h5"))
                         .string());
  scratch.write(image);
  scratch.commit();
  struct Remove {
    std::string path;
    ~Remove() { std::remove(path.c_str()); }
  } remove{scratch.target()};
  PLURAL_ASSERT(check_seal(scratch.target()));
  PreferenceData data = read_h5_direct(scratch.target());
  data.source = path;
  return data;
}
}  // namespace

PreferenceData read_h5(const std::string& path) {
  return check_seal(path) ? read_h5_direct(path) : read_h5_isolated(path);
}

PreferenceData read_preferences(const std::string& path) {
  auto ends = [&](const char* suffix) {
    std::string s(suffix);
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".jsonl") || ends(".jsonl.gz") || ends(".json")) return read_jsonl(path);
  if (ends(".tsv") || ends(".tsv.gz")) return read_tsv(path);
  if (ends(".h5") || ends(".hdf5")) return read_h5(path);
  throw ValueError(
      detail::cat(path, ": unknown data format (expected .jsonl, .jsonl.gz, .tsv, .tsv.gz, .h5 or .hdf5)"));
}

}  // namespace plural::core
