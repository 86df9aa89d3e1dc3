# Growing a LLaMA-style decoder with `growth grow --check` (examples/grow_llama.cpp): needs the tool.
add_executable(grow_llama ${CMAKE_CURRENT_LIST_DIR}/grow_llama.cpp)
growth_eigen_target(grow_llama LAYER train)  # reference::causal_lm + io checkpoint folders
if(BUILD_TESTING AND EXISTS ${PROJECT_SOURCE_DIR}/tools/CMakeLists.txt)
  add_dependencies(grow_llama growth_tool)
  add_test(NAME example.grow_llama
           COMMAND grow_llama $<TARGET_FILE:growth_tool> ${CMAKE_CURRENT_BINARY_DIR}/grow_llama_work)
  set_tests_properties(example.grow_llama PROPERTIES PASS_REGULAR_EXPRESSION "grow_llama: OK"
                                                     FAIL_REGULAR_EXPRESSION "FAIL")
endif()
