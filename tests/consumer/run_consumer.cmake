# Drives one consumer test (cmake -P). Called by tests/consumer/CMakeLists.txt:
#
#   cmake -DMODE=find_package|add_subdirectory
#         -DWEFT_SOURCE_DIR=<weft source> -DWEFT_BINARY_DIR=<weft build (find_package)>
#         -DWORK_DIR=<scratch dir> -DEXPECTED_VERSION=X.Y.Z
#         -DGENERATOR=<cmake generator> -DCXX_COMPILER=<path>
#         [-DCUDA_COMPILER=<nvcc> -DCUDA_ARCHITECTURES=<arch>]
#         [-DBUILD_CONFIG=<Release|...>]
#         -P run_consumer.cmake
#
# find_package:     cmake --install <weft build> --prefix WORK_DIR/prefix, then
#                   configure tests/consumer/project with CMAKE_PREFIX_PATH=prefix.
# add_subdirectory: configure tests/consumer/project with WEFT_SOURCE_DIR.
# Then build it and run weft_consumer (and weft_consumer_cuda with CUDA).
cmake_minimum_required(VERSION 3.24)

foreach(v MODE WEFT_SOURCE_DIR WORK_DIR EXPECTED_VERSION GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${v}=... is required")
  endif()
endforeach()
if(NOT BUILD_CONFIG)
  set(BUILD_CONFIG Release)
endif()

# run(<step> <command...>): run a command, echo it, stop with its output on failure.
function(run step)
  string(REPLACE ";" " " shown "${ARGN}")
  message(STATUS "[${MODE}] ${step}: ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message("${out}")
    message(FATAL_ERROR "[${MODE}] ${step} failed (${rc})")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

set(project_dir "${CMAKE_CURRENT_LIST_DIR}/project")
set(build_dir "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(config_args
  -S "${project_dir}" -B "${build_dir}" -G "${GENERATOR}"
  "-DCMAKE_BUILD_TYPE=${BUILD_CONFIG}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DWEFT_CONSUMER_MODE=${MODE}"
  "-DWEFT_EXPECTED_VERSION=${EXPECTED_VERSION}"
  # Only what this test names may be found: no user/system package registry.
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(CUDA_COMPILER)
  list(APPEND config_args -DWEFT_CONSUMER_CUDA=ON
    "-DCMAKE_CUDA_COMPILER=${CUDA_COMPILER}"
    "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES}")
endif()

if(MODE STREQUAL "find_package")
  if(NOT WEFT_BINARY_DIR)
    message(FATAL_ERROR "run_consumer.cmake: find_package mode needs -DWEFT_BINARY_DIR")
  endif()
  set(prefix "${WORK_DIR}/prefix")
  run("install weft" "${CMAKE_COMMAND}" --install "${WEFT_BINARY_DIR}" --prefix "${prefix}" --config "${BUILD_CONFIG}")
  file(GLOB_RECURSE config_file "${prefix}/*/weftConfig.cmake")
  if(NOT config_file)
    message(FATAL_ERROR "[${MODE}] no weftConfig.cmake under ${prefix}")
  endif()
  if(NOT EXISTS "${prefix}/include/weft/version.hpp")
    message(FATAL_ERROR "[${MODE}] ${prefix}/include/weft/version.hpp was not installed")
  endif()
  list(APPEND config_args "-DCMAKE_PREFIX_PATH=${prefix}" "-DWEFT_EXPECTED_PREFIX=${prefix}")
elseif(MODE STREQUAL "add_subdirectory")
  list(APPEND config_args "-DWEFT_SOURCE_DIR=${WEFT_SOURCE_DIR}")
else()
  message(FATAL_ERROR "run_consumer.cmake: MODE must be find_package or add_subdirectory, not '${MODE}'")
endif()

run("configure consumer" "${CMAKE_COMMAND}" ${config_args})
run("build consumer" "${CMAKE_COMMAND}" --build "${build_dir}" --config "${BUILD_CONFIG}")

if(MODE STREQUAL "add_subdirectory")
  # Belt and braces next to the checks in project/CMakeLists.txt: nothing of
  # weft's tests, examples or benchmarks may appear in the consumer's build.
  foreach(d tests examples bench)
    if(EXISTS "${build_dir}/weft/${d}")
      message(FATAL_ERROR "[${MODE}] weft's ${d}/ was configured in a sub-project build (${build_dir}/weft/${d})")
    endif()
  endforeach()
endif()

set(programs weft_consumer)
if(CUDA_COMPILER)
  list(APPEND programs weft_consumer_cuda)
endif()
foreach(p IN LISTS programs)
  set(exe "${build_dir}/${p}")
  if(NOT EXISTS "${exe}")
    set(exe "${build_dir}/${BUILD_CONFIG}/${p}")
  endif()
  run("run ${p}" "${exe}")
  message("${last_output}")
  string(FIND "${last_output}" "${EXPECTED_VERSION}" at_version)
  string(FIND "${last_output}" "timeout" at_timeout)
  if(at_version EQUAL -1 OR at_timeout EQUAL -1)
    message(FATAL_ERROR "[${MODE}] ${p} did not print the version ${EXPECTED_VERSION} and 'timeout'")
  endif()
endforeach()
message(STATUS "[${MODE}] consumer test passed")
