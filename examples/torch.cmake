# libtorch growth example (examples/torch_grow.cpp): only with GROWTH_WITH_TORCH.
if(GROWTH_WITH_TORCH)
  find_package(Torch REQUIRED)
  add_executable(torch_grow ${CMAKE_CURRENT_LIST_DIR}/torch_grow.cpp)
  growth_target(torch_grow LAYER core)
  target_link_libraries(torch_grow PRIVATE ${TORCH_LIBRARIES})
  separate_arguments(_growth_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  target_compile_options(torch_grow PRIVATE ${_growth_torch_flags})
  if(BUILD_TESTING)
    # Grows a trained libtorch BERT with exact operators: the logits must not move.
    add_test(NAME example.torch_grow COMMAND torch_grow)
    set_tests_properties(example.torch_grow PROPERTIES
      PASS_REGULAR_EXPRESSION "logit max abs diff [^\n]* OK"
      FAIL_REGULAR_EXPRESSION "FAIL|torch_grow: ")
  endif()
endif()
