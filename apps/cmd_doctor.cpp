// plural doctor: versions, BLAS, threads and a measured GEMM rate.
#include <iostream>
#include <nlohmann/json.hpp>

#include "apps/commands.hpp"
#include "core/doctor.hpp"
#include "core/encoder.hpp"
#include "core/losses.hpp"
#include "core/model.hpp"
#include "core/progress.hpp"

namespace plural::apps {

void add_doctor(CLI::App& app, Common& common) {
  struct Opts {
    bool json_out = false;
    int n = 1024;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("doctor", "Check the environment: versions, BLAS, threads, GEMM GFLOP/s");
  cmd->add_option("--gemm-n", o->n, "GEMM size n (n×n×n)")->capture_default_str();
  cmd->add_option("--threads", common.threads, "LibTorch threads (0 = all cores)");
  cmd->add_flag("--json", o->json_out, "print one JSON object");
  cmd->callback([o, &common] {
    core::set_threads(common.threads);
    auto r = core::run_doctor(o->n);
    if (o->json_out) {
      nlohmann::json j = {{"torch", r.torch_version}, {"hdf5", r.hdf5_version},  {"eigen", r.eigen_version},
                          {"boost", r.boost_version}, {"blas", r.blas},          {"threads", r.threads},
                          {"cores", r.cores},         {"gemm_n", r.gemm_n},      {"gemm_gflops", r.gemm_gflops},
                          {"warnings", r.warnings}};
      std::cout << j.dump() << "\n";
      return;
    }
    std::printf("plural 0.1.0\n  LibTorch %s, HDF5 %s, Eigen %s, Boost %s\n", r.torch_version.c_str(),
                r.hdf5_version.c_str(), r.eigen_version.c_str(), r.boost_version.c_str());
    std::printf("  BLAS: %s\n  threads: %d of %d cores\n  GEMM %dx%dx%d float32: %.1f GFLOP/s\n", r.blas.c_str(),
                r.threads, r.cores, r.gemm_n, r.gemm_n, r.gemm_n, r.gemm_gflops);
    std::printf("  model families:");
    for (const auto& kv : core::model_families()) std::printf(" %s", kv.first.c_str());
    std::printf("\n  encoders:");
    for (const auto& kv : core::encoder_names()) std::printf(" %s", kv.first.c_str());
    std::printf("\n  losses:");
    for (const auto& kv : core::loss_names()) std::printf(" %s", kv.first.c_str());
    std::printf("\n");
    for (const auto& w : r.warnings) std::printf("WARNING: %s\n", w.c_str());
    if (r.warnings.empty()) std::printf("  ok\n");
  });
}

}  // namespace plural::apps
