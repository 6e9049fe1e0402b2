#include "core/base/h5.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/base/error.hpp"

namespace plural::core::h5 {

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      break;
  }
  id_ = H5I_INVALID_HID;
}

void quiet() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

namespace {
// The innermost HDF5 error message, e.g. "truncated file: eof = 800, sblock->base_addr = 0, stored_eof = 2048".
herr_t walk_cb(unsigned n, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::string*>(data);
  if (n == 0 && err->desc) *out = err->desc;
  return 0;
}
std::string hdf5_says() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &msg);
  return msg.empty() ? "" : ": HDF5 says '" + msg + "'";
}
}  // namespace

namespace {
[[noreturn]] void fail(const std::string& action, const std::string& what) {
  std::string says = hdf5_says();
  if (says.find("No space left") != std::string::npos || says.find("errno = 28,") != std::string::npos)
    throw IoError(detail::cat(what, ": ", action, " failed: disk full", says));
  if (says.find("checksum") != std::string::npos)
    throw IoError(detail::cat(what, ": corrupt data (checksum mismatch while ", action, ")", says));
  throw IoError(detail::cat(what, ": ", action, " failed", says));
}
}  // namespace

void check(herr_t status, const std::string& action, const std::string& what) {
  if (status < 0) fail(action, what);
}

hid_t check_id(hid_t id, const std::string& action, const std::string& what) {
  if (id < 0) fail(action, what);
  return id;
}

Handle open_file(const std::string& path, Mode mode) {
  quiet();
  if (mode == Mode::create) {
    Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
    // 1.8 format: readable by every HDF5 >= 1.8 (h5py, MATLAB), and efficient for growing datasets.
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    return Handle(check_id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), "creating HDF5 file", path));
  }
  htri_t is = H5Fis_hdf5(path.c_str());
  if (is <= 0) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw IoError(detail::cat(path, ": cannot open (no such file or no permission)"));
    std::fclose(f);
    throw IoError(detail::cat(path, ": not a readable HDF5 file (truncated, corrupt or another format)", hdf5_says()));
  }
  unsigned flags = mode == Mode::read ? H5F_ACC_RDONLY : H5F_ACC_RDWR;
  return Handle(check_id(H5Fopen(path.c_str(), flags, H5P_DEFAULT), "opening HDF5 file", path));
}

Handle create_in_memory(const std::string& name, hsize_t userblock_bytes) {
  quiet();
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE));
  if (userblock_bytes > 0) check(H5Pset_userblock(fcpl, userblock_bytes), "reserving a user block", name);
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  // The earliest format: a 1.8+ superblock taken as an image while the file is open carries its "open for writing"
  // flags under a checksum computed without them, and every reader then refuses it. Write-once files need nothing
  // newer.
  H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST);
  check(H5Pset_fapl_core(fapl, 1 << 20, /*backing_store=*/0), "setting up an in-memory file", name);
  return Handle(check_id(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, fcpl, fapl), "creating HDF5 file", name));
}

std::string file_image(hid_t file, const std::string& name) {
  check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flushing", name);
  ssize_t n = H5Fget_file_image(file, nullptr, 0);
  if (n < 0) check(-1, "taking the file image", name);
  std::string image(static_cast<size_t>(n), '\0');
  if (H5Fget_file_image(file, image.data(), image.size()) != n) check(-1, "taking the file image", name);
  return image;
}

void set_checksummed_chunks(hid_t dcpl, int rank, const hsize_t* chunk, int deflate_level) {
  H5Pset_chunk(dcpl, rank, chunk);
  H5Pset_shuffle(dcpl);
  if (deflate_level > 0) H5Pset_deflate(dcpl, static_cast<unsigned>(deflate_level));
  // Last, so the checksum covers the bytes as stored: first in the pipeline, it left most of a compressed chunk's
  // bytes unchecked (a flipped byte there read back as the same data).
  H5Pset_fletcher32(dcpl);
}

void close_file(Handle& file, const std::string& path) {
  if (!file.valid()) return;
  check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flushing", path);
  check(H5Fclose(file.release()), "closing", path);
}

bool exists(hid_t loc, const std::string& name) {
  // H5Lexists needs every intermediate link to exist, so walk the path.
  std::string prefix;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    std::string part = name.substr(0, slash == std::string::npos ? name.size() : slash);
    if (!part.empty() && part != "/" && H5Lexists(loc, part.c_str(), H5P_DEFAULT) <= 0) return false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return true;
}

Handle open_group(hid_t loc, const std::string& name, const std::string& path) {
  if (!exists(loc, name)) throw IoError(detail::cat(path, ": missing group '", name, "'"));
  return Handle(check_id(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), "opening group '" + name + "'", path));
}

Handle require_group(hid_t loc, const std::string& name, const std::string& path) {
  if (exists(loc, name)) return open_group(loc, name, path);
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl, 1);
  return Handle(
      check_id(H5Gcreate2(loc, name.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT), "creating group '" + name + "'", path));
}

Handle open_dataset(hid_t loc, const std::string& name, const std::string& path) {
  if (!exists(loc, name)) throw IoError(detail::cat(path, ": missing dataset '", name, "'"));
  return Handle(check_id(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "opening dataset '" + name + "'", path));
}

std::vector<hsize_t> shape(hid_t dataset, const std::string& what) {
  Handle space(check_id(H5Dget_space(dataset), "reading shape", what));
  int rank = H5Sget_simple_extent_ndims(space);
  check(rank, "reading rank", what);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) check(H5Sget_simple_extent_dims(space, dims.data(), nullptr), "reading dims", what);
  return dims;
}

hid_t float16_type() {
  static hid_t type = [] {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    H5Tlock(t);
    return t;
  }();
  return type;
}

namespace {
// "file.h5:/comparisons/label": the dataset's full path inside the file, for errors.
std::string dataset_what(hid_t ds, const std::string& path, const std::string& name) {
  char buf[512];
  ssize_t n = H5Iget_name(ds, buf, sizeof buf);
  return path + ":" + (n > 0 && static_cast<size_t>(n) < sizeof buf ? std::string(buf, static_cast<size_t>(n)) : name);
}

template <typename T>
void write_1d(hid_t loc, const std::string& name, hid_t type, const std::vector<T>& v) {
  hsize_t n = v.size();
  Handle space(H5Screate_simple(1, &n, nullptr));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (n > 0) {
    hsize_t chunk = std::min<hsize_t>(n, 1 << 16);
    set_checksummed_chunks(dcpl, 1, &chunk, 4);
  }
  Handle ds(
      check_id(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), "creating dataset", name));
  if (n > 0) check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), "writing", name);
}

template <typename T>
std::vector<T> read_1d(hid_t loc, const std::string& name, hid_t type, const std::string& path) {
  Handle ds = open_dataset(loc, name, path);
  std::string what = dataset_what(ds, path, name);
  auto dims = shape(ds, what);
  if (dims.size() != 1) throw IoError(detail::cat(what, ": expected a 1-D dataset, got rank ", dims.size()));
  std::vector<T> v(dims[0]);
  if (!v.empty()) check(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), "reading", what);
  return v;
}
}  // namespace

void write_vector(hid_t loc, const std::string& name, const std::vector<int32_t>& v) {
  write_1d(loc, name, H5T_NATIVE_INT32, v);
}
void write_vector(hid_t loc, const std::string& name, const std::vector<float>& v) {
  write_1d(loc, name, H5T_NATIVE_FLOAT, v);
}
void write_vector(hid_t loc, const std::string& name, const std::vector<uint8_t>& v) {
  write_1d(loc, name, H5T_NATIVE_UINT8, v);
}
std::vector<int32_t> read_int32(hid_t loc, const std::string& name, const std::string& path) {
  return read_1d<int32_t>(loc, name, H5T_NATIVE_INT32, path);
}
std::vector<float> read_float(hid_t loc, const std::string& name, const std::string& path) {
  return read_1d<float>(loc, name, H5T_NATIVE_FLOAT, path);
}
std::vector<uint8_t> read_uint8(hid_t loc, const std::string& name, const std::string& path) {
  return read_1d<uint8_t>(loc, name, H5T_NATIVE_UINT8, path);
}

namespace {
Handle utf8_vlen_type() {
  Handle t(H5Tcopy(H5T_C_S1));
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}
}  // namespace

void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& v) {
  std::vector<const char*> ptrs;
  ptrs.reserve(v.size());
  for (const auto& s : v) ptrs.push_back(s.c_str());
  Handle type = utf8_vlen_type();
  hsize_t n = v.size();
  Handle space(H5Screate_simple(1, &n, nullptr));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (n > 0) {
    hsize_t chunk = std::min<hsize_t>(n, 4096);
    H5Pset_chunk(dcpl, 1, &chunk);  // HDF5 refuses filters (and so checksums) on variable-length strings
  }
  Handle ds(
      check_id(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), "creating dataset", name));
  if (n > 0) check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "writing", name);
}

std::vector<std::string> read_strings(hid_t loc, const std::string& name, const std::string& path) {
  Handle ds = open_dataset(loc, name, path);
  std::string what = dataset_what(ds, path, name);
  auto dims = shape(ds, what);
  if (dims.size() != 1) throw IoError(detail::cat(what, ": expected a 1-D string dataset, got rank ", dims.size()));
  Handle ftype(H5Dget_type(ds));
  if (H5Tget_class(ftype) != H5T_STRING) throw IoError(detail::cat(what, ": expected strings"));
  std::vector<std::string> out(dims[0]);
  if (dims[0] == 0) return out;
  if (H5Tis_variable_str(ftype) > 0) {
    Handle type = utf8_vlen_type();
    std::vector<char*> raw(dims[0], nullptr);
    check(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), "reading", what);
    for (size_t i = 0; i < raw.size(); ++i) out[i] = raw[i] ? raw[i] : "";
    Handle space(H5Dget_space(ds));
    H5Dvlen_reclaim(type, space, H5P_DEFAULT, raw.data());
  } else {
    size_t len = H5Tget_size(ftype);
    std::vector<char> buf(len * dims[0]);
    check(H5Dread(ds, ftype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), "reading", what);
    for (size_t i = 0; i < dims[0]; ++i) {
      const char* p = buf.data() + i * len;
      out[i] = std::string(p, strnlen(p, len));
    }
  }
  return out;
}

void write_attr(hid_t obj, const std::string& name, const std::string& value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type, std::max<size_t>(1, value.size()));
  H5Tset_cset(type, H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(
      check_id(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "creating attribute", name));
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  check(H5Awrite(attr, type, padded.data()), "writing attribute", name);
}

void write_attr(hid_t obj, const std::string& name, int64_t value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(check_id(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT),
                       "creating attribute", name));
  check(H5Awrite(attr, H5T_NATIVE_INT64, &value), "writing attribute", name);
}

bool has_attr(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

std::string read_attr_string(hid_t obj, const std::string& name, const std::string& what) {
  if (!has_attr(obj, name)) throw IoError(detail::cat(what, ": missing attribute '", name, "'"));
  Handle attr(check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute '" + name + "'", what));
  Handle type(H5Aget_type(attr));
  if (H5Tget_class(type) != H5T_STRING) throw IoError(detail::cat(what, ": attribute '", name, "' is not a string"));
  if (H5Tis_variable_str(type) > 0) {
    char* p = nullptr;
    Handle mt = utf8_vlen_type();
    check(H5Aread(attr, mt, &p), "reading attribute '" + name + "'", what);
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  size_t len = H5Tget_size(type);
  std::string s(len, '\0');
  check(H5Aread(attr, type, s.data()), "reading attribute '" + name + "'", what);
  s.resize(strnlen(s.c_str(), len));
  return s;
}

int64_t read_attr_int(hid_t obj, const std::string& name, const std::string& what) {
  if (!has_attr(obj, name)) throw IoError(detail::cat(what, ": missing attribute '", name, "'"));
  Handle attr(check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute '" + name + "'", what));
  int64_t v = 0;
  check(H5Aread(attr, H5T_NATIVE_INT64, &v), "reading attribute '" + name + "'", what);
  return v;
}

}  // namespace plural::core::h5
