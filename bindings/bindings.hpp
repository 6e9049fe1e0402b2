#pragma once
// The pieces of the `plural._core` module, one file each; module.cpp puts them together. Only binding code
// includes <torch/extension.h> (torch's pybind11 casters: tensors cross without copies).
#include <torch/extension.h>

#include <string>

namespace plural::core {
struct UserEmbedding;
}

namespace plural::bindings {

namespace py = pybind11;

void bind_data(py::module_& m);      // PreferenceData, readers, Persona-K, UKP
void bind_features(py::module_& m);  // encoders, FeatureCache, DatasetView
void bind_models(py::module_& m);    // batches, UserState, RewardModel, registry, Trainer, Evaluator
void bind_users(py::module_& m);     // adapters, query scorers, Personalizer

/// A tensor argument given as a torch.Tensor or a numpy array (shared, not copied); anything else is a ValueError
/// naming `fn` and `field`.
torch::Tensor tensor_arg(const py::handle& obj, const char* fn, const char* field);

/// A JSON string as a Python object (dict/list/...), and back; model configs cross as dicts.
py::object json_loads(const std::string& text);
std::string json_dumps(const py::handle& obj);

/// A user's typed embedding as Python sees it: (kind, tensor), or ("none", None) for families without one.
py::tuple embedding_tuple(const core::UserEmbedding& e);

}  // namespace plural::bindings
