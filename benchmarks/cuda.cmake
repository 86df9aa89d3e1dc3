# CUDA adapter benchmark: device bandwidth of each operator's map as a ratio to cudaMemcpy D2D.
if(GROWTH_ENABLE_CUDA AND CMAKE_CUDA_COMPILER)
  add_executable(bench_cuda ${CMAKE_CURRENT_LIST_DIR}/bench_cuda.cu)
  target_link_libraries(bench_cuda PRIVATE growth::core CUDA::cudart)
  target_compile_features(bench_cuda PRIVATE cuda_std_20)
  target_compile_options(bench_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra -Werror=all-warnings --diag-suppress=186>)
endif()
