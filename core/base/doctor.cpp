#include "core/base/doctor.hpp"

#include <H5public.h>
#include <torch/torch.h>

#include <Eigen/Core>
#include <boost/version.hpp>
#include <chrono>
#include <fstream>
#include <thread>

namespace plural::core {

double measure_gemm_gflops(int m, int k, int n, int reps) {
  torch::NoGradGuard no_grad;
  auto a = torch::randn({m, k}), b = torch::randn({k, n});
  auto c = torch::mm(a, b);  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    torch::mm_out(c, a, b);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * m * k * n / best / 1e9;
}

namespace {
std::string loaded_blas() {
  std::ifstream maps("/proc/self/maps");
  std::string line, found;
  while (std::getline(maps, line)) {
    auto pos = line.find('/');
    if (pos == std::string::npos) continue;
    std::string path = line.substr(pos);
    if ((path.find("blas") != std::string::npos || path.find("mkl") != std::string::npos) &&
        found.find(path) == std::string::npos)
      found += (found.empty() ? "" : ", ") + path;
  }
  return found.empty() ? "none found in /proc/self/maps" : found;
}
}  // namespace

std::vector<std::string> environment_warnings(const DoctorReport& r) {
  std::vector<std::string> w;
  const bool optimised = r.blas.find("openblas") != std::string::npos || r.blas.find("mkl") != std::string::npos;
  const int used = std::max(1, std::min(r.threads, r.cores));
  const double floor = 50.0 * used;
  const std::string rate = "GEMM runs at " + std::to_string(static_cast<int>(r.gemm_gflops)) + " GFLOP/s on " +
                           std::to_string(used) + (used == 1 ? " thread" : " threads") + ", below " +
                           std::to_string(static_cast<int>(floor));
  if (r.gemm_gflops < floor)
    w.push_back(rate + (optimised ? " with an optimised BLAS loaded: the CPU is slow or shared with other work, so "
                                    "timings taken here compare only with each other (ratios), not with other machines'"
                                  : ": LibTorch is probably on reference BLAS. Install an optimised one: "
                                    "apt-get install libopenblas0-openmp"));
  if (!optimised) w.push_back("the loaded BLAS is not OpenBLAS or MKL (" + r.blas + ")");
  if (r.threads < r.cores)
    w.push_back("LibTorch uses " + std::to_string(r.threads) + " of " + std::to_string(r.cores) +
                " cores (set --threads)");
  return w;
}

DoctorReport run_doctor(int gemm_n) {
  DoctorReport r;
  r.torch_version = TORCH_VERSION;
  unsigned maj, min, rel;
  H5get_libversion(&maj, &min, &rel);
  r.hdf5_version = std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel);
  r.eigen_version = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
                    std::to_string(EIGEN_MINOR_VERSION);
  r.boost_version = std::to_string(BOOST_VERSION / 100000) + "." + std::to_string(BOOST_VERSION / 100 % 1000) + "." +
                    std::to_string(BOOST_VERSION % 100);
  r.threads = at::get_num_threads();
  r.cores = static_cast<int>(std::thread::hardware_concurrency());
  r.gemm_n = gemm_n;
  r.gemm_gflops = measure_gemm_gflops(gemm_n, gemm_n, gemm_n);
  r.blas = loaded_blas();
  r.warnings = environment_warnings(r);
  return r;
}

}  // namespace plural::core
