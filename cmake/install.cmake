# Installs the C++ library as a CMake package: find_package(vaekit CONFIG)
# then target_link_libraries(app PRIVATE vaekit::vaekit). Included from the
# top-level CMakeLists.txt when VAEKIT_CPP_PACKAGE is ON.
include(CMakePackageConfigHelpers)

install(TARGETS vaekit EXPORT vaekitTargets ARCHIVE DESTINATION ${VAEKIT_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/cpp/include/vaekit
    DESTINATION ${VAEKIT_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.hpp")
install(EXPORT vaekitTargets NAMESPACE vaekit:: DESTINATION ${VAEKIT_INSTALL_CMAKEDIR})

# The config file looks for Eigen where the consumer says first, then here:
# with plain CMake, where vaekit found it at build time; a wheel is built in a
# throw-away environment, so it looks beside itself instead, for the PyPI
# package cmeel-eigen in the same site-packages (the wheel's install prefix).
if(DEFINED SKBUILD)
  set(VAEKIT_EIGEN3_FALLBACK "\${PACKAGE_PREFIX_DIR}/cmeel.prefix")
else()
  set(VAEKIT_EIGEN3_FALLBACK "${Eigen3_DIR}")
endif()
configure_package_config_file(
    ${PROJECT_SOURCE_DIR}/cmake/vaekitConfig.cmake.in
    ${PROJECT_BINARY_DIR}/vaekitConfig.cmake
    INSTALL_DESTINATION ${VAEKIT_INSTALL_CMAKEDIR})
# 0.x releases may break the API between minor versions.
write_basic_package_version_file(
    ${PROJECT_BINARY_DIR}/vaekitConfigVersion.cmake
    VERSION ${PROJECT_VERSION}
    COMPATIBILITY SameMinorVersion)
install(FILES
    ${PROJECT_BINARY_DIR}/vaekitConfig.cmake
    ${PROJECT_BINARY_DIR}/vaekitConfigVersion.cmake
    DESTINATION ${VAEKIT_INSTALL_CMAKEDIR})
