#include "core/train/distributed.hpp"

// Debian's libtorch is built with Gloo; its header hides the class unless told so (torch's own build defines it).
#define USE_C10D_GLOO
#include <torch/torch.h>

#include <cstdlib>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "core/base/error.hpp"

namespace plural::core {

namespace {

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

int env_int(const char* name, int lo, int hi) {
  const char* v = std::getenv(name);
  PLURAL_CHECK(v && *v, "distributed: ", name,
               " is not set (torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and "
               "MASTER_PORT; another launcher must set them too)");
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  PLURAL_CHECK(end && *end == '\0' && x >= lo && x <= hi, "distributed: ", name, "='", v, "' is not an integer in [",
               lo, ", ", hi, "]");
  return static_cast<int>(x);
}

using Clock = std::chrono::steady_clock;

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  if (!std::getenv("WORLD_SIZE")) return e;
  e.world_size = env_int("WORLD_SIZE", 1, 1 << 20);
  if (e.world_size == 1) return e;
  e.rank = env_int("RANK", 0, e.world_size - 1);
  e.local_rank = std::getenv("LOCAL_RANK") ? env_int("LOCAL_RANK", 0, 1 << 20) : e.rank;
  const char* addr = std::getenv("MASTER_ADDR");
  PLURAL_CHECK(addr && *addr, "distributed: MASTER_ADDR is not set (WORLD_SIZE=", e.world_size, ")");
  e.master_addr = addr;
  e.master_port = env_int("MASTER_PORT", 1, 65535);
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  e.agent_store = agent && std::string(agent) == "True";
  if (std::getenv("TORCHELASTIC_RESTART_COUNT")) e.restart_count = env_int("TORCHELASTIC_RESTART_COUNT", 0, 1 << 20);
  return e;
}

struct Collective::Impl {
  DistEnv env;
  std::chrono::milliseconds timeout{};
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  double comm_seconds = 0;
  int64_t checks = 0;

  std::string who() const {
    return "distributed rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size);
  }
  // A failed collective almost always means a peer died or hangs; say so, with gloo's own words after.
  [[noreturn]] void fail(const std::string& op, const std::exception& ex) const {
    throw IoError(who() + ": " + op + " failed: another rank exited or stopped answering within " +
                  std::to_string(timeout.count() / 1000) + " s (" + first_line(ex.what()) + ")");
  }
  // Gloo refused to start the operation (a type or shape it does not take): a plural bug, not a peer's failure.
  [[noreturn]] void refuse(const std::string& op, const std::exception& ex) const {
    throw std::logic_error(who() + ": gloo refused the " + op + ": " + first_line(ex.what()));
  }
  void run(const std::string& op, std::vector<c10::intrusive_ptr<c10d::Work>> works) {
    auto t0 = Clock::now();
    try {
      for (auto& w : works) w->wait(timeout);
    } catch (const std::exception& ex) {
      fail(op, ex);
    }
    comm_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  std::vector<std::string> gather_strings(const std::string& key, const std::string& value, const std::string& what) {
    store->set(key + "/" + std::to_string(env.rank), std::vector<uint8_t>(value.begin(), value.end()));
    std::vector<std::string> keys;
    for (int r = 0; r < env.world_size; ++r) keys.push_back(key + "/" + std::to_string(r));
    try {
      store->wait(keys, timeout);
    } catch (const std::exception& ex) {
      std::string missing;
      try {
        for (int r = 0; r < env.world_size; ++r)
          if (!store->check({keys[static_cast<size_t>(r)]}))
            missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      } catch (const std::exception&) {
        throw IoError(who() + ": the rendezvous store went away while waiting to " + what +
                      " (rank 0 exited?): " + first_line(ex.what()));
      }
      throw IoError(who() + ": waited " + std::to_string(timeout.count() / 1000) + " s for rank(s) " + missing +
                    " to " + what + ": did every rank start, and is WORLD_SIZE=" + std::to_string(env.world_size) +
                    " the same on every rank?");
    }
    std::vector<std::string> out;
    for (const auto& k : keys) {
      auto v = store->get(k);
      out.emplace_back(v.begin(), v.end());
    }
    return out;
  }
};

Collective::Collective(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Collective::~Collective() = default;

std::unique_ptr<Collective> Collective::connect(const DistEnv& env, std::chrono::milliseconds timeout) {
  PLURAL_CHECK(env.world_size >= 2, "distributed: connect needs WORLD_SIZE >= 2, got ", env.world_size);
  PLURAL_CHECK(timeout.count() > 0, "distributed: the timeout must be > 0");
  auto impl = std::make_unique<Impl>();
  impl->env = env;
  impl->timeout = timeout;
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  c10::intrusive_ptr<c10d::Store> tcp;
  const bool host = !env.agent_store && env.rank == 0;
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(env.master_port);
    o.isServer = host;
    o.waitWorkers = false;
    o.timeout = timeout;
    tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
  } catch (const std::exception& ex) {
    if (host)
      throw IoError(impl->who() + ": cannot host the rendezvous store on port " + std::to_string(env.master_port) +
                    " (is the port in use? choose another MASTER_PORT): " + first_line(ex.what()));
    throw IoError(impl->who() + ": cannot reach the rendezvous store at " + where + " within " +
                  std::to_string(timeout.count() / 1000) +
                  " s (is MASTER_ADDR right, and has rank 0 started?): " + first_line(ex.what()));
  }
  // torchrun's agent store holds every attempt's keys under this prefix (as torch.distributed does).
  c10::intrusive_ptr<c10d::Store> base = tcp;
  if (env.agent_store)
    base = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(env.restart_count), tcp);
  impl->store = c10::make_intrusive<c10d::PrefixStore>("plural", base);
  // Compare with rank 0 first: a rank told a larger WORLD_SIZE would otherwise wait for ranks that never come.
  const std::string mine = std::to_string(env.world_size);
  std::string zero;
  try {
    impl->store->set("world_size/" + std::to_string(env.rank), std::vector<uint8_t>(mine.begin(), mine.end()));
    impl->store->wait({"world_size/0"}, timeout);
    auto v = impl->store->get("world_size/0");
    zero.assign(v.begin(), v.end());
    impl->store->set("read/" + std::to_string(env.rank), {1});  // rank 0 may now exit on a mismatch
  } catch (const std::exception& ex) {
    throw IoError(impl->who() + ": rank 0 did not join the rendezvous at " + where + " within " +
                  std::to_string(timeout.count() / 1000) + " s: " + first_line(ex.what()));
  }
  if (zero != mine)
    throw ValueError(impl->who() + ": rank 0 has WORLD_SIZE=" + zero + ", this rank " + mine +
                     "; every rank must be started with the same WORLD_SIZE");
  auto sizes = impl->gather_strings("world_size", mine, "join");
  for (int r = 0; r < env.world_size; ++r)
    if (sizes[static_cast<size_t>(r)] != mine) {
      // Rank 0 hosts the store: give the other rank a moment to read rank 0's size and say the same thing.
      try {
        impl->store->wait({"read/" + std::to_string(r)}, std::min(timeout, std::chrono::milliseconds(5000)));
      } catch (const std::exception&) {
      }
      throw ValueError(impl->who() + ": rank " + std::to_string(r) +
                       " has WORLD_SIZE=" + sizes[static_cast<size_t>(r)] + ", this rank " + mine +
                       "; every rank must be started with the same WORLD_SIZE");
    }
  try {
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    opts->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                              : c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", impl->store),
                                                           env.rank, env.world_size, opts);
  } catch (const std::exception& ex) {
    throw IoError(impl->who() +
                  ": building the Gloo process group failed (set GLOO_SOCKET_IFNAME to the network "
                  "interface the ranks share): " +
                  first_line(ex.what()));
  }
  return std::unique_ptr<Collective>(new Collective(std::move(impl)));
}

int Collective::rank() const { return impl_->env.rank; }
int Collective::world_size() const { return impl_->env.world_size; }
double Collective::comm_seconds() const { return impl_->comm_seconds; }

void Collective::allreduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  torch::NoGradGuard ng;
  std::vector<std::vector<torch::Tensor>> buckets(1);
  int64_t bytes = 0;
  for (const auto& t : tensors) {
    PLURAL_ASSERT(t.scalar_type() == torch::kFloat32);
    if (t.numel() == 0) continue;  // gloo refuses empty buffers
    if (bytes > 0 && bytes + t.numel() * 4 > bucket_bytes) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(t);
    bytes += t.numel() * 4;
  }
  std::vector<torch::Tensor> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  try {
    for (auto& b : buckets) {
      if (b.empty()) continue;
      std::vector<torch::Tensor> parts;
      for (auto& t : b) parts.push_back(t.reshape({-1}));
      std::vector<at::Tensor> flat{torch::cat(parts)};
      flats.push_back(flat[0]);
      works.push_back(impl_->pg->allreduce(flat));
    }
  } catch (const std::exception& ex) {
    impl_->refuse("all-reduce", ex);
  }
  impl_->run("all-reduce", works);
  size_t f = 0;
  for (auto& b : buckets) {
    if (b.empty()) continue;
    int64_t off = 0;
    for (auto& t : b) {
      t.copy_(flats[f].slice(0, off, off + t.numel()).view(t.sizes()));
      off += t.numel();
    }
    ++f;
  }
}

std::vector<double> Collective::allreduce_values(const std::vector<double>& values) {
  if (values.empty()) return {};
  std::vector<at::Tensor> t{torch::tensor(values, torch::kFloat64)};
  c10::intrusive_ptr<c10d::Work> w;
  try {
    w = impl_->pg->allreduce(t);
  } catch (const std::exception& ex) {
    impl_->refuse("all-reduce", ex);
  }
  impl_->run("all-reduce", {w});
  auto acc = t[0].accessor<double, 1>();
  std::vector<double> out(values.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = acc[static_cast<int64_t>(i)];
  return out;
}

void Collective::broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  torch::NoGradGuard ng;
  for (const auto& x : tensors) {
    if (x.numel() == 0) continue;  // gloo refuses empty buffers
    // Gloo has no bool: masks travel as bytes.
    std::vector<at::Tensor> t{x.scalar_type() == torch::kBool ? x.detach().to(torch::kUInt8) : x.detach().contiguous()};
    c10::intrusive_ptr<c10d::Work> w;
    try {
      c10d::BroadcastOptions o;
      o.rootRank = root;
      w = impl_->pg->broadcast(t, o);
    } catch (const std::exception& ex) {
      impl_->refuse("broadcast", ex);
    }
    impl_->run("broadcast", {w});
    if (!t[0].is_same(x)) x.detach().copy_(x.scalar_type() == torch::kBool ? t[0] != 0 : t[0]);
  }
}

void Collective::require_same(const std::string& what, const std::string& value) {
  auto all = impl_->gather_strings("same/" + std::to_string(impl_->checks++), value, "check " + what);
  for (int r = 0; r < world_size(); ++r)
    if (all[static_cast<size_t>(r)] != all[0])
      throw ValueError(impl_->who() + ": ranks disagree on the " + what + ": rank 0 has '" + all[0] + "', rank " +
                       std::to_string(r) + " has '" + all[static_cast<size_t>(r)] +
                       "'; start every rank with the same command and files");
}

void Collective::barrier() {
  c10::intrusive_ptr<c10d::Work> w;
  try {
    w = impl_->pg->barrier();
  } catch (const std::exception& ex) {
    impl_->refuse("barrier", ex);
  }
  impl_->run("barrier", {w});
}

}  // namespace plural::core
