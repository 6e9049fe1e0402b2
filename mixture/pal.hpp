#pragma once
// PAL (Chen et al., ICLR 2025) at the embedding level, and LoRe, on frozen features. Label convention: our
// comparisons carry P(a ≻ b); PAL's y = -1 "left preferred" maps to label 1 with a = left (tests check it).
#include <memory>
#include <string>

#include "mixture/distance_head.hpp"
#include "mixture/frozen_projector.hpp"
#include "mixture/mixture_model.hpp"
#include "mixture/projector.hpp"
#include "mixture/row_memo.hpp"

namespace plural::mixture {

/// PAL-B: r_u(x, c) = τ · cos(f(x), Σ_k w_uk g_k(c)), τ = min(exp(s), 100). Family "pal-b".
class PalB : public MixtureModel {
 public:
  struct Config {
    int64_t k = 2;
    // d = 64 with dropout 0.3 beat the reference's d = feature dim without dropout on Persona-K (0.893 vs 0.860
    // seen-user accuracy, 4.8x faster training; docs/pal.md "choosing the defaults").
    int64_t dim = 64;                         ///< projection width d (0 = item feature dim)
    std::string proj = "mlp2-gelu-dropout3";  ///< f and every g_k
    double bound = 4.0, bound_lambda = 0.0;   ///< λ·mean(max(0, ‖a‖ − U)) on ideal points (0 = off)
    bool partition = false;
    double prior_var = 4.0;
  };
  PalB(const core::ModelDims& dims, Config config);
  std::string family() const override { return "pal-b"; }
  std::string config_json() const override;
  bool scale_logits(double factor) override;
  torch::Tensor reward_weights(const core::ItemBatch& items, const torch::Tensor& w) override;
  torch::Tensor reward_sides(const core::ItemBatch& both, const torch::Tensor& w) override;
  torch::Tensor regularizer(const core::PairBatch& batch) override;
  std::unique_ptr<ShotGeometry> geometry(const core::PairBatch& shots) override;
  /// f(x)/‖f(x)‖: the reward is τ·cos with it.
  torch::Tensor item_representation(const core::ItemBatch& items) override;
  double tau() const;
  /// Also reads files saved before the prompt projectors became one bank (K separate projectors under "g").
  void load(torch::serialize::InputArchive& archive) override;

 private:
  /// Rewards of items that form `sides` equal blocks (1, or 2 for a batch's [a; b]) whose prompt rows are kept apart
  /// in training (see distinct_prototypes).
  torch::Tensor rewards(const core::ItemBatch& items, const torch::Tensor& w, int64_t sides);
  /// The prototypes of each distinct prompt [P, K, d] and each row's index into them [B]. In training a prompt is
  /// distinct per side: the K projectors' dropout masks are drawn per distinct row, and a pair whose two sides
  /// shared them scored ~1 point lower on Persona-K (bench/RESULTS.md, "Fewer ops per step").
  std::pair<torch::Tensor, torch::Tensor> distinct_prototypes(const torch::Tensor& prompts, int64_t rows,
                                                              int64_t sides);
  torch::Tensor project_prompts(const torch::Tensor& distinct);  // [P, K, d]
  /// One prompt's prototypes G [K, d] (float32, contiguous) and their Gram matrix G Gᵀ [K, K] (the geometry's M_p).
  struct PromptPrototypes {
    torch::Tensor protos;
    std::vector<double> gram;
  };
  static std::vector<PromptPrototypes> split_prototypes(const torch::Tensor& table);  // [P, K, d] → P of them
  /// The prototypes of each distinct row of `rows` (row i at rows[i]): a frozen model's from the memo.
  std::vector<std::shared_ptr<const PromptPrototypes>> prompt_prototypes(const float* const* rows,
                                                                         const DistinctRows& d);
  /// The shots' normalised item representations [2n, d] (a's rows, then b's) through an inference copy of f.
  std::vector<float> frozen_item_rows(const core::PairBatch& shots);
  Config config_;
  std::shared_ptr<VersionedValue<FrozenProjector>> frozen_f_ = std::make_shared<VersionedValue<FrozenProjector>>();
  std::vector<torch::Tensor> f_state_, g_state_;  // f's and g's parameters and buffers (the caches' version keys)
  // g(prompt) per distinct prompt of a frozen model: a new user's shots and scored items mostly reuse a few
  // prompts, and their K projector passes dominated a few-shot adaptation.
  std::shared_ptr<KeyedMemo<PromptPrototypes>> prompt_memo_ = std::make_shared<KeyedMemo<PromptPrototypes>>();
  // τ of a frozen model: reading log_scale_ is a LibTorch op, ~1 µs of a few-µs adaptation.
  std::shared_ptr<VersionedValue<double>> frozen_tau_ = std::make_shared<VersionedValue<double>>();
  Projector f_{nullptr};
  ProjectorBank g_{nullptr};
  torch::Tensor fixed_protos_;  // [K, d] when the data has no prompts
  torch::Tensor log_scale_;
  torch::Tensor last_bound_;  // Σ max(0, ‖a‖ − U) over the items scored since regularizer() last ran
  int64_t last_bound_rows_ = 0;
};

/// PAL-A: r_u(x) = −‖f(x) − a_u‖ with ideal point a_u = Σ_k w_uk f(p_k) ("f(P)w", default), Σ_k w_uk p_k in the
/// projected space ("Pw"), or the original's f(Σ_k w_uk p_k) ("f(Pw)", not linear in w: its Newton geometry runs
/// f on every step, so adapting is slower). Family "pal-a".
class PalA : public MixtureModel {
 public:
  struct Config {
    int64_t k = 2;
    int64_t dim = 0;
    std::string proj = "mlp2-gelu-dropout0";
    std::string variant = "f(P)w";  ///< f(P)w | Pw | f(Pw)
    bool use_prompt = true;         ///< item = [x; prompt] as the original's prompt ⊕ response
    bool partition = false;
    double prior_var = 4.0;
  };
  PalA(const core::ModelDims& dims, Config config);
  std::string family() const override { return "pal-a"; }
  std::string config_json() const override;
  bool scale_logits(double factor) override;
  torch::Tensor reward_weights(const core::ItemBatch& items, const torch::Tensor& w) override;
  std::unique_ptr<ShotGeometry> geometry(const core::PairBatch& shots) override;
  /// f(x) (or f([x; prompt])): where the ideal points live.
  torch::Tensor item_representation(const core::ItemBatch& items) override { return embed(items); }

 private:
  torch::Tensor embed(const core::ItemBatch& items);
  torch::Tensor ideal_basis();  // [K, d]: f(P) or P
  /// embed() of a frozen model through an inference copy of f: no LibTorch op per item.
  torch::Tensor frozen_embed(const core::ItemBatch& items);
  std::shared_ptr<const FrozenProjector> frozen_f();
  /// f(items), or f's last hidden layer, through the inference copy, into out (row-major).
  void frozen_pass(const core::ItemBatch& items, const FrozenProjector& f, FrozenProjector::Until until, float* out);
  Config config_;
  Projector f_{nullptr};
  torch::Tensor protos_;
  std::vector<torch::Tensor> f_state_, basis_state_;  // f's tensors, and with the prototypes: the caches' version keys
  std::shared_ptr<VersionedValue<FrozenProjector>> frozen_f_ = std::make_shared<VersionedValue<FrozenProjector>>();
  // A frozen model's shared parts, computed once instead of on every adaptation and scoring call: f(P), and each
  // distinct prompt's share p W_pᵀ + b of f's first layer (f([x; p]) then costs a third less per item).
  std::shared_ptr<RowMemo> prompt_memo_ = std::make_shared<RowMemo>();
  std::shared_ptr<VersionedValue<torch::Tensor>> basis_ = std::make_shared<VersionedValue<torch::Tensor>>();
  std::shared_ptr<VersionedValue<DistanceHead>> head_ = std::make_shared<VersionedValue<DistanceHead>>();
};

/// LoRe: r_u(x) = φ(x)ᵀ V w_u with a shared low-rank basis V [D, K] and simplex weights w_u. Family "lore".
class LoRe : public MixtureModel {
 public:
  struct Config {
    int64_t k = 4;
    bool use_prompt = true;
    double prior_var = 4.0;
  };
  LoRe(const core::ModelDims& dims, Config config);
  std::string family() const override { return "lore"; }
  std::string config_json() const override;
  bool scale_logits(double factor) override;
  torch::Tensor reward_weights(const core::ItemBatch& items, const torch::Tensor& w) override;
  std::unique_ptr<ShotGeometry> geometry(const core::PairBatch& shots) override;
  /// Vᵀφ(x): the item's K basis scores.
  torch::Tensor item_representation(const core::ItemBatch& items) override;

 private:
  torch::Tensor phi(const core::ItemBatch& items) const;
  Config config_;
  torch::Tensor basis_;
};

}  // namespace plural::mixture
