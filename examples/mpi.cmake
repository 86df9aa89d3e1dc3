# Tensor-parallel shard-local growth under MPI (examples/tensor_parallel_grow.cpp): only with GROWTH_WITH_MPI.
if(GROWTH_WITH_MPI)
  add_executable(tensor_parallel_grow ${CMAKE_CURRENT_LIST_DIR}/tensor_parallel_grow.cpp)
  growth_target(tensor_parallel_grow LAYER mpi)
  if(BUILD_TESTING)
    # The shards of every grown parameter and moment equal the unsharded grow, at 2, 3 and 4 ranks.
    growth_add_mpi_test(example.tensor_parallel_grow COMMAND tensor_parallel_grow
                        FAIL_REGEX "FAIL")
  endif()
endif()
