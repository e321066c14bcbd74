# version_matches_cmake (cmake -P): include/weft/version.hpp must state the
# same version as project(weft VERSION ...) in CMakeLists.txt.
#   cmake -DVERSION_HPP=<path> -DEXPECTED=<X.Y.Z> -P check_version.cmake
cmake_minimum_required(VERSION 3.24)
if(NOT EXISTS "${VERSION_HPP}" OR NOT EXPECTED)
  message(FATAL_ERROR "usage: cmake -DVERSION_HPP=<version.hpp> -DEXPECTED=<X.Y.Z> -P check_version.cmake")
endif()
file(READ "${VERSION_HPP}" text)

set(parts)
foreach(part MAJOR MINOR PATCH)
  if(NOT text MATCHES "#[ \t]*define[ \t]+WEFT_VERSION_${part}[ \t]+([0-9]+)")
    message(FATAL_ERROR "${VERSION_HPP}: no '#define WEFT_VERSION_${part} <number>'")
  endif()
  list(APPEND parts "${CMAKE_MATCH_1}")
endforeach()
list(JOIN parts "." from_macros)

if(NOT text MATCHES "version_string[ \t]*=[ \t]*\"([^\"]*)\"")
  message(FATAL_ERROR "${VERSION_HPP}: no 'version_string = \"X.Y.Z\"'")
endif()
set(from_string "${CMAKE_MATCH_1}")

message(STATUS "CMakeLists.txt project(weft VERSION ${EXPECTED})")
message(STATUS "version.hpp   WEFT_VERSION_MAJOR/MINOR/PATCH = ${from_macros}, version_string = \"${from_string}\"")
if(NOT from_macros STREQUAL EXPECTED OR NOT from_string STREQUAL EXPECTED)
  message(FATAL_ERROR "version mismatch: project(weft VERSION ${EXPECTED}) but version.hpp says "
                      "${from_macros} (macros) / \"${from_string}\" (version_string); update both together")
endif()
message(STATUS "version OK: ${EXPECTED}")
