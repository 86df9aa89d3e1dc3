// trainer_state.json without a model: the options, log rows and resume info round trip bit-exactly through
// nlohmann-json's number output, states written before it (doubles as 16 hex digits of their bits, the seed
// as a decimal string) still read, and the CSV log comes from the same field list as the JSON rows.
#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <growth/io/json.hpp>
#include <growth/train/trainer.hpp>

using namespace growth;

namespace {
bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }

std::string hex_of(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(std::bit_cast<std::uint64_t>(d)));
  return buf;
}
}  // namespace

TEST_CASE("trainer_state options: awkward doubles and a seed above 2^63 survive bit-exactly") {
  train::trainer_options o;
  o.seed = std::numeric_limits<std::uint64_t>::max();
  o.lr = 0.1 + 0.2;  // 0.30000000000000004: no short decimal
  o.min_lr_ratio = 1.0 / 3.0;
  o.adam.weight_decay = 4.9406564584124654e-324;  // the smallest subnormal
  o.adam.max_grad_norm = 1.7976931348623157e308;
  o.adam.beta1 = 0.9;
  o.adam.beta2 = 0.999;
  o.decay_fraction = -0.0;
  o.target_loss = 2.2250738585072014e-308;
  o.base.hidden_dropout_prob = 0.1 * 3;
  o.base.attention_probs_dropout_prob = 1e-17;
  o.base.initializer_range = 0.02;
  o.lr_schedule = sched::lr_family::wsd;
  const std::string text = io::json(o).dump(2);
  train::trainer_options back;
  io::parse_json(text).get_to(back);
  CHECK(back.seed == o.seed);
  CHECK(same_bits(back.lr, o.lr));
  CHECK(same_bits(back.min_lr_ratio, o.min_lr_ratio));
  CHECK(same_bits(back.adam.weight_decay, o.adam.weight_decay));
  CHECK(same_bits(back.adam.max_grad_norm, o.adam.max_grad_norm));
  CHECK(same_bits(back.adam.beta2, o.adam.beta2));
  CHECK(same_bits(back.decay_fraction, o.decay_fraction));
  REQUIRE(back.target_loss.has_value());
  CHECK(same_bits(*back.target_loss, *o.target_loss));
  CHECK(same_bits(back.base.hidden_dropout_prob, o.base.hidden_dropout_prob));
  CHECK(same_bits(back.base.attention_probs_dropout_prob, o.base.attention_probs_dropout_prob));
  CHECK(same_bits(back.base.initializer_range, o.base.initializer_range));
  CHECK(back.lr_schedule == sched::lr_family::wsd);
  CHECK(text.find("\"lr\": 0.30000000000000004") != std::string::npos);  // a plain JSON number
  // Fields to_json does not store keep the caller's values.
  train::trainer_options mine;
  mine.data_id = "mine";
  io::parse_json(text).get_to(mine);
  CHECK(mine.data_id == "mine");
  CHECK(mine.seed == o.seed);
}

TEST_CASE("trainer_state options: states written with hex doubles and a string seed still read") {
  // The layout of trainer_state.json "options" before nlohmann-json.
  const std::string old = R"({"seed": "18446744073709551615", "lr": ")" + hex_of(0.1 + 0.2) + R"(", "warmup": 5,
    "min_lr_ratio": ")" + hex_of(0.1) + R"(", "weight_decay": ")" + hex_of(0.01) + R"(", "max_grad_norm": ")" + hex_of(1.0) +
                          R"(", "eval_every": 50, "target_loss": null, "max_total_steps": 0, "hidden_dropout_prob": ")" +
                          hex_of(0.1) + R"(", "attention_probs_dropout_prob": ")" + hex_of(0.1) + R"(", "initializer_range": ")" +
                          hex_of(0.02) + R"("})";
  train::trainer_options o;
  io::parse_json(old).get_to(o);
  CHECK(o.seed == std::numeric_limits<std::uint64_t>::max());
  CHECK(same_bits(o.lr, 0.1 + 0.2));
  CHECK(o.warmup == 5);
  CHECK(same_bits(o.adam.weight_decay, 0.01));
  CHECK(same_bits(o.base.initializer_range, 0.02));
  CHECK_FALSE(o.target_loss.has_value());
  // A string that is not 16 hex digits is refused, naming the field.
  auto bad = io::parse_json(old);
  bad["lr"] = "0x3fd3333333333334";
  CHECK_THROWS_WITH_AS(bad.get_to(o), doctest::Contains("trainer_state options.lr: expected a number (or, in older files, the 16 hex digits"),
                       growth::error);
  bad["lr"] = 0.5;
  bad["seed"] = "abc";
  CHECK_THROWS_WITH_AS(bad.get_to(o), doctest::Contains("trainer_state options.seed: expected a non-negative integer below 2^64"),
                       growth::error);
  bad.erase("seed");
  CHECK_THROWS_WITH_AS(bad.get_to(o), "trainer_state options key \"seed\": expected present, got missing", growth::error);
}

TEST_CASE("log rows: one field list for the CSV header, the CSV line and the JSON form") {
  train::log_row r;
  r.step = 12;
  r.stage = 1;
  r.shape = "L2-H8-A2-I16-S8";
  r.tokens = 12345678.0;
  r.flops = 0.1 + 0.2;
  r.wall_seconds = 1.0 / 3.0;
  r.train_loss = 7.123456789;
  r.val_loss = 6.5;
  CHECK(train::csv_header() == "step,stage,shape,tokens,flops,wall_seconds,train_loss,val_loss\n");
  // Byte-identical to the format the CSV logs have always had.
  char want[256];
  std::snprintf(want, sizeof want, "%zu,%zu,%s,%.0f,%.6e,%.3f,%.6f,%.6f\n", r.step, r.stage, r.shape.c_str(), r.tokens, r.flops,
                r.wall_seconds, r.train_loss, r.val_loss);
  CHECK(train::csv_line(r) == want);
  CHECK(train::csv_text({r, r}) == train::csv_header() + want + want);
  const io::json j = r;
  std::string keys;
  for (const auto& [k, v] : io::as_object(j)) keys += k + ",";
  CHECK(keys == "step,stage,shape,tokens,flops,wall_seconds,train_loss,val_loss,");  // the CSV columns
  const auto back = io::parse_json(j.dump()).get<train::log_row>();
  CHECK(back == r);
  CHECK(same_bits(back.flops, r.flops));
  // An old row (hex doubles) reads to the same row.
  io::json old = j;
  for (const char* k : {"tokens", "flops", "wall_seconds", "train_loss", "val_loss"}) old[k] = hex_of(io::as_double(j.at(k)));
  CHECK(old.get<train::log_row>() == r);
  old.erase("shape");
  CHECK_THROWS_WITH_AS(old.get<train::log_row>(), "trainer_state row key \"shape\": expected present, got missing", growth::error);
}
