# NEST_SANITIZE: sanitizers for every host target (libraries, the CLI, tests, fuzz driver,
# benchmarks), e.g. -DNEST_SANITIZE=address,undefined or -DNEST_SANITIZE=thread.
# .ci/sanitize builds both configurations and runs the whole test suite under them
# (docs/inputs.md, "Sanitizers").
#
# Host sanitizers and nvcc do not mix (nvcc's host compiler would need the flags and the CUDA
# runtime is not instrumented), so a sanitized build is CPU-only: the CUDA backend and the
# profiler's NCCL backend are not built (NEST_CUDA=AUTO becomes OFF, ON is refused).
#
# ThreadSanitizer and OpenMP: GCC's libgomp is not built with TSan, so its barriers and task
# hand-offs are invisible to TSan and every parallel loop reports false races. Build the thread
# configuration with clang, whose libomp carries TSan annotations through the Archer OMPT tool
# (libarcher.so, Debian package libomp-14-dev); .ci/sanitize does so.
if(NEST_SANITIZE)
  if(NEST_CUDA STREQUAL "ON")
    message(FATAL_ERROR "NEST_SANITIZE builds are CPU-only: use -DNEST_CUDA=OFF (or AUTO)")
  endif()
  set(NEST_CUDA OFF)  # this configure only; the cache keeps what was asked
  set(_nest_san_flags -fsanitize=${NEST_SANITIZE} -fno-omit-frame-pointer)
  if(NEST_SANITIZE MATCHES "undefined")
    # A UB report fails the test that caused it (exit code), not just a line in the log.
    list(APPEND _nest_san_flags -fno-sanitize-recover=undefined)
  endif()
  if(NEST_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    message(WARNING "NEST_SANITIZE=thread with GCC: libgomp is not TSan-aware and every OpenMP loop will report "
                    "false races; configure with CMAKE_CXX_COMPILER=clang++ (libomp + Archer) instead")
  endif()
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${_nest_san_flags}>")
  add_link_options(-fsanitize=${NEST_SANITIZE})
  message(STATUS "nest: sanitizers: ${NEST_SANITIZE} (CPU-only build)")
endif()
