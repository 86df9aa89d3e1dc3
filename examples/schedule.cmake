# The compile-time CompoundGrow schedule and its cost table.
add_executable(compile_time_schedule ${CMAKE_CURRENT_LIST_DIR}/compile_time_schedule.cpp)
growth_target(compile_time_schedule LAYER io)  # io: io/schedule_json.hpp writes JSON
