#pragma once
/// @file version.hpp
/// Library version. CMake parses these three lines; keep their form.
#define GROWTH_VERSION_MAJOR 0
#define GROWTH_VERSION_MINOR 1
#define GROWTH_VERSION_PATCH 0

#define GROWTH_VERSION_STRING "0.1.0"
