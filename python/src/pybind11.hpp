// Include pybind11 through this header in every binding source, so that all
// translation units see the same type casters (differing casters for one type
// across files would be an ODR violation).
#pragma once

#include <pybind11/eigen.h>
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "vaekit/common.hpp"

namespace vaekit::python {

namespace py = pybind11;

// Registration functions, one per area (register_*.cpp).
void register_ppca(py::module_& m);
void register_neural(py::module_& m);
void register_io(py::module_& m);

}  // namespace vaekit::python
