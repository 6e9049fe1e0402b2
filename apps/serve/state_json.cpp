#include "apps/serve/state_json.hpp"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/base/error.hpp"

namespace plural::apps {

using nlohmann::json;

std::string state_to_json(const core::UserState& s) {
  json tensors = json::object();
  for (const auto& [name, t] : s.tensors) {
    auto flat = t.detach().to(torch::kCPU, torch::kDouble).contiguous().view(-1);
    const double* p = flat.data_ptr<double>();
    tensors[name] = {{"dtype", std::string(c10::toString(t.scalar_type()))},
                     {"shape", t.sizes().vec()},
                     {"data", std::vector<double>(p, p + flat.numel())}};
  }
  return json{{"family", s.family},   {"model_id", s.model_id}, {"model_weights", s.model_weights},
              {"user_id", s.user_id}, {"shots", s.shots},       {"tensors", tensors}}
      .dump();
}

namespace {
c10::ScalarType dtype_named(const std::string& name, const std::string& where) {
  for (auto t : {torch::kFloat, torch::kDouble, torch::kLong, torch::kInt, torch::kBool})
    if (name == c10::toString(t)) return t;
  throw IoError(detail::cat(where, ": unknown tensor dtype '", name, "'"));
}
}  // namespace

core::UserState state_from_json(const std::string& text, const std::string& where) {
  try {
    auto j = json::parse(text);
    core::UserState s;
    s.family = j.at("family").get<std::string>();
    s.model_id = j.at("model_id").get<std::string>();
    s.model_weights = j.at("model_weights").get<std::string>();
    s.user_id = j.at("user_id").get<std::string>();
    s.shots = j.at("shots").get<int64_t>();
    for (const auto& [name, t] : j.at("tensors").items()) {
      auto shape = t.at("shape").get<std::vector<int64_t>>();
      auto data = t.at("data").get<std::vector<double>>();
      auto flat = torch::tensor(data, torch::kDouble);
      PLURAL_CHECK(flat.numel() == c10::multiply_integers(shape), where, ": tensor '", name, "' has ", flat.numel(),
                   " values for its shape");
      s.tensors[name] = flat.view(shape).to(dtype_named(t.at("dtype").get<std::string>(), where));
    }
    return s;
  } catch (const json::exception& e) {
    throw IoError(detail::cat(where, ": corrupt stored state (", e.what(), ")"));
  } catch (const ValueError& e) {
    throw IoError(e.what());
  }
}

}  // namespace plural::apps
