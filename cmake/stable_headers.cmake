# pip builds each install in a new temporary environment, where it finds
# Eigen (cmeel-eigen) and pybind11 at a new path: every compile command would
# change, and the build directory kept between installs (pyproject.toml's
# build-dir) would recompile everything, for `pip install ".[test]"` right
# after `pip install .` too. vaekit_stable_headers(TARGET NAME) copies an
# imported target's headers into the build tree and points the target there.
# configure_file rewrites a copy only when its content changed, so an
# unchanged header keeps its timestamp and its objects stay up to date. A
# target that does not exist or has no include directories is left alone.
function(vaekit_stable_headers target name)
  if(NOT TARGET ${target})
    return()
  endif()
  get_target_property(_dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT _dirs)
    return()  # e.g. a target that only links another
  endif()
  set(_stable_dirs "")
  set(_index 0)
  foreach(_dir IN LISTS _dirs)
    set(_stable ${CMAKE_BINARY_DIR}/stable-include/${name}-${_index})
    file(GLOB_RECURSE _headers RELATIVE ${_dir} ${_dir}/*)
    foreach(_header IN LISTS _headers)
      configure_file(${_dir}/${_header} ${_stable}/${_header} COPYONLY)
    endforeach()
    list(APPEND _stable_dirs ${_stable})
    math(EXPR _index "${_index} + 1")
  endforeach()
  set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_stable_dirs}")
endfunction()
