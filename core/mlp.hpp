#pragma once
// A plain MLP: Linear -> activation -> dropout, repeated, then a final Linear.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

#include "core/base/config_schema.hpp"

namespace plural::core {

struct MlpOptions {
  std::vector<int64_t> hidden = {256};
  std::string activation = "gelu";  ///< gelu | relu | leaky_relu (slope 0.2, as VPL) | tanh | silu
  double dropout = 0.0;
  void validate(const char* who) const;
};

/// Declares an MLP's hidden widths, activation and dropout as fields of a config that holds it at `mlp`.
template <class Config>
void mlp_fields(ConfigSchema<Config>& schema, MlpOptions Config::*mlp) {
  schema
      .field(
          "hidden", [mlp](Config& c) -> std::vector<int64_t>& { return (c.*mlp).hidden; }, "hidden layer widths", 1,
          kMaxWidth)
      .field(
          "activation", [mlp](Config& c) -> std::string& { return (c.*mlp).activation; },
          "gelu | relu | leaky_relu | tanh | silu")
      .field(
          "dropout", [mlp](Config& c) -> double& { return (c.*mlp).dropout; }, "dropout after each hidden layer");
}

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t in, int64_t out, const MlpOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  /// Everything but the final Linear: the last hidden layer's output (x itself without hidden layers).
  torch::Tensor hidden(const torch::Tensor& x);
  /// Multiplies the output by `factor` (the final Linear's weight and bias), in place.
  void scale_output(double factor);

 private:
  torch::nn::Sequential net_;
};
TORCH_MODULE(Mlp);

}  // namespace plural::core
