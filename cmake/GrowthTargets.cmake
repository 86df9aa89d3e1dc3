# Helpers for the project's own targets (tests, examples, tools, benchmarks).

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

set(GROWTH_SANITIZE "" CACHE STRING "Sanitizers for our own targets, e.g. address,undefined or thread")
set(GROWTH_SANITIZE_OPTIMIZE "-O1" CACHE STRING
    "Optimisation of a sanitized Debug build's targets (-O1, or -O0 to compile faster); targets marked HEAVY keep -O1")

find_package(Threads REQUIRED)
find_package(OpenMP)

# growth_target(<target> [LAYER <core|io|reference|train|growth>] [HEAVY]): links the library target of the
# layer the target tests or uses (default growth::growth, all layers; README "Targets"), with optimisation,
# warnings, sanitizers and threads. HEAVY: the target runs the reference models for long (gradient checks,
# training runs), so a sanitized build keeps it at -O1 whatever GROWTH_SANITIZE_OPTIMIZE says.
function(growth_target tgt)
  cmake_parse_arguments(A "HEAVY" "LAYER" "" ${ARGN})
  if(NOT A_LAYER)
    set(A_LAYER growth)
  endif()
  target_link_libraries(${tgt} PRIVATE growth::${A_LAYER} Threads::Threads)
  set_target_properties(${tgt} PROPERTIES CXX_EXTENSIONS OFF)
  # -Wno-restrict: GCC 12's -Wrestrict misfires inside libstdc++ on `"literal" + std::string` at -O3
  # (GCC bug 105651); it is a false positive, not a finding in our code.
  target_compile_options(${tgt} PRIVATE -Wall -Wextra -Wpedantic -Werror -march=x86-64-v3
    $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>
    $<$<CONFIG:Release>:-O3>)
  if(GROWTH_SANITIZE)
    # -O1 keeps sanitized Eigen code fast enough for the whole suite (Debug alone is -O0). With clang-14, -O1
    # with ASan and UBSan compiles a test file 2.75x slower than -O0 (38 s against 14 s for
    # tests/train/test_trainer.cpp), while at -O0 the HEAVY targets' tests run 4-7x longer (the study smoke
    # test 523 s against 104 s): CI builds the others at -O0 (.ci/run).
    set(_opt ${GROWTH_SANITIZE_OPTIMIZE})
    if(A_HEAVY)
      set(_opt -O1)
    endif()
    target_compile_options(${tgt} PRIVATE -fsanitize=${GROWTH_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all
      $<$<CONFIG:Debug>:${_opt}>)
    target_link_options(${tgt} PRIVATE -fsanitize=${GROWTH_SANITIZE})
  endif()
endfunction()

# growth_eigen_target(<target> [LAYER <layer>] [HEAVY]): a growth_target that also uses Eigen (the reference
# BERT or the Eigen adapter) with OpenMP.
function(growth_eigen_target tgt)
  growth_target(${tgt} ${ARGN})
  find_package(Eigen3 3.4 REQUIRED NO_MODULE)
  target_link_libraries(${tgt} PRIVATE Eigen3::Eigen)
  if(OpenMP_CXX_FOUND AND NOT GROWTH_SANITIZE MATCHES "thread")
    target_link_libraries(${tgt} PRIVATE OpenMP::OpenMP_CXX)
  endif()
endfunction()

# growth_add_mpi_test(<name> COMMAND <target> [ARGS ...] [RANKS 2 3 4] [FAIL_REGEX <regex>]): ctest entries
# <name>.np<P> running `mpirun --oversubscribe -np P <target> ARGS` (label mpi), one per rank count; as root
# mpirun also needs --allow-run-as-root. mpirun's exit status decides (non-zero when any rank fails or dies),
# and output matching FAIL_REGEX fails the test too. Under AddressSanitizer the leak check is off for these tests
# only: Open MPI's dlopened components leave allocations at exit that LeakSanitizer reports (not our code;
# every other ASan and UBSan check stays on). Only with GROWTH_WITH_MPI.
function(growth_add_mpi_test name)
  cmake_parse_arguments(A "" "COMMAND;FAIL_REGEX" "ARGS;RANKS" ${ARGN})
  if(NOT A_RANKS)
    set(A_RANKS 2 3 4)
  endif()
  execute_process(COMMAND id -u OUTPUT_VARIABLE _uid OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  set(_root)
  if(_uid STREQUAL "0")
    set(_root --allow-run-as-root)
  endif()
  foreach(_p ${A_RANKS})
    add_test(NAME ${name}.np${_p}
             COMMAND ${MPIEXEC_EXECUTABLE} ${_root} --oversubscribe ${MPIEXEC_NUMPROC_FLAG} ${_p} ${MPIEXEC_PREFLAGS}
                     $<TARGET_FILE:${A_COMMAND}> ${MPIEXEC_POSTFLAGS} ${A_ARGS})
    set_tests_properties(${name}.np${_p} PROPERTIES LABELS mpi PROCESSORS ${_p} TIMEOUT 300)
    if(A_FAIL_REGEX)
      set_tests_properties(${name}.np${_p} PROPERTIES FAIL_REGULAR_EXPRESSION "${A_FAIL_REGEX}")
    endif()
    if(GROWTH_SANITIZE MATCHES "address")
      set_tests_properties(${name}.np${_p} PROPERTIES ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
    endif()
  endforeach()
endfunction()
