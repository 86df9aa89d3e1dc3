# Driver of the packaging tests (cmake -P). Each STEP configures/builds/runs a separate project in a
# fresh folder under WORK_DIR, the way a downstream user would.
#   -DSTEP=install|find_package|add_subdirectory|pkg_config
#   -DGROWTH_SOURCE_DIR=  -DGROWTH_VERSION=  -DWORK_DIR=  -DCXX=  -DGENERATOR=  -DHERE=(this folder)
cmake_minimum_required(VERSION 3.21)

set(_prefix ${WORK_DIR}/prefix)

# run(<what> <command...>): runs a command, fails the test with its output if it fails.
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${ARGN}\n--- stdout\n${out}\n--- stderr\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

# The consumers (consumers.cmake): consumer_<layer> links only growth::<layer>, consumer links growth::growth.
set(_consumers consumer_core consumer_io consumer_reference consumer_train consumer)

# configure_build_run(<name> <source dir> <cmake args...>): every consumer must print "consumer ok".
function(configure_build_run name src)
  set(bin ${WORK_DIR}/${name})
  file(REMOVE_RECURSE ${bin})
  run("configure ${name}" ${CMAKE_COMMAND} -S ${src} -B ${bin} -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX}
      -DCMAKE_BUILD_TYPE=Release ${ARGN})
  run("build ${name}" ${CMAKE_COMMAND} --build ${bin})
  foreach(c ${_consumers})
    run("run ${name} ${c}" ${bin}/${c})
    message(STATUS "${name} ${c}: ${run_output}")
    if(NOT run_output MATCHES "growth ${GROWTH_VERSION} consumer ok")
      message(FATAL_ERROR "${name} ${c}: unexpected output: ${run_output}")
    endif()
  endforeach()
endfunction()

# check_version_file(<requested version> <sizeof void*> <expected compatible>)
function(check_version_file want ptr expect)
  set(CMAKE_SIZEOF_VOID_P ${ptr})
  set(PACKAGE_FIND_NAME growth)
  set(PACKAGE_FIND_VERSION ${want})
  string(REPLACE "." ";" _parts "${want}.0.0")
  list(GET _parts 0 PACKAGE_FIND_VERSION_MAJOR)
  list(GET _parts 1 PACKAGE_FIND_VERSION_MINOR)
  list(GET _parts 2 PACKAGE_FIND_VERSION_PATCH)
  include(${_prefix}/share/cmake/growth/growthConfigVersion.cmake)
  if(PACKAGE_VERSION_UNSUITABLE)
    message(FATAL_ERROR "growthConfigVersion.cmake rejects a consumer with sizeof(void*)=${ptr}: not ARCH_INDEPENDENT")
  endif()
  if((PACKAGE_VERSION_COMPATIBLE AND NOT expect) OR (NOT PACKAGE_VERSION_COMPATIBLE AND expect))
    message(FATAL_ERROR "growthConfigVersion.cmake: version ${PACKAGE_VERSION} compatible with a request for ${want}"
                        " is '${PACKAGE_VERSION_COMPATIBLE}', expected ${expect} (SameMajorVersion)")
  endif()
endfunction()

if(STEP STREQUAL "install")
  # Configure for one prefix and install into another: the installed package must be relocatable.
  file(REMOVE_RECURSE ${WORK_DIR}/install-build ${_prefix})
  run("configure growth" ${CMAKE_COMMAND} -S ${GROWTH_SOURCE_DIR} -B ${WORK_DIR}/install-build -G ${GENERATOR}
      -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/not-this-prefix
      -DGROWTH_BUILD_TESTS=OFF -DGROWTH_BUILD_EXAMPLES=OFF -DGROWTH_BUILD_BENCHMARKS=OFF -DGROWTH_WITH_TORCH=OFF)
  run("build growth" ${CMAKE_COMMAND} --build ${WORK_DIR}/install-build)
  run("install growth" ${CMAKE_COMMAND} --install ${WORK_DIR}/install-build --prefix ${_prefix})
  foreach(f include/growth/growth.hpp include/growth/version.hpp include/growth/core/index_map.hpp
            include/growth/adapters/eigen.hpp include/growth/adapters/xtensor.hpp include/growth/adapters/raw.hpp
            share/cmake/growth/growthConfig.cmake share/cmake/growth/growthConfigVersion.cmake
            share/cmake/growth/growthTargets.cmake share/pkgconfig/growth.pc share/pkgconfig/growth-core.pc
            share/pkgconfig/growth-io.pc share/pkgconfig/growth-reference.pc share/pkgconfig/growth-train.pc)
    if(NOT EXISTS ${_prefix}/${f})
      message(FATAL_ERROR "not installed: ${f}")
    endif()
  endforeach()
  if(EXISTS ${_prefix}/bin OR EXISTS ${_prefix}/lib)
    message(FATAL_ERROR "a header-only install with tests/examples/benchmarks off installed binaries (bin/ or lib/)")
  endif()
  # The version file, evaluated as find_package would: a 32-bit consumer must accept it (header-only:
  # ARCH_INDEPENDENT), the same major version is compatible, the next major is not (SameMajorVersion).
  check_version_file(${GROWTH_VERSION} 4 TRUE)
  string(REGEX MATCH "^[0-9]+" _major "${GROWTH_VERSION}")
  math(EXPR _next "${_major} + 1")
  check_version_file(${_major}.0 8 TRUE)
  check_version_file(${_next}.0 8 FALSE)
  foreach(_pcname growth growth-core growth-io growth-reference growth-train)
    file(READ ${_prefix}/share/pkgconfig/${_pcname}.pc _pc)
    if(_pc MATCHES "not-this-prefix")
      message(FATAL_ERROR "${_pcname}.pc hard-codes the configure-time prefix:\n${_pc}")
    endif()
  endforeach()
  message(STATUS "installed into ${_prefix}")

elseif(STEP STREQUAL "find_package")
  configure_build_run(find_package ${HERE}/find_package_consumer -DCMAKE_PREFIX_PATH=${_prefix}
                      -DGROWTH_EXPECTED_PREFIX=${_prefix} -DGROWTH_EXPECTED_VERSION=${GROWTH_VERSION}
                      -DGROWTH_WANT_VERSION=${GROWTH_VERSION})
  # COMPONENTS core needs neither nlohmann-json nor Eigen: both hidden from find_package, it still works.
  set(_all_consumers ${_consumers})
  set(_consumers consumer_core)
  configure_build_run(find_package_core ${HERE}/find_package_consumer -DCMAKE_PREFIX_PATH=${_prefix}
                      -DGROWTH_EXPECTED_PREFIX=${_prefix} -DGROWTH_EXPECTED_VERSION=${GROWTH_VERSION}
                      -DGROWTH_WANT_VERSION=${GROWTH_VERSION} -DGROWTH_COMPONENTS=core
                      -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=TRUE -DCMAKE_DISABLE_FIND_PACKAGE_Eigen3=TRUE)
  set(_consumers ${_all_consumers})
  # An unknown component is refused, naming it.
  file(REMOVE_RECURSE ${WORK_DIR}/find_package_bad_component)
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${HERE}/find_package_consumer -B ${WORK_DIR}/find_package_bad_component
                          -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${_prefix}
                          -DGROWTH_WANT_VERSION=${GROWTH_VERSION} -DGROWTH_COMPONENTS=cuda
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0 OR NOT err MATCHES "unknown component 'cuda'")
    message(FATAL_ERROR "find_package(growth COMPONENTS cuda) should fail naming the component (rc=${rc}):\n${err}")
  endif()
  # SameMajorVersion: asking for the next major version must fail.
  string(REGEX MATCH "^[0-9]+" _major "${GROWTH_VERSION}")
  math(EXPR _next "${_major} + 1")
  file(REMOVE_RECURSE ${WORK_DIR}/find_package_next_major)
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${HERE}/find_package_consumer -B ${WORK_DIR}/find_package_next_major
                          -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${_prefix}
                          -DGROWTH_WANT_VERSION=${_next}.0
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0 OR NOT err MATCHES "version")
    message(FATAL_ERROR "find_package(growth ${_next}.0) should fail on version ${GROWTH_VERSION} (rc=${rc}):\n${err}")
  endif()

elseif(STEP STREQUAL "add_subdirectory")
  configure_build_run(add_subdirectory ${HERE}/subdir_consumer -DGROWTH_SOURCE_DIR=${GROWTH_SOURCE_DIR})

elseif(STEP STREQUAL "pkg_config")
  find_program(_pkgconfig NAMES pkg-config pkgconf)
  if(NOT _pkgconfig)
    message("growth-package-skip: no pkg-config")
    return()
  endif()
  set(ENV{PKG_CONFIG_PATH} ${_prefix}/share/pkgconfig)
  run("pkg-config --modversion" ${_pkgconfig} --modversion growth)
  string(STRIP "${run_output}" _v)
  if(NOT _v STREQUAL GROWTH_VERSION)
    message(FATAL_ERROR "pkg-config --modversion growth gives '${_v}', expected '${GROWTH_VERSION}'")
  endif()
  run("pkg-config --cflags" ${_pkgconfig} --cflags growth)
  string(STRIP "${run_output}" _cflags)
  message(STATUS "pkg-config --cflags growth: ${_cflags}")
  separate_arguments(_cflags_list UNIX_COMMAND "${_cflags}")
  set(_inc_ok FALSE)
  foreach(_f ${_cflags_list})
    if(_f MATCHES "^-I(.*)")
      file(REAL_PATH "${CMAKE_MATCH_1}" _got)
      file(REAL_PATH "${_prefix}/include" _want)
      if(_got STREQUAL _want)
        set(_inc_ok TRUE)
      endif()
    endif()
  endforeach()
  if(NOT _inc_ok OR NOT _cflags MATCHES "-std=c\\+\\+20")
    message(FATAL_ERROR "pkg-config --cflags growth should give -I${_prefix}/include -std=c++20, gives: ${_cflags}")
  endif()
  # Each layer's .pc file compiles its consumer (its Requires bring nlohmann_json / eigen3); growth.pc the
  # umbrella consumer with the Eigen adapter.
  file(MAKE_DIRECTORY ${WORK_DIR}/pkg_config)
  foreach(c ${_consumers})
    if(c STREQUAL "consumer")
      set(_pcname growth)
      set(_extra -DGROWTH_CONSUMER_EIGEN)
    else()
      string(REPLACE "consumer_" "growth-" _pcname ${c})
      set(_extra)
    endif()
    run("pkg-config --cflags ${_pcname}" ${_pkgconfig} --cflags ${_pcname})
    string(STRIP "${run_output}" _c)
    separate_arguments(_c_list UNIX_COMMAND "${_c}")
    run("compile ${c} with pkg-config ${_pcname}" ${CXX} ${_c_list} ${_extra} ${HERE}/${c}.cpp -o ${WORK_DIR}/pkg_config/${c})
    run("run pkg_config ${c}" ${WORK_DIR}/pkg_config/${c})
    if(NOT run_output MATCHES "growth ${GROWTH_VERSION} consumer ok")
      message(FATAL_ERROR "pkg_config ${c}: unexpected output: ${run_output}")
    endif()
    message(STATUS "pkg_config ${c} (${_pcname}: ${_c}): ${run_output}")
  endforeach()

else()
  message(FATAL_ERROR "package_test.cmake: unknown STEP '${STEP}'")
endif()
