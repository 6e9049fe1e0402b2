// plural doctor's warnings: a slow GEMM is blamed on reference BLAS only when no optimised BLAS is loaded.
#include <catch2/catch.hpp>

#include "core/base/doctor.hpp"

using namespace plural::core;
using Catch::Contains;

namespace {
DoctorReport report(const std::string& blas, double gflops, int threads = 2, int cores = 2) {
  DoctorReport r;
  r.blas = blas;
  r.gemm_gflops = gflops;
  r.threads = threads;
  r.cores = cores;
  return r;
}
const std::string openblas = "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblasp-r0.3.21.so";
const std::string reference = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3";
}  // namespace

TEST_CASE("doctor: a fast GEMM on OpenBLAS with every core warns of nothing", "[doctor]") {
  CHECK(environment_warnings(report(openblas, 120)).empty());
}

TEST_CASE("doctor: a slow GEMM on reference BLAS says to install OpenBLAS", "[doctor]") {
  auto w = environment_warnings(report(reference, 3.7));
  REQUIRE(w.size() == 2);
  CHECK_THAT(w[0], Contains("3 GFLOP/s on 2 threads, below 100") && Contains("apt-get install libopenblas0-openmp"));
  CHECK_THAT(w[1], Contains("not OpenBLAS or MKL") && Contains(reference));
}

TEST_CASE("doctor: a slow GEMM with OpenBLAS loaded blames the CPU, not the BLAS", "[doctor]") {
  auto w = environment_warnings(report(openblas, 44.3));
  REQUIRE(w.size() == 1);
  CHECK_THAT(w[0], Contains("44 GFLOP/s on 2 threads") && Contains("optimised BLAS loaded"));
  CHECK_THAT(w[0], !Contains("reference BLAS"));
}

TEST_CASE("doctor: the floor scales with the threads LibTorch uses, and unused cores are reported", "[doctor]") {
  auto w = environment_warnings(report(openblas, 60, 1, 2));
  REQUIRE(w.size() == 1);
  CHECK_THAT(w[0], Contains("uses 1 of 2 cores"));
  CHECK(environment_warnings(report(openblas, 60, 2, 2)).size() == 1);  // 60 < 100 on two threads
}
