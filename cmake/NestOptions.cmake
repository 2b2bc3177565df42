# User-facing options. AUTO means: on when the toolchain is found, off otherwise.
set(NEST_CUDA "AUTO" CACHE STRING "Build the CUDA backend and the NCCL profiler: AUTO|ON|OFF")
set_property(CACHE NEST_CUDA PROPERTY STRINGS AUTO ON OFF)
set(NEST_MPI "AUTO" CACHE STRING "Build the MPI profiler backend: AUTO|ON|OFF")
set_property(CACHE NEST_MPI PROPERTY STRINGS AUTO ON OFF)
option(NEST_BUILD_TESTS "Build the GoogleTest suites" ON)
option(NEST_BUILD_BENCH "Build the Google Benchmark programs" ON)
set(NEST_SANITIZE "" CACHE STRING "Sanitizers for host code, e.g. address,undefined")

foreach(opt NEST_CUDA NEST_MPI)
  if(NOT ${opt} MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "${opt} must be AUTO, ON or OFF (got '${${opt}}')")
  endif()
endforeach()
