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

#include <chrono>
#include <string>

#include "vaekit/common.hpp"

namespace vaekit::python {

namespace py = pybind11;

// Registration functions, one per area (register_*.cpp).
void register_ppca(py::module_& m);
void register_neural(py::module_& m);
void register_io(py::module_& m);
void register_models(py::module_& m);

// For the progress callbacks of long C++ loops, which run with the GIL
// released: takes the GIL, prints `line` (unless empty) followed by `end` and
// looks for Ctrl-C. Returns false, leaving the Python exception pending for
// the binding to raise after the loop has stopped cleanly, when a signal
// handler raised (KeyboardInterrupt) during the check or during the print itself.
inline bool report_and_check_signals(const std::string& line, const char* end = "\n") {
  py::gil_scoped_acquire gil;
  try {
    // The line and its end in one write: Ctrl-C arriving during print (the
    // write interrupted, KeyboardInterrupt raised) must not leave a line
    // without its newline, which the next output would then continue.
    if (!line.empty()) py::print(line + end, py::arg("end") = "", py::arg("flush") = true);
  } catch (py::error_already_set& error) {
    error.restore();  // an exception must not cross the C++ loop: it would skip its clean-up
    return false;
  }
  return PyErr_CheckSignals() == 0;
}

// report_and_check_signals("") at most every 50 ms: cheap enough to call after
// every batch or block of rows, often enough to answer Ctrl-C well within a
// second. Returns false once a Python exception is pending.
class ThrottledSignalCheck {
 public:
  bool operator()() { return (*this)(std::chrono::steady_clock::now()); }
  // The same with the caller's reading of the clock.
  bool operator()(std::chrono::steady_clock::time_point now) {
    if (now - last_check_ < std::chrono::milliseconds(50)) return true;
    last_check_ = now;
    return report_and_check_signals("");
  }

 private:
  std::chrono::steady_clock::time_point last_check_ = std::chrono::steady_clock::now();
};

// A scipy.sparse CSR matrix as the core sees it: the Python layer passes
// (data, indices, indptr, shape) with 64-bit indices; the object keeps the
// arrays alive for as long as the view is used.
template <class T>
class CsrArrays {
 public:
  using IndexArray = py::array_t<std::int64_t, py::array::c_style>;
  using ValueArray = py::array_t<T, py::array::c_style>;
  CsrArrays(ValueArray data, IndexArray indices, IndexArray indptr, Index rows, Index cols)
      : data_(std::move(data)), indices_(std::move(indices)), indptr_(std::move(indptr)) {
    require(rows >= 0 && cols >= 0, "sparse X: negative shape");
    require(indptr_.ndim() == 1 && indptr_.shape(0) == rows + 1, "sparse X: indptr must have n_samples + 1 entries");
    require(indices_.ndim() == 1 && data_.ndim() == 1 && indices_.shape(0) == data_.shape(0),
            "sparse X: indices and data must be 1-D arrays of one length");
    const std::int64_t* offsets = indptr_.data();
    require(rows == 0 || (offsets[0] == 0 && offsets[rows] <= indices_.shape(0) && offsets[rows] >= 0),
            "sparse X: indptr must start at 0 and end within data");
    view_ = {rows, cols, offsets, indices_.data(), data_.data()};
  }
  const CsrMatrixView<T>& view() const { return view_; }

 private:
  ValueArray data_;
  IndexArray indices_, indptr_;
  CsrMatrixView<T> view_;
};

}  // namespace vaekit::python
