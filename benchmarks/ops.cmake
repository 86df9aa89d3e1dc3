# Operators benchmark: every growth operator on BERT-base-sized tensors vs memcpy of the same bytes.
add_executable(bench_ops ${CMAKE_CURRENT_LIST_DIR}/bench_ops.cpp)
growth_target(bench_ops LAYER core)
target_link_libraries(bench_ops PRIVATE benchmark::benchmark)
