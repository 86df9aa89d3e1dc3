# Whole-model growth benchmark: BERT-base grown to 24 layers / FFN 4096, in memory and file to file.
add_executable(bench_grow ${CMAKE_CURRENT_LIST_DIR}/bench_grow.cpp)
growth_target(bench_grow LAYER io)
