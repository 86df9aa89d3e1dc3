# Reference BERT training-step benchmark (benchmarks/bench_train_step.cpp).
add_executable(bench_train_step ${CMAKE_CURRENT_LIST_DIR}/bench_train_step.cpp)
growth_eigen_target(bench_train_step LAYER reference)
target_link_libraries(bench_train_step PRIVATE benchmark::benchmark)
