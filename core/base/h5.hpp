#pragma once
// A thin RAII layer over the HDF5 C API. Every failure throws IoError naming the file and object, instead of
// HDF5's bare "H5Dopen2 failed" and its stderr dump.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace plural::core::h5 {

/// Owns one hid_t and closes it with the right H5*close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  ~Handle() { reset(); }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();
  hid_t release() {
    hid_t id = id_;
    id_ = H5I_INVALID_HID;
    return id;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

/// Silences HDF5's automatic error printing (once per process).
void quiet();

enum class Mode { read, read_write, create };
/// Opens or creates a file; a missing, truncated or non-HDF5 file throws IoError naming `path`.
Handle open_file(const std::string& path, Mode mode);
/// Flushes and closes, reporting failures (the destructor cannot).
void close_file(Handle& file, const std::string& path);
/// A new file held in memory only: HDF5 never touches the disk, so a full disk cannot fail inside HDF5 (whose close
/// callbacks crash at exit when it does). `name` labels it in errors. Write it out with file_image(). A user block
/// (bytes HDF5 reserves before its superblock and never reads) holds what the caller puts there.
Handle create_in_memory(const std::string& name, hsize_t userblock_bytes = 0);
/// The bytes of an open in-memory file (flushed first), ready for an AtomicFile.
std::string file_image(hid_t file, const std::string& name);
/// Turns on HDF5's Fletcher-32 checksum (and gzip) for a chunked dataset, so a corrupted chunk fails its read.
void set_checksummed_chunks(hid_t dcpl, int rank, const hsize_t* chunk, int deflate_level);

bool exists(hid_t loc, const std::string& name);  ///< a link by that (possibly nested) path exists
Handle open_group(hid_t loc, const std::string& name, const std::string& path);
Handle require_group(hid_t loc, const std::string& name, const std::string& path);  ///< open or create
Handle open_dataset(hid_t loc, const std::string& name, const std::string& path);

/// Shape of a dataset.
std::vector<hsize_t> shape(hid_t dataset, const std::string& what);

/// An IEEE half-precision type that h5py reads as numpy float16.
hid_t float16_type();

// Whole 1-D datasets with gzip compression. `what` names the object in errors ("file.h5:/comparisons/user").
void write_vector(hid_t loc, const std::string& name, const std::vector<int32_t>& v);
void write_vector(hid_t loc, const std::string& name, const std::vector<float>& v);
void write_vector(hid_t loc, const std::string& name, const std::vector<uint8_t>& v);
void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& v);
std::vector<int32_t> read_int32(hid_t loc, const std::string& name, const std::string& path);
std::vector<float> read_float(hid_t loc, const std::string& name, const std::string& path);
std::vector<uint8_t> read_uint8(hid_t loc, const std::string& name, const std::string& path);
std::vector<std::string> read_strings(hid_t loc, const std::string& name, const std::string& path);

void write_attr(hid_t obj, const std::string& name, const std::string& value);
void write_attr(hid_t obj, const std::string& name, int64_t value);
bool has_attr(hid_t obj, const std::string& name);
std::string read_attr_string(hid_t obj, const std::string& name, const std::string& what);
int64_t read_attr_int(hid_t obj, const std::string& name, const std::string& what);

/// Throws IoError("<what>: <action> failed[: HDF5 says ...]") when status < 0.
void check(herr_t status, const std::string& action, const std::string& what);
hid_t check_id(hid_t id, const std::string& action, const std::string& what);

}  // namespace plural::core::h5
