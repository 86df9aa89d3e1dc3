// Consumer of growth::train alone (growth-train.pc): the trainer's headers compile with what the target
// brings (io's nlohmann-json, reference's Eigen).
#include <growth/train/trainer.hpp>
#include <growth/version.hpp>

#include <cstdio>

int main() {
  const growth::model::shape s{.layers = 2, .hidden = 8, .heads = 2, .ffn = 16, .seq_len = 8, .max_positions = 8};
  const bool ok = growth::train::shape_name(s) == "L2-H8-A2-I16-S8";
  std::printf("growth %s consumer %s (train)\n", GROWTH_VERSION_STRING, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
