#include "embeddings/feature_cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "core/base/atomic_file.hpp"
#include "core/base/error.hpp"
#include "core/base/h5.hpp"

namespace plural::core {

namespace fs = std::filesystem;
using h5::Handle;

namespace {
constexpr int64_t kFormatVersion = 1;

hid_t mem_type(Storage s) { return s == Storage::float16 ? h5::float16_type() : H5T_NATIVE_FLOAT; }
const char* storage_name(Storage s) { return s == Storage::float16 ? "float16" : "float32"; }
}  // namespace

Storage parse_storage(const std::string& name) {
  if (name == "float32" || name == "f32") return Storage::float32;
  if (name == "float16" || name == "f16") return Storage::float16;
  throw ValueError(detail::cat("storage must be float32 or float16, got '", name, "'"));
}

std::string encoder_group_name(const std::string& encoder_id) {
  std::string g = encoder_id;
  for (auto& c : g)
    if (c == '/' || c == '.') c = '_';
  return "encoders/" + g;
}

struct FeatureCache::Group {
  std::string encoder_id;
  int64_t dim = 0;
  Storage storage = Storage::float32;
  int64_t rows = 0;
  std::unordered_map<Hash128, int64_t, Hash128Hasher> index;
};

namespace {
// Loads one encoder group's metadata and key index from an open file.
std::shared_ptr<FeatureCache::Group> load_group(hid_t file, const std::string& path, const std::string& encoder_id,
                                                bool* found) {
  auto g = std::make_shared<FeatureCache::Group>();
  std::string name = encoder_group_name(encoder_id);
  *found = h5::exists(file, name);
  if (!*found) return g;
  std::string what = path + ":/" + name;
  Handle grp = h5::open_group(file, name, path);
  std::string stored_id = h5::read_attr_string(grp, "encoder_id", what);
  if (stored_id != encoder_id)
    throw ValueError(
        detail::cat(path, ": group '", name, "' belongs to encoder '", stored_id, "', not '", encoder_id, "'"));
  g->encoder_id = encoder_id;
  g->dim = h5::read_attr_int(grp, "dim", what);
  g->storage = parse_storage(h5::read_attr_string(grp, "storage", what));
  Handle keys = h5::open_dataset(grp, "keys", what);
  Handle feats = h5::open_dataset(grp, "features", what);
  auto kdims = h5::shape(keys, what + "/keys");
  auto fdims = h5::shape(feats, what + "/features");
  if (kdims.size() != 2 || kdims[1] != 2 || fdims.size() != 2 || fdims[0] != kdims[0] ||
      static_cast<int64_t>(fdims[1]) != g->dim)
    throw IoError(detail::cat(what, ": keys/features shapes disagree (corrupt cache)"));
  g->rows = static_cast<int64_t>(kdims[0]);
  std::vector<uint64_t> raw(static_cast<size_t>(g->rows) * 2);
  if (g->rows > 0)
    h5::check(H5Dread(keys, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), "reading keys", what);
  g->index.reserve(static_cast<size_t>(g->rows));
  for (int64_t i = 0; i < g->rows; ++i) g->index.emplace(Hash128{raw[2 * i], raw[2 * i + 1]}, i);
  return g;
}
}  // namespace

FeatureCache::FeatureCache(std::string path) : path_(std::move(path)) {
  if (fs::exists(path_)) encoders();  // fail early on a file that is not a cache
}

FeatureCache::~FeatureCache() = default;

std::vector<std::string> FeatureCache::encoders() const {
  std::vector<std::string> ids;
  if (!fs::exists(path_)) return ids;
  Handle file = h5::open_file(path_, h5::Mode::read);
  if (!h5::has_attr(file, "format") || h5::read_attr_string(file, "format", path_) != "plural-feature-cache")
    throw IoError(detail::cat(path_, ": not a plural feature cache (attribute 'format' missing or different)"));
  if (!h5::exists(file, "encoders")) return ids;
  Handle grp = h5::open_group(file, "encoders", path_);
  H5G_info_t info;
  h5::check(H5Gget_info(grp, &info), "listing encoders", path_);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    char name[1024];
    H5Lget_name_by_idx(grp, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
    Handle g = h5::open_group(grp, name, path_);
    ids.push_back(h5::read_attr_string(g, "encoder_id", path_ + ":/encoders/" + name));
  }
  return ids;
}

const FeatureCache::Group& FeatureCache::group(const std::string& encoder_id) const {
  auto it = groups_.find(encoder_id);
  if (it != groups_.end()) return *it->second;
  bool found = false;
  std::shared_ptr<Group> g;
  if (fs::exists(path_)) {
    Handle file = h5::open_file(path_, h5::Mode::read);
    g = load_group(file, path_, encoder_id, &found);
  }
  if (!found) {
    std::string have;
    for (const auto& id : encoders()) have += (have.empty() ? "'" : ", '") + id + "'";
    throw ValueError(detail::cat("feature cache ", path_, " has no features for encoder '", encoder_id, "' (it has ",
                                 have.empty() ? std::string("none") : have, ")"));
  }
  groups_[encoder_id] = g;
  return *g;
}

bool FeatureCache::has_encoder(const std::string& encoder_id) const {
  if (groups_.count(encoder_id)) return true;
  auto ids = encoders();
  return std::find(ids.begin(), ids.end(), encoder_id) != ids.end();
}
int64_t FeatureCache::dim(const std::string& id) const { return group(id).dim; }
int64_t FeatureCache::rows(const std::string& id) const { return group(id).rows; }
Storage FeatureCache::storage(const std::string& id) const { return group(id).storage; }
void FeatureCache::refresh() { groups_.clear(); }

std::vector<bool> FeatureCache::contains(const std::string& encoder_id, const std::vector<std::string>& texts) const {
  std::vector<bool> out(texts.size(), false);
  if (!has_encoder(encoder_id)) return out;
  const auto& g = group(encoder_id);
  for (size_t i = 0; i < texts.size(); ++i) out[i] = g.index.count(hash128(encoder_id, texts[i])) > 0;
  return out;
}

torch::Tensor FeatureCache::lookup(const std::string& encoder_id, const std::vector<std::string>& texts) const {
  const auto& g = group(encoder_id);
  const auto n = static_cast<int64_t>(texts.size());
  std::vector<int64_t> row(texts.size());
  int64_t missing = 0, first_missing = -1;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto it = g.index.find(hash128(encoder_id, texts[i]));
    row[i] = it == g.index.end() ? -1 : it->second;
    if (row[i] < 0 && missing++ == 0) first_missing = static_cast<int64_t>(i);
  }
  if (missing > 0) {
    std::string t = texts[first_missing].substr(0, 80);
    throw ValueError(detail::cat("feature cache ", path_, ": ", missing, " of ", n, " texts have no '", encoder_id,
                                 "' features, the first is text ", first_missing, " \"", t,
                                 "\" (run `plural encode` first)"));
  }
  auto out = torch::empty({n, g.dim}, torch::kFloat32);
  if (n == 0) return out;

  // Read each needed row once, in file order, in blocks that cover runs of needed rows.
  std::vector<int64_t> order(texts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return row[a] < row[b]; });

  Handle file = h5::open_file(path_, h5::Mode::read);
  std::string what = path_ + ":/" + encoder_group_name(encoder_id) + "/features";
  Handle dapl(H5Pcreate(H5P_DATASET_ACCESS));
  H5Pset_chunk_cache(dapl, 12421, 64 << 20, 1.0);
  Handle ds(h5::check_id(H5Dopen2(file, (encoder_group_name(encoder_id) + "/features").c_str(), dapl),
                         "opening features", what));
  Handle fspace(H5Dget_space(ds));
  const size_t elt = g.storage == Storage::float16 ? 2 : 4;
  const int64_t kBlock = 4096;
  std::vector<char> buf;
  float* dst = out.data_ptr<float>();
  size_t i = 0;
  while (i < order.size()) {
    int64_t start = row[order[i]];
    int64_t end = start + 1;
    size_t j = i + 1;
    // Extend the block while the next needed row is close enough that reading the gap is cheaper than a new read.
    while (j < order.size() && row[order[j]] - start < kBlock && row[order[j]] - end < 64) {
      end = row[order[j]] + 1;
      ++j;
    }
    hsize_t off[2] = {static_cast<hsize_t>(start), 0},
            cnt[2] = {static_cast<hsize_t>(end - start), static_cast<hsize_t>(g.dim)};
    h5::check(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, off, nullptr, cnt, nullptr), "selecting rows", what);
    Handle mspace(H5Screate_simple(2, cnt, nullptr));
    buf.resize(cnt[0] * cnt[1] * elt);
    h5::check(H5Dread(ds, mem_type(g.storage), mspace, fspace, H5P_DEFAULT, buf.data()), "reading rows", what);
    for (size_t k = i; k < j; ++k) {
      int64_t r = row[order[k]] - start;
      float* o = dst + order[k] * g.dim;
      if (elt == 4) {
        std::memcpy(o, buf.data() + r * g.dim * 4, g.dim * 4);
      } else {
        auto half = torch::from_blob(buf.data() + r * g.dim * 2, {g.dim}, torch::kHalf);
        torch::from_blob(o, {g.dim}, torch::kFloat32).copy_(half);
      }
    }
    i = j;
  }
  return out;
}

// ---- writing ------------------------------------------------------------------------------------------------

struct FeatureCache::Writer::Impl {
  FeatureCache* cache = nullptr;
  std::string encoder_id, tmp;
  int64_t dim = 0;
  Storage storage = Storage::float32;
  int lock_fd = -1;
  Handle file, keys, feats;
  std::unordered_set<Hash128, Hash128Hasher> known;
  std::vector<uint64_t> key_buf;
  std::vector<float> row_buf;
  int64_t rows = 0;
  bool done = false;

  void flush() {
    int64_t n = static_cast<int64_t>(key_buf.size() / 2);
    if (n == 0) return;
    std::string what = tmp + ":/" + encoder_group_name(encoder_id);
    hsize_t new_rows = static_cast<hsize_t>(rows + n);
    hsize_t kd[2] = {new_rows, 2}, fd[2] = {new_rows, static_cast<hsize_t>(dim)};
    h5::check(H5Dset_extent(keys, kd), "growing keys", what);
    h5::check(H5Dset_extent(feats, fd), "growing features", what);
    hsize_t off[2] = {static_cast<hsize_t>(rows), 0};
    hsize_t kc[2] = {static_cast<hsize_t>(n), 2}, fc[2] = {static_cast<hsize_t>(n), static_cast<hsize_t>(dim)};
    {
      Handle fs_(H5Dget_space(keys)), ms(H5Screate_simple(2, kc, nullptr));
      H5Sselect_hyperslab(fs_, H5S_SELECT_SET, off, nullptr, kc, nullptr);
      h5::check(H5Dwrite(keys, H5T_NATIVE_UINT64, ms, fs_, H5P_DEFAULT, key_buf.data()), "writing keys", what);
    }
    {
      Handle fs_(H5Dget_space(feats)), ms(H5Screate_simple(2, fc, nullptr));
      H5Sselect_hyperslab(fs_, H5S_SELECT_SET, off, nullptr, fc, nullptr);
      if (storage == Storage::float16) {
        auto half = torch::from_blob(row_buf.data(), {n, dim}, torch::kFloat32).to(torch::kHalf).contiguous();
        h5::check(H5Dwrite(feats, h5::float16_type(), ms, fs_, H5P_DEFAULT, half.data_ptr()), "writing features", what);
      } else {
        h5::check(H5Dwrite(feats, H5T_NATIVE_FLOAT, ms, fs_, H5P_DEFAULT, row_buf.data()), "writing features", what);
      }
    }
    rows += n;
    key_buf.clear();
    row_buf.clear();
  }

  void discard() {
    keys.reset();
    feats.reset();
    file.reset();
    std::error_code ec;
    if (!tmp.empty()) fs::remove(tmp, ec);
    if (lock_fd >= 0) {
      ::flock(lock_fd, LOCK_UN);
      ::close(lock_fd);
      lock_fd = -1;
    }
  }
};

FeatureCache::Writer::Writer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FeatureCache::Writer::Writer(Writer&&) noexcept = default;
FeatureCache::Writer::~Writer() {
  if (impl_ && !impl_->done) impl_->discard();
}

int64_t FeatureCache::Writer::pending() const { return impl_->rows + static_cast<int64_t>(impl_->key_buf.size() / 2); }

int64_t FeatureCache::Writer::append(const std::vector<std::string>& texts, const torch::Tensor& features) {
  auto& s = *impl_;
  PLURAL_CHECK(!s.done, "FeatureCache::Writer::append: the transaction was already committed");
  PLURAL_CHECK(features.dim() == 2, "FeatureCache::append: features must be 2-D [n, dim], got ", features.dim(), "-D");
  PLURAL_CHECK(features.size(1) == s.dim, "FeatureCache::append: feature dimension mismatch: cache '", s.cache->path_,
               "' stores dim ", s.dim, " for encoder '", s.encoder_id, "', got ", features.size(1));
  PLURAL_CHECK(features.size(0) == static_cast<int64_t>(texts.size()), "FeatureCache::append: ", texts.size(),
               " texts but ", features.size(0), " feature rows");
  auto f = features.to(torch::kFloat32).contiguous();
  auto finite = torch::isfinite(f).all(1);
  if (!finite.all().item<bool>()) {
    int64_t bad = (~finite).nonzero()[0][0].item<int64_t>();
    throw ValueError(detail::cat("FeatureCache::append: row ", bad, " (text \"", texts[bad].substr(0, 80),
                                 "\") has NaN or Inf features; nothing was written"));
  }
  const float* p = f.data_ptr<float>();
  int64_t added = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    Hash128 key = hash128(s.encoder_id, texts[i]);
    if (!s.known.insert(key).second) continue;
    s.key_buf.push_back(key.lo);
    s.key_buf.push_back(key.hi);
    s.row_buf.insert(s.row_buf.end(), p + i * s.dim, p + (i + 1) * s.dim);
    ++added;
  }
  if (s.key_buf.size() / 2 >= 8192) s.flush();
  return added;
}

void FeatureCache::Writer::commit() {
  auto& s = *impl_;
  PLURAL_CHECK(!s.done, "FeatureCache::Writer::commit: already committed");
  try {
    s.flush();
    s.keys.reset();
    s.feats.reset();
    h5::close_file(s.file, s.tmp);
    replace_with(s.tmp, s.cache->path_);
    s.tmp.clear();
  } catch (...) {
    s.discard();
    s.done = true;
    throw;
  }
  s.discard();
  s.done = true;
  s.cache->refresh();
}

FeatureCache::Writer FeatureCache::writer(const std::string& encoder_id, int64_t dim, Storage storage) {
  PLURAL_CHECK(!encoder_id.empty(), "FeatureCache::writer: empty encoder id");
  PLURAL_CHECK(dim > 0, "FeatureCache::writer: dim must be > 0, got ", dim);
  auto s = std::make_unique<Writer::Impl>();
  s->cache = this;
  s->encoder_id = encoder_id;
  s->dim = dim;
  s->storage = storage;
  std::string lock = path_ + ".lock";
  s->lock_fd = ::open(lock.c_str(), O_CREAT | O_RDWR, 0644);
  if (s->lock_fd < 0) throw IoError(detail::cat(lock, ": cannot create lock file: ", std::strerror(errno)));
  if (::flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(s->lock_fd);
    s->lock_fd = -1;
    throw IoError(detail::cat(path_, ": another process is writing to this feature cache (", lock, " is locked)"));
  }
  try {
    // We hold the lock, so leftover temporaries are from writers that died: remove them.
    fs::path p(path_);
    fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
    std::string prefix = p.filename().string() + ".tmp-";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().filename().string().rfind(prefix, 0) == 0) fs::remove(e.path(), ec);

    s->tmp = path_ + ".tmp-" + std::to_string(::getpid());
    bool existed = fs::exists(path_);
    if (existed) {
      encoders();  // refuses a file that is not a cache before copying it
      fs::copy_file(path_, s->tmp, fs::copy_options::overwrite_existing);
      s->file = h5::open_file(s->tmp, h5::Mode::read_write);
    } else {
      s->file = h5::open_file(s->tmp, h5::Mode::create);
      h5::write_attr(s->file, "format", std::string("plural-feature-cache"));
      h5::write_attr(s->file, "format_version", kFormatVersion);
    }
    std::string name = encoder_group_name(encoder_id);
    std::string what = path_ + ":/" + name;
    bool found = false;
    auto existing = load_group(s->file, path_, encoder_id, &found);
    if (found) {
      PLURAL_CHECK(existing->dim == dim, "feature cache ", path_, ": encoder '", encoder_id, "' has dim ",
                   existing->dim, " stored, the new features have dim ", dim);
      PLURAL_CHECK(existing->storage == storage, "feature cache ", path_, ": encoder '", encoder_id, "' is stored as ",
                   storage_name(existing->storage), ", asked to write ", storage_name(storage));
      for (const auto& kv : existing->index) s->known.insert(kv.first);
      s->rows = existing->rows;
      Handle grp = h5::open_group(s->file, name, s->tmp);
      s->keys = h5::open_dataset(grp, "keys", s->tmp);
      s->feats = h5::open_dataset(grp, "features", s->tmp);
    } else {
      Handle grp = h5::require_group(s->file, name, s->tmp);
      h5::write_attr(grp, "encoder_id", encoder_id);
      h5::write_attr(grp, "dim", dim);
      h5::write_attr(grp, "storage", std::string(storage_name(storage)));
      h5::write_attr(grp, "key", std::string("xxh3-128(encoder_id + '\\0' + text) as [lo, hi] uint64"));
      hsize_t kd[2] = {0, 2}, kmax[2] = {H5S_UNLIMITED, 2}, kchunk[2] = {8192, 2};
      Handle kspace(H5Screate_simple(2, kd, kmax));
      Handle kcpl(H5Pcreate(H5P_DATASET_CREATE));
      h5::set_checksummed_chunks(kcpl, 2, kchunk, 0);
      s->keys = Handle(h5::check_id(H5Dcreate2(grp, "keys", H5T_STD_U64LE, kspace, H5P_DEFAULT, kcpl, H5P_DEFAULT),
                                    "creating keys", what));
      const hsize_t elt = storage == Storage::float16 ? 2 : 4;
      hsize_t chunk_rows = std::max<hsize_t>(16, (64 * 1024) / (static_cast<hsize_t>(dim) * elt));
      hsize_t fdm[2] = {0, static_cast<hsize_t>(dim)}, fmax[2] = {H5S_UNLIMITED, static_cast<hsize_t>(dim)};
      hsize_t fchunk[2] = {chunk_rows, static_cast<hsize_t>(dim)};
      Handle fspace(H5Screate_simple(2, fdm, fmax));
      Handle fcpl(H5Pcreate(H5P_DATASET_CREATE));
      h5::set_checksummed_chunks(fcpl, 2, fchunk, 1);
      hid_t ftype = storage == Storage::float16 ? h5::float16_type() : H5T_IEEE_F32LE;
      s->feats = Handle(h5::check_id(H5Dcreate2(grp, "features", ftype, fspace, H5P_DEFAULT, fcpl, H5P_DEFAULT),
                                     "creating features", what));
    }
  } catch (...) {
    s->discard();
    throw;
  }
  return Writer(std::move(s));
}

}  // namespace plural::core
