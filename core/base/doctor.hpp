#pragma once
// Environment report: versions, the BLAS actually loaded, threads, and a measured GEMM rate.
#include <string>
#include <vector>

namespace plural::core {

struct DoctorReport {
  std::string torch_version, hdf5_version, eigen_version, boost_version;
  std::string blas;  ///< the BLAS shared library mapped into this process
  int threads = 0;   ///< LibTorch intra-op threads
  int cores = 0;
  double gemm_gflops = 0;  ///< float32 n×n×n GEMM rate
  int gemm_n = 0;
  std::vector<std::string> warnings;
};

/// Measures GEMM with `n`×`n` matrices on the current thread setting.
DoctorReport run_doctor(int gemm_n = 1024);
/// What is wrong with a report's environment, one line each. A slow GEMM means reference BLAS only when no
/// optimised BLAS is loaded; with OpenBLAS or MKL loaded it is the CPU (slow or shared), which no package fixes.
std::vector<std::string> environment_warnings(const DoctorReport& r);
/// GFLOP/s of float32 matmul [m,k]x[k,n], best of `reps` after a warm-up.
double measure_gemm_gflops(int m, int k, int n, int reps = 5);

}  // namespace plural::core
