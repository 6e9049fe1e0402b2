#pragma once
// The shot geometries of the mixture family: each model's frozen forward over a user's shots, reduced to what the
// Newton adapter needs in K dimensions (ShotGeometry, mixture_model.hpp). The classes live in the .cpp; a model
// builds its own through these functions.
#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "mixture/mixture_model.hpp"

namespace plural::mixture {

class ProjectorImpl;

/// The shots' frozen forward, checked before Newton runs on it: NaN features give an error, not a NaN state.
void check_finite(const std::vector<double>& values, const char* family);

/// PAL-B: z = τ (wᵀu_a / ‖G_pa ᵀw‖ − wᵀu_b / ‖G_pb ᵀw‖) with u = G_p e per item [n, K] per side, the Gram matrices
/// M_p = G_p G_pᵀ [P, K, K] of the distinct prompts, and each item's prompt index per side.
std::unique_ptr<ShotGeometry> cosine_geometry(int64_t n, int64_t k, double tau, std::vector<double> ua,
                                              std::vector<double> ub, std::vector<double> grams,
                                              std::vector<int64_t> pa, std::vector<int64_t> pb);
/// PAL-A (f(P)w, Pw): from both sides' v = e Fᵀ [2n, K] (a's rows, then b's), c = ‖e‖² [2n] and FFᵀ [K, K]; checks
/// that they are finite.
std::unique_ptr<ShotGeometry> distance_geometry(int64_t n, int64_t k, const std::vector<double>& v,
                                                const std::vector<double>& c, std::vector<double> gram);
/// PAL-A f(Pw): a frozen float64 copy of f, the prototypes [K, in] and each side's f(x) [n, d].
std::unique_ptr<ShotGeometry> ideal_point_geometry(int64_t n, int64_t k, std::shared_ptr<ProjectorImpl> f,
                                                   at::Tensor protos, std::vector<double> ea, std::vector<double> eb);
/// LoRe: z = wᵀ(s_a − s_b) from the differences [n, K].
std::unique_ptr<ShotGeometry> linear_geometry(int64_t n, int64_t k, std::vector<double> diff);

}  // namespace plural::mixture
