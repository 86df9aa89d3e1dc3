// Faults of issue #14 that real users hit, at the library level: config.json fields HF would build another
// model from (refused, not ignored), and the temp folders a SIGKILLed writer leaves beside its output
// (removed by the next write to that output, only when their process is gone).
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <growth/io/checkpoint.hpp>
#include <growth/io/config_json.hpp>

#include "rel_util.hpp"

namespace fs = std::filesystem;

namespace {

/// A pid that is certainly not running: a child that exited and was reaped.
long dead_pid() {
  const pid_t p = ::fork();
  if (p == 0) ::_exit(0);
  int st = 0;
  ::waitpid(p, &st, 0);
  return static_cast<long>(p);
}

}  // namespace

TEST_CASE("config.json: is_decoder, add_cross_attention and an untied decoder are refused, naming the field") {
  using growth::io::json;
  const std::string base = R"({"vocab_size": 8, "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 1,
                               "intermediate_size": 4, "max_position_embeddings": 4, )";
  auto parse = [&](const std::string& extra) { return growth::io::parse_json(base + extra + "}").get<growth::model::bert_config>(); };
  REL_REQUIRE_ERROR(parse(R"("is_decoder": true)"), "config field is_decoder", "expected false", "got true");
  REL_REQUIRE_ERROR(parse(R"("add_cross_attention": true)"), "config field add_cross_attention", "got true");
  REL_REQUIRE_ERROR(parse(R"("tie_word_embeddings": false)"), "config field tie_word_embeddings", "expected true", "got false");
  REL_REQUIRE_ERROR(parse(R"("is_decoder": "no")"), "config field is_decoder");
  // The values HF writes for a BertForMaskedLM are accepted.
  CHECK_NOTHROW(parse(R"("is_decoder": false, "add_cross_attention": false, "tie_word_embeddings": true)"));
  // And through grow's partial configs too.
  REL_REQUIRE_ERROR(growth::io::apply_overrides(parse(R"("is_decoder": false)"), growth::io::parse_json(R"({"is_decoder": true})")),
                    "config field is_decoder");
}

TEST_CASE("stale temp folders of killed writers are removed by the next save, live ones stay") {
  rel::scratch_dir d("stale");
  auto ck = rel::tiny_checkpoint();
  const auto dir = d / "ck";
  growth::io::save_checkpoint(dir, ck);
  const long me = static_cast<long>(::getpid());
  const auto my_start = growth::io::detail::process_start_time(me);
  REQUIRE(my_start.has_value());
  const long gone = dead_pid();
  CHECK_FALSE(growth::io::detail::process_start_time(gone).has_value());
  // The name format make_temp_dir_beside uses.
  const fs::path made = growth::io::detail::make_temp_dir_beside(dir);
  CHECK(made.filename().string().rfind(".ck.tmp-" + std::to_string(me) + "-" + std::to_string(*my_start) + "-", 0) == 0);
  const fs::path stale = d / (".ck.tmp-" + std::to_string(gone) + "-12345-a1b2c3");
  const fs::path reused = d / (".ck.tmp-" + std::to_string(me) + "-" + std::to_string(*my_start + 1) + "-d4e5f6");  // pid reused
  const fs::path live = d / (".ck.tmp-" + std::to_string(me) + "-" + std::to_string(*my_start) + "-g7h8i9");
  const fs::path other_format = d / ".ck.tmp-Zq81Lp";      // an older version's name: not ours to judge
  const fs::path other_dir = d / (".other.tmp-" + std::to_string(gone) + "-1-a1b2c3");  // another output's
  for (const auto& p : {stale, reused, live, other_format, other_dir}) {
    fs::create_directories(p);
    rel::put(p / "model.safetensors", std::string(1000, 'x'));
  }
  growth::io::save_checkpoint(dir, ck);
  CHECK_FALSE(fs::exists(stale));
  CHECK_FALSE(fs::exists(reused));
  CHECK(fs::exists(live));
  CHECK(fs::exists(made));  // this process is alive: its own temp folder stays
  CHECK(fs::exists(other_format));
  CHECK(fs::exists(other_dir));
  CHECK_NOTHROW(growth::io::load_checkpoint(dir));

  // An interrupted two-step swap (publish_dir's fallback) beside the folder: its temp folder may hold the
  // only complete new checkpoint, so nothing is removed.
  const fs::path stale2 = d / (".ck.tmp-" + std::to_string(gone) + "-12345-j1k2l3");
  fs::create_directories(stale2);
  fs::create_directories(d / (".ck.old.tmp-" + std::to_string(gone) + "-12345-m4n5o6"));
  growth::io::save_checkpoint(dir, ck);
  CHECK(fs::exists(stale2));
}
