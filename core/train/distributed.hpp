#pragma once
// Data-parallel collectives over torch's c10d ProcessGroupGloo: one process per rank, launched by torchrun (or any
// launcher that sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT). The c10d and gloo headers stay in the .cpp.
#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace plural::core {

/// What the launcher told this process (torchrun's standard environment).
struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool agent_store = false;  ///< TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent hosts the store
  int restart_count = 0;     ///< TORCHELASTIC_RESTART_COUNT (names the agent store's key prefix)
  bool distributed() const { return world_size > 1; }
};

/// Reads and checks the environment; a missing or malformed variable is a ValueError naming it. Without WORLD_SIZE
/// (or with WORLD_SIZE=1) the result is a single process.
DistEnv dist_env_from_environment();

/// One rank's connection to the others. Every call is collective: all ranks make it, in the same order.
/// A peer that exits or stops answering turns into an IoError naming this rank and the operation, within the
/// timeout, never a hang.
class Collective {
 public:
  /// Rendezvous: rank 0 hosts a TCP store at MASTER_ADDR:MASTER_PORT unless torchrun's agent already does; then
  /// every rank checks that all agree on WORLD_SIZE before building the Gloo process group.
  static std::unique_ptr<Collective> connect(const DistEnv& env, std::chrono::milliseconds timeout);
  ~Collective();

  int rank() const;
  int world_size() const;

  /// In place: each tensor becomes the sum over ranks. Tensors are packed into ~`bucket_bytes` flat float buffers,
  /// all of them in flight at once.
  void allreduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = 8 << 20);
  /// Sum over ranks of a few numbers (metrics).
  std::vector<double> allreduce_values(const std::vector<double>& values);
  /// In place: every rank receives rank `root`'s values.
  void broadcast(const std::vector<torch::Tensor>& tensors, int root = 0);
  /// Every rank publishes `value` under `what`; throws ValueError on every rank when any two differ, naming the
  /// ranks and both values (used for model config, train config and cache identity).
  void require_same(const std::string& what, const std::string& value);
  void barrier();

  /// Seconds spent inside collectives so far (for the scaling benchmark).
  double comm_seconds() const;

 private:
  struct Impl;
  explicit Collective(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace plural::core
