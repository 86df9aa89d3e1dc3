# The package consumers, included by find_package_consumer/ and subdir_consumer/ once growth::* exist:
# consumer_<layer> links only growth::<layer> (README "Targets"); `consumer` links growth::growth. Each
# prints "growth <version> consumer ok".
foreach(_layer core io reference train)
  add_executable(consumer_${_layer} ${CMAKE_CURRENT_LIST_DIR}/consumer_${_layer}.cpp)
  target_link_libraries(consumer_${_layer} PRIVATE growth::${_layer})
endforeach()
# growth::growth brings Eigen (through growth::reference), so the Eigen adapter compiles too.
add_executable(consumer ${CMAKE_CURRENT_LIST_DIR}/consumer.cpp)
target_link_libraries(consumer PRIVATE growth::growth)
target_compile_definitions(consumer PRIVATE GROWTH_CONSUMER_EIGEN)

# Each target declares its layer's dependency, and the core none.
get_target_property(_core_deps growth::core INTERFACE_LINK_LIBRARIES)
if(_core_deps)
  message(FATAL_ERROR "growth::core links ${_core_deps}: the core layer must need the standard library only")
endif()
get_target_property(_io_deps growth::io INTERFACE_LINK_LIBRARIES)
get_target_property(_ref_deps growth::reference INTERFACE_LINK_LIBRARIES)
if(NOT _io_deps MATCHES "nlohmann_json::nlohmann_json" OR _io_deps MATCHES "Eigen")
  message(FATAL_ERROR "growth::io should link growth::core and nlohmann_json only, links: ${_io_deps}")
endif()
if(NOT _ref_deps MATCHES "Eigen3::Eigen" OR _ref_deps MATCHES "nlohmann")
  message(FATAL_ERROR "growth::reference should link growth::core and Eigen3::Eigen only, links: ${_ref_deps}")
endif()
