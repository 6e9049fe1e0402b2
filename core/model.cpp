#include "core/model.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/base/atomic_file.hpp"
#include "core/base/error.hpp"
#include "core/base/hash.hpp"
#include "core/base/isolated.hpp"
#include "core/base/registry.hpp"
#include "core/base/zip_check.hpp"
#include "core/family.hpp"

namespace plural::core {

using nlohmann::json;

namespace {
constexpr int64_t kModelFormatVersion = 1;
constexpr int64_t kStateFormatVersion = 1;

ItemBatch select_items(const ItemBatch& it, const torch::Tensor& rows) {
  ItemBatch out;
  auto sel = [&](const torch::Tensor& t) { return t.defined() ? t.index_select(0, rows) : t; };
  out.x = sel(it.x);
  out.prompt = sel(it.prompt);
  out.context = sel(it.context);
  out.has_context = sel(it.has_context);
  return out;
}

// LibTorch's archive reader throws c10::Error for a broken zip, but torch::jit::ErrorReport (a plain std::exception)
// for a damaged TorchScript record inside it: both mean a corrupt file.
template <typename F>
void read_archive(const std::string& path, const char* what, F&& read) {
  try {
    read();
  } catch (const ValueError&) {
    throw;
  } catch (const IoError&) {
    throw;
  } catch (const c10::Error& e) {
    throw IoError(detail::cat(path, ": ", what, ": ", std::string(e.what_without_backtrace()).substr(0, 200)));
  } catch (const std::exception& e) {
    throw IoError(detail::cat(path, ": ", what, ": ", std::string(e.what()).substr(0, 200)));
  }
}

std::string read_string(torch::serialize::InputArchive& ar, const std::string& key, const std::string& path) {
  c10::IValue v;
  bool found = false;
  read_archive(path, "corrupt file", [&] { found = ar.try_read(key, v); });
  if (!found || !v.isString())
    throw IoError(detail::cat(path, ": missing or invalid field '", key, "' (not a plural file, or corrupt)"));
  return v.toStringRef();
}
int64_t read_int(torch::serialize::InputArchive& ar, const std::string& key, const std::string& path) {
  c10::IValue v;
  bool found = false;
  read_archive(path, "corrupt file", [&] { found = ar.try_read(key, v); });
  if (!found || !v.isInt())
    throw IoError(detail::cat(path, ": missing or invalid field '", key, "' (not a plural file, or corrupt)"));
  return v.toInt();
}
torch::serialize::InputArchive open_archive(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(detail::cat(path, ": cannot open (no such file or no permission)"));
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!f.eof() && f.fail()) throw IoError(detail::cat(path, ": read error"));
  verify_zip(bytes, path);
  // The CRCs stop random damage; a fuzzer still built archives with consistent CRCs on which LibTorch's TorchScript
  // importer segfaults. So a child process parses the archive first, and such a file is an error, not a crash.
  const auto timeout = std::chrono::milliseconds(30000 + static_cast<int64_t>(bytes.size() / 1000));
  run_isolated(
      [&] {
        std::istringstream probe_in(bytes);
        torch::serialize::InputArchive probe;
        read_archive(path, "cannot read (not a plural file, or corrupt)", [&] { probe.load_from(probe_in); });
        return std::string("ok");
      },
      timeout, path);
  std::istringstream in(std::move(bytes));
  torch::serialize::InputArchive ar;
  read_archive(path, "cannot read (not a plural file, or corrupt)", [&] { ar.load_from(in); });
  return ar;
}
// Serialized in memory, then written through the one atomic writer: LibTorch's own file writer neither checks
// every write nor fsyncs, and throws c10::Error on a full disk.
void save_archive(torch::serialize::OutputArchive& ar, const std::string& path) {
  std::ostringstream bytes;
  try {
    ar.save_to(bytes);
  } catch (const c10::Error& e) {
    throw IoError(detail::cat(path, ": cannot serialize: ", std::string(e.what_without_backtrace()).substr(0, 200)));
  }
  write_file_atomic(path, bytes.str());
}

// One line per tensor (name, dtype, shape, hash of its bytes), the whole hashed: a fingerprint of exact values.
std::string tensor_line(const std::string& name, const torch::Tensor& value, const std::string& what) {
  auto t = value.detach().cpu().contiguous();
  if (t.is_floating_point())
    PLURAL_CHECK(torch::isfinite(t).all().item<bool>(), what, ": tensor '", name,
                 "' holds NaN or infinite values (a diverged training run?)");
  std::string line = name + " " + std::string(c10::toString(t.scalar_type())) + " [";
  for (auto d : t.sizes()) line += std::to_string(d) + ",";
  auto bytes = std::string_view(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return line + "] " + hash128(bytes).hex() + "\n";
}

std::string state_checksum(const UserState& s, const std::string& what) {
  std::string all =
      s.family + "\n" + s.model_id + "\n" + s.model_weights + "\n" + s.user_id + "\n" + std::to_string(s.shots) + "\n";
  for (const auto& kv : s.tensors) all += tensor_line(kv.first, kv.second, what);
  return hash128(all).hex();
}

std::string model_checksum(const std::string& family, const std::string& config, const std::string& dims,
                           const std::string& encoder_id, const std::string& weights) {
  return hash128(family + "\n" + config + "\n" + dims + "\n" + encoder_id + "\n" + weights).hex();
}
}  // namespace

std::string weights_fingerprint(const torch::nn::Module& model, const std::string& what) {
  std::string all;
  for (const auto& p : model.named_parameters()) all += tensor_line(p.key(), p.value(), what);
  for (const auto& b : model.named_buffers()) all += tensor_line("buffer:" + b.key(), b.value(), what);
  return hash128(all).hex();
}

PairBatch PairBatch::select(const torch::Tensor& rows) const {
  PairBatch out;
  out.a = select_items(a, rows);
  out.b = select_items(b, rows);
  out.user = user.index_select(0, rows);
  out.label = label.index_select(0, rows);
  out.weight = weight.index_select(0, rows);
  if (margin.defined()) out.margin = margin.index_select(0, rows);
  if (rationale.defined()) out.rationale = rationale.index_select(0, rows);
  if (rationale_id.defined()) out.rationale_id = rationale_id.index_select(0, rows);
  for (const auto& kv : extra) out.extra[kv.first] = kv.second.index_select(0, rows);
  return out;
}

// ---- UserState ------------------------------------------------------------------------------------------------

const torch::Tensor& UserState::at(const std::string& name) const {
  auto it = tensors.find(name);
  PLURAL_CHECK(it != tensors.end(), "UserState of user '", user_id, "' (", family, ") has no tensor '", name, "'");
  return it->second;
}

void UserState::save(const std::string& path) const {
  torch::serialize::OutputArchive ar;
  ar.write("plural_format", c10::IValue(std::string("plural-user-state")));
  ar.write("format_version", c10::IValue(kStateFormatVersion));
  ar.write("family", c10::IValue(family));
  ar.write("model_id", c10::IValue(model_id));
  ar.write("user_id", c10::IValue(user_id));
  ar.write("shots", c10::IValue(shots));
  ar.write("model_weights", c10::IValue(model_weights));
  ar.write("checksum", c10::IValue(state_checksum(*this, path)));
  std::string names;
  for (const auto& kv : tensors) {
    names += kv.first + "\n";
    ar.write("t." + kv.first, kv.second.detach().cpu());
  }
  ar.write("tensor_names", c10::IValue(names));
  save_archive(ar, path);
}

UserState UserState::load(const std::string& path) {
  auto ar = open_archive(path);
  PLURAL_CHECK(read_string(ar, "plural_format", path) == "plural-user-state", path, ": not a plural user state");
  int64_t v = read_int(ar, "format_version", path);
  PLURAL_CHECK(v >= 1 && v <= kStateFormatVersion, path, ": user-state format_version ", v,
               " is newer than this plural understands (", kStateFormatVersion, ")");
  UserState s;
  s.family = read_string(ar, "family", path);
  s.model_id = read_string(ar, "model_id", path);
  s.user_id = read_string(ar, "user_id", path);
  s.shots = read_int(ar, "shots", path);
  std::string names = read_string(ar, "tensor_names", path);
  size_t start = 0;
  while (start < names.size()) {
    size_t nl = names.find('\n', start);
    std::string name = names.substr(start, nl - start);
    torch::Tensor t;
    bool found = false;
    read_archive(path, "corrupt user state", [&] { found = ar.try_read("t." + name, t); });
    if (!found) throw IoError(detail::cat(path, ": tensor '", name, "' is missing"));
    s.tensors[name] = t;
    start = nl + 1;
  }
  c10::IValue weights, checksum;
  bool has_weights = false, has_checksum = false;
  read_archive(path, "corrupt user state", [&] {
    has_weights = ar.try_read("model_weights", weights);
    has_checksum = ar.try_read("checksum", checksum);  // states written before checksums have none
  });
  if (has_weights && weights.isString()) s.model_weights = weights.toStringRef();
  std::string sum = state_checksum(s, path);  // also refuses non-finite tensors
  if (has_checksum && (!checksum.isString() || checksum.toStringRef() != sum))
    throw IoError(detail::cat(path, ": corrupt user state (its contents do not match the checksum it was saved with)"));
  return s;
}

// ---- RewardModel defaults -------------------------------------------------------------------------------------

torch::Tensor RewardModel::logits(const PairBatch& batch) {
  return reward_seen(batch.a, batch.user) - reward_seen(batch.b, batch.user);
}

torch::Tensor RewardModel::logits_for(const PairBatch& batch, const UserState& state) {
  return reward(batch.a, state) - reward(batch.b, state);
}

torch::Tensor RewardModel::regularizer(const PairBatch&) { return torch::zeros({}); }

double RewardModel::regularizer_units(const PairBatch& batch) const { return static_cast<double>(batch.size()); }

std::map<std::string, std::vector<torch::Tensor>> RewardModel::param_groups() { return {{"shared", parameters()}}; }

std::vector<torch::Tensor> RewardModel::seen_user_tensors() {
  std::vector<torch::Tensor> out;
  const auto U = static_cast<int64_t>(dims_.users.size());
  auto groups = param_groups();
  auto it = groups.find("user");
  if (it == groups.end() || U == 0) return out;
  for (const auto& t : it->second)
    if (t.dim() >= 1 && t.size(0) == U) out.push_back(t);
  return out;
}

UserState RewardModel::seen_state(int64_t row) const {
  PLURAL_CHECK(row >= 0 && row < static_cast<int64_t>(dims_.users.size()), family(), ": seen user row ", row,
               " outside [0, ", dims_.users.size(), ")");
  return make_state(dims_.users[row], -1);
}

UserState RewardModel::prior_state() const { return make_state("", 0); }

std::string embedding_kind_name(UserEmbedding::Kind kind) {
  switch (kind) {
    case UserEmbedding::Kind::mixture_weights:
      return "mixture_weights";
    case UserEmbedding::Kind::latent_mean:
      return "latent_mean";
    case UserEmbedding::Kind::head:
      return "head";
    case UserEmbedding::Kind::none:
      break;
  }
  return "none";
}

int64_t RewardModel::user_row(const std::string& id) const {
  auto it = user_rows_.find(id);
  return it == user_rows_.end() ? -1 : it->second;
}

std::string RewardModel::model_id() const {
  std::call_once(id_cache_->once, [this] {
    std::string s = family() + "\n" + config_json() + "\n" + std::to_string(dims_.item_dim) + "," +
                    std::to_string(dims_.prompt_dim) + "," + std::to_string(dims_.context_dim) + "\n";
    for (const auto& u : dims_.users) s += u + "\n";
    id_cache_->id = family() + ":" + hash128(s).hex().substr(0, 16);
  });
  return id_cache_->id;
}

std::string RewardModel::weights_id() const {
  std::lock_guard<std::mutex> lock(id_cache_->weights_mutex);
  return id_cache_->weights;
}

void RewardModel::set_weights_id(std::string id) const {
  std::lock_guard<std::mutex> lock(id_cache_->weights_mutex);
  id_cache_->weights = std::move(id);
}

void RewardModel::check_state(const UserState& s, const char* fn) const {
  PLURAL_CHECK(s.family == family(), fn, ": user state '", s.user_id, "' is from a '", s.family,
               "' model, this model is '", family(), "'");
  PLURAL_CHECK(s.model_id == model_id(), fn, ": user state '", s.user_id, "' belongs to model ", s.model_id,
               ", not to this model (", model_id(), "): a different configuration, K or training set");
  if (s.model_weights.empty()) return;
  std::string mine = weights_id();
  PLURAL_CHECK(mine.empty() || mine == s.model_weights, fn, ": user state '", s.user_id,
               "' was adapted on another training run of this model (weights ", s.model_weights.substr(0, 12),
               "…, this model's are ", mine.substr(0, 12), "…); adapt her again with this model");
}

void RewardModel::set_dims(ModelDims dims) {
  dims_ = std::move(dims);
  id_cache_ = std::make_shared<IdCache>();
  user_rows_.clear();
  for (size_t i = 0; i < dims_.users.size(); ++i) {
    bool fresh = user_rows_.emplace(dims_.users[i], static_cast<int64_t>(i)).second;
    PLURAL_CHECK(fresh, family(), ": duplicate user id '", dims_.users[i], "'");
  }
}

UserState RewardModel::make_state(const std::string& user_id, int64_t shots) const {
  UserState s;
  s.family = family();
  s.model_id = model_id();
  s.user_id = user_id;
  s.shots = shots;
  s.model_weights = weights_id();
  return s;
}

UserState new_user_state(const RewardModel& model, const PairBatch& shots, const std::string& user_id) {
  UserState s = model.prior_state();
  s.user_id = user_id;
  s.shots = shots.label.defined() ? shots.size() : 0;
  return s;
}

// ---- model files ------------------------------------------------------------------------------------------------

void save_model(const RewardModel& model, const std::string& path, const std::string& encoder_id) {
  torch::serialize::OutputArchive ar;
  ar.write("plural_format", c10::IValue(std::string("plural-model")));
  ar.write("format_version", c10::IValue(kModelFormatVersion));
  ar.write("family", c10::IValue(model.family()));
  ar.write("config", c10::IValue(model.config_json()));
  json dims = {{"item_dim", model.dims().item_dim},
               {"prompt_dim", model.dims().prompt_dim},
               {"context_dim", model.dims().context_dim},
               {"users", model.dims().users}};
  ar.write("dims", c10::IValue(dims.dump()));
  ar.write("encoder_id", c10::IValue(encoder_id));
  std::string weights = weights_fingerprint(model, path);
  ar.write("weights_fingerprint", c10::IValue(weights));
  ar.write("meta_checksum",
           c10::IValue(model_checksum(model.family(), model.config_json(), dims.dump(), encoder_id, "")));
  ar.write("checksum",
           c10::IValue(model_checksum(model.family(), model.config_json(), dims.dump(), encoder_id, weights)));
  torch::serialize::OutputArchive state;
  model.save(state);
  ar.write("state", state);
  save_archive(ar, path);
  model.set_weights_id(weights);
}

std::shared_ptr<RewardModel> load_model(const std::string& path, std::string* encoder_id) {
  auto ar = open_archive(path);
  PLURAL_CHECK(read_string(ar, "plural_format", path) == "plural-model", path, ": not a plural model file");
  int64_t v = read_int(ar, "format_version", path);
  PLURAL_CHECK(v >= 1 && v <= kModelFormatVersion, path, ": model format_version ", v,
               " is newer than this plural understands (", kModelFormatVersion, ")");
  std::string family = read_string(ar, "family", path);
  const auto known = family_names();
  if (std::find(known.begin(), known.end(), family) == known.end()) {
    std::string names;
    for (const auto& n : known) names += (names.empty() ? "" : ", ") + n;
    PLURAL_CHECK(false, path, ": model family '", family, "' is not known to this build (known: ", names, ")");
  }
  const std::string config = read_string(ar, "config", path), dims_json = read_string(ar, "dims", path);
  const std::string enc = read_string(ar, "encoder_id", path);
  c10::IValue meta, stored;
  bool has_meta = false, has_checksum = false;  // models saved before checksums have neither
  read_archive(path, "corrupt model file", [&] {
    has_meta = ar.try_read("meta_checksum", meta);
    has_checksum = ar.try_read("checksum", stored);
  });
  // Checked before the model is built: a damaged config or dims could ask for any size.
  if (has_meta && (!meta.isString() || meta.toStringRef() != model_checksum(family, config, dims_json, enc, "")))
    throw IoError(detail::cat(path, ": corrupt model file (its header does not match the checksum it was saved with)"));
  ModelDims dims;
  try {
    json d = json::parse(dims_json);
    dims.item_dim = d.at("item_dim").get<int64_t>();
    dims.prompt_dim = d.at("prompt_dim").get<int64_t>();
    dims.context_dim = d.at("context_dim").get<int64_t>();
    dims.users = d.at("users").get<std::vector<std::string>>();
  } catch (const json::exception& e) {
    throw IoError(detail::cat(path, ": corrupt model file (its dims are not what plural writes: ", e.what(), ")"));
  }
  constexpr int64_t kMaxFeatureDim = 1 << 20;
  PLURAL_CHECK(dims.item_dim >= 1 && dims.item_dim <= kMaxFeatureDim && dims.prompt_dim >= 0 &&
                   dims.prompt_dim <= kMaxFeatureDim && dims.context_dim >= 0 && dims.context_dim <= kMaxFeatureDim,
               path, ": feature dims out of range (item ", dims.item_dim, ", prompt ", dims.prompt_dim, ", context ",
               dims.context_dim, ")");
  auto model = make_model(family, dims, config);
  torch::serialize::InputArchive state;
  bool has_state = false;
  read_archive(path, "corrupt model file", [&] { has_state = ar.try_read("state", state); });
  if (!has_state) throw IoError(detail::cat(path, ": model weights are missing"));
  read_archive(path, detail::cat("weights do not match the '", family, "' model they claim to be").c_str(),
               [&] { model->load(state); });
  std::string weights = weights_fingerprint(*model, path);
  if (has_checksum &&
      (!stored.isString() || stored.toStringRef() != model_checksum(family, config, dims_json, enc, weights)))
    throw IoError(detail::cat(path, ": corrupt model file (its contents do not match the checksum it was saved with)"));
  model->set_weights_id(weights);
  if (encoder_id) *encoder_id = enc;
  return model;
}

}  // namespace plural::core
