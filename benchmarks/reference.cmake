# Reference BERT training-step benchmark (benchmarks/bench_train_step.cpp).
add_executable(bench_train_step ${CMAKE_CURRENT_LIST_DIR}/bench_train_step.cpp)
growth_eigen_target(bench_train_step LAYER reference)
target_link_libraries(bench_train_step PRIVATE benchmark::benchmark)

# The same step N times, to profile (benchmarks/profile_train_step.cpp): perf record ... profile_train_step 20
add_executable(profile_train_step ${CMAKE_CURRENT_LIST_DIR}/profile_train_step.cpp)
growth_eigen_target(profile_train_step LAYER reference)

# The matrix product's drivers on the step's shapes against Eigen's own product (benchmarks/bench_gemm.cpp).
add_executable(bench_gemm ${CMAKE_CURRENT_LIST_DIR}/bench_gemm.cpp)
growth_eigen_target(bench_gemm LAYER reference)
target_link_libraries(bench_gemm PRIVATE benchmark::benchmark)
