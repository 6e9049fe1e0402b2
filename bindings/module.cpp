// plural._core: the C++ library one to one. The thin Python layer (plural/__init__.py, plural/model.py) adds the
// scikit-learn-shaped estimator on top.
#include <pybind11/numpy.h>
#include <torch/csrc/utils/tensor_numpy.h>

#include "bindings/bindings.hpp"
#include "core/base/error.hpp"
#include "core/session/builtin_families.hpp"

namespace plural::bindings {

torch::Tensor tensor_arg(const py::handle& obj, const char* fn, const char* field) {
  if (THPVariable_Check(obj.ptr())) return THPVariable_Unpack(obj.ptr());
  if (py::isinstance<py::array>(obj)) return torch::utils::tensor_from_numpy(obj.ptr(), false);
  throw ValueError(detail::cat(fn, ": ", field, " must be a torch.Tensor or a numpy array, got ",
                               py::str(py::type::of(obj).attr("__name__")).cast<std::string>()));
}

py::object json_loads(const std::string& text) { return py::module_::import("json").attr("loads")(text); }

std::string json_dumps(const py::handle& obj) {
  if (py::isinstance<py::str>(obj)) return obj.cast<std::string>();  // already JSON text
  return py::module_::import("json").attr("dumps")(obj).cast<std::string>();
}

}  // namespace plural::bindings

PYBIND11_MODULE(_core, m) {
  namespace py = pybind11;
  using namespace plural::bindings;
  // Returning a tensor before torch's own module is initialised crashes the interpreter.
  py::module_::import("torch");
  plural::core::register_builtin_families();
  m.doc() = "plural: pluralistic and personalized preference modeling (C++ core)";
  // ValueError comes for free (plural::ValueError is a std::invalid_argument); I/O problems are OSError.
  py::register_exception<plural::IoError>(m, "IoError", PyExc_OSError);
  bind_data(m);
  bind_features(m);
  bind_models(m);
  bind_users(m);
}
