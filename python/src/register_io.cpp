// Bindings of the model files (vaekit/io.hpp). Thin: paths arrive as
// std::filesystem::path (str or os.PathLike, converted by pybind11), metadata
// as a dict of strings; the GIL is released around the file work.
#include <string>
#include <utility>
#include <variant>

#include "pybind11.hpp"
#include "vaekit/io.hpp"

namespace vaekit::python {
namespace {

py::dict info_dict(const ModelInfo& info) {
  py::dict result;
  result["kind"] = info.kind;
  result["dtype"] = info.dtype;
  result["format_version"] = info.format_version;
  result["vaekit_version"] = info.vaekit_version;
  result["metadata"] = info.metadata;
  return result;
}

// save_model and model_metadata, overloaded on the native model type.
template <class Model>
void register_model_io(py::module_& m) {
  // Safe without the GIL: the model is a C++ object the caller's argument
  // keeps alive, the path and metadata were converted to C++ values.
  m.def(
      "save_model",
      [](const std::filesystem::path& path, const Model& model, const Metadata& metadata) {
        save(path, model, metadata);
      },
      py::arg("path"), py::arg("model"), py::arg("metadata") = Metadata(), py::call_guard<py::gil_scoped_release>());
  m.def(
      "model_metadata", [](const Model& model) { return model_metadata(model); }, py::arg("model"));
}

// IOError -> OSError(errno, message): Python picks the subclass from errno
// (FileNotFoundError, PermissionError, IsADirectoryError...).
void translate_io_error(std::exception_ptr exception) {
  try {
    if (exception) std::rethrow_exception(exception);
  } catch (const IOError& error) {
    if (error.error_code() == 0) {
      PyErr_SetString(PyExc_OSError, error.what());
      return;
    }
    PyObject* instance = PyObject_CallFunction(PyExc_OSError, "is", error.error_code(), error.what());
    if (instance != nullptr) {
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(instance)), instance);
      Py_DECREF(instance);
    }
  }
}

}  // namespace

void register_io(py::module_& m) {
  py::register_local_exception_translator(&translate_io_error);
  register_model_io<PPCA<float>>(m);
  register_model_io<PPCA<double>>(m);
  register_model_io<Autoencoder<float>>(m);
  register_model_io<Autoencoder<double>>(m);
  register_model_io<VAE<float>>(m);
  register_model_io<VAE<double>>(m);
  m.def(
      "load_model",
      [](const std::filesystem::path& path) {
        LoadedModel loaded = [&] {
          py::gil_scoped_release release;  // no Python object is touched while reading
          return load_model(path);
        }();
        py::object model = std::visit([](auto& native) { return py::cast(std::move(native)); }, loaded.model);
        return py::make_tuple(model, info_dict(loaded.info));
      },
      py::arg("path"), "(native model, info dict) of a model file, in the kind and dtype it was saved with.");
  m.def(
      "read_model_info",
      [](const std::filesystem::path& path) {
        ModelInfo info;
        {
          py::gil_scoped_release release;
          info = read_model_info(path);
        }
        return info_dict(info);
      },
      py::arg("path"), "kind, dtype, versions and metadata of a model file (the header only).");
}

}  // namespace vaekit::python
