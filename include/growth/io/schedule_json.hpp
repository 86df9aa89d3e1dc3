#pragma once
/// @file io/schedule_json.hpp
/// Schedule files: a sched::runtime_schedule <-> JSON (growth::io::json), strict in what it reads. In the io
/// layer because the schedule (core) uses the standard library only. nlohmann-json conversions (ADL):
/// `io::json j = schedule;` writes it, `j.get<sched::runtime_schedule>()` reads and validates it.
///
/// Format (every stage field has the default of stage.hpp when absent, except the five required shape sizes):
/// ```json
/// {"vocab_size": 30522, "batch_size": 256, "masked_per_mille": 150,
///  "stages": [
///    {"steps": 1000,
///     "shape": {"layers": 2, "hidden": 256, "heads": 4, "ffn": 1024, "seq_len": 128, "max_positions": 0,
///               "ffn_share_factor": 4, "ffn_shared_every": 1, "ffn_rank": 0, "ffn_factorized_every": 0,
///               "pool_size": 2},
///     "enter": {"depth": "stack", "ffn": "split", "hidden": "replicate", "heads": "duplicate",
///               "length": "tile", "optimizer": "reset", "lr": "restart_warmup", "rewarm_steps": 0,
///               "when": "fixed", "seed": 0}}]}
/// ```
/// A decoder schedule's shape may also hold "kv_heads" (grouped-query attention, model/decoder_shape.hpp); it is
/// written only when non-zero, so BERT schedules read and write as before.
/// enter.seed is a non-negative integer up to 2^64-1 (also read: the decimal string older files hold for
/// seeds above 2^63-1). Unknown keys are errors (a typo must not silently fall back to a default). Every error names the stage
/// index and the field ("schedule stage 1 field shape.hidden: expected ..., got ..."). After reading, the
/// schedule is validated with the same rules as a compile-time schedule (check.hpp).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "../core/error.hpp"
#include "../schedule/schedule.hpp"
#include "../schedule/stage.hpp"
#include "atomic_file.hpp"
#include "json.hpp"

namespace growth::sched {

namespace detail {

inline std::string subject(std::size_t stage_index, std::string_view path) {
  std::string s = "schedule";
  if (stage_index != no_stage) s += " stage " + std::to_string(stage_index);
  s += " field ";
  s += path;
  return s;
}

/// Rejects keys outside `allowed`.
inline void only_keys(const io::json& obj, std::initializer_list<std::string_view> allowed, std::size_t stage_index,
                      std::string_view prefix) {
  for (const auto& kv : io::as_object(obj, subject(stage_index, prefix.empty() ? "(top level)" : prefix))) {
    bool known = false;
    std::string list;
    for (auto a : allowed) {
      known = known || a == kv.first;
      if (!list.empty()) list += ", ";
      list += a;
    }
    if (!known) {
      const std::string path = prefix.empty() ? kv.first : std::string(prefix) + "." + kv.first;
      throw error(subject(stage_index, path), "one of the known keys (" + list + ")", "an unknown key");
    }
  }
}

inline void read_size(const io::json& obj, std::string_view key, std::size_t& out, bool required,
                      std::size_t stage_index, std::string_view prefix) {
  const std::string path = prefix.empty() ? std::string(key) : std::string(prefix) + "." + std::string(key);
  const io::json* v = io::find(obj, key);
  if (v == nullptr) {
    if (required) throw error(subject(stage_index, path), "present", "missing");
    return;
  }
  out = io::as_size(*v, subject(stage_index, path));
}

/// An operator name, read through its names table (names.parse / names.alternatives).
template <class E, class Names>
void read_enum(const io::json& obj, std::string_view key, E& out, const Names& names, std::size_t stage_index) {
  const std::string path = "enter." + std::string(key);
  const io::json* v = io::find(obj, key);
  if (v == nullptr) return;
  const std::string& s = io::as_string(*v, subject(stage_index, path));
  const auto e = names.parse(s);
  if (!e) throw error(subject(stage_index, path), names.alternatives(), "\"" + s + "\"");
  out = *e;
}

}  // namespace detail

/// The schedule as JSON (every field written, so the file documents itself).
inline void to_json(io::json& j, const runtime_schedule& s) {
  j = io::json::object();
  j["vocab_size"] = s.run.vocab_size;
  j["batch_size"] = s.run.batch_size;
  j["masked_per_mille"] = s.run.masked_per_mille;
  io::json stages = io::json::array();
  for (const stage& st : s.stages) {
    io::json js = io::json::object();
    js["steps"] = st.steps;
    io::json sh = io::json::object();
    sh["layers"] = st.shape.layers;
    sh["hidden"] = st.shape.hidden;
    sh["heads"] = st.shape.heads;
    sh["ffn"] = st.shape.ffn;
    sh["seq_len"] = st.shape.seq_len;
    sh["max_positions"] = st.shape.max_positions;
    sh["ffn_share_factor"] = st.shape.ffn_share_factor;
    sh["ffn_shared_every"] = st.shape.ffn_shared_every;
    sh["ffn_rank"] = st.shape.ffn_rank;
    sh["ffn_factorized_every"] = st.shape.ffn_factorized_every;
    sh["pool_size"] = st.shape.pool_size;
    if (st.shape.kv_heads != 0) sh["kv_heads"] = st.shape.kv_heads;  // decoders only: BERT files stay as they were
    js["shape"] = std::move(sh);
    io::json en = io::json::object();
    en["depth"] = to_string(st.enter.depth);
    en["ffn"] = to_string(st.enter.ffn);
    en["hidden"] = to_string(st.enter.hidden);
    en["heads"] = to_string(st.enter.heads);
    en["length"] = to_string(st.enter.length);
    en["optimizer"] = to_string(st.enter.optimizer);
    en["lr"] = to_string(st.enter.lr);
    en["rewarm_steps"] = st.enter.rewarm_steps;
    en["when"] = to_string(st.enter.when);
    en["seed"] = st.enter.seed;
    js["enter"] = std::move(en);
    stages.push_back(std::move(js));
  }
  j["stages"] = std::move(stages);
}

/// Reads a schedule from parsed JSON and validates it (throws growth::error naming the stage and field).
inline void from_json(const io::json& j, runtime_schedule& s) {
  using detail::read_size;
  constexpr std::size_t top = no_stage;
  detail::only_keys(j, {"vocab_size", "batch_size", "masked_per_mille", "stages"}, top, "");
  s = runtime_schedule{};
  read_size(j, "vocab_size", s.run.vocab_size, true, top, "");
  read_size(j, "batch_size", s.run.batch_size, true, top, "");
  read_size(j, "masked_per_mille", s.run.masked_per_mille, false, top, "");
  const io::json* stages = io::find(j, "stages");
  if (stages == nullptr) throw error(detail::subject(top, "stages"), "present", "missing");
  const auto& arr = io::as_array(*stages, detail::subject(top, "stages"));
  s.stages.reserve(arr.size());
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const io::json& js = arr[i];
    detail::only_keys(js, {"steps", "shape", "enter"}, i, "");
    stage st;
    read_size(js, "steps", st.steps, true, i, "");
    const io::json* sh = io::find(js, "shape");
    if (sh == nullptr) throw error(detail::subject(i, "shape"), "present", "missing");
    detail::only_keys(*sh,
                      {"layers", "hidden", "heads", "ffn", "seq_len", "max_positions", "ffn_share_factor",
                       "ffn_shared_every", "ffn_rank", "ffn_factorized_every", "pool_size", "kv_heads"},
                      i, "shape");
    model::shape& m = st.shape;
    read_size(*sh, "layers", m.layers, true, i, "shape");
    read_size(*sh, "hidden", m.hidden, true, i, "shape");
    read_size(*sh, "heads", m.heads, true, i, "shape");
    read_size(*sh, "ffn", m.ffn, true, i, "shape");
    read_size(*sh, "seq_len", m.seq_len, true, i, "shape");
    read_size(*sh, "max_positions", m.max_positions, false, i, "shape");
    read_size(*sh, "ffn_share_factor", m.ffn_share_factor, false, i, "shape");
    read_size(*sh, "ffn_shared_every", m.ffn_shared_every, false, i, "shape");
    read_size(*sh, "ffn_rank", m.ffn_rank, false, i, "shape");
    read_size(*sh, "ffn_factorized_every", m.ffn_factorized_every, false, i, "shape");
    read_size(*sh, "pool_size", m.pool_size, false, i, "shape");
    read_size(*sh, "kv_heads", m.kv_heads, false, i, "shape");
    if (const io::json* en = io::find(js, "enter")) {
      detail::only_keys(*en, {"depth", "ffn", "hidden", "heads", "length", "optimizer", "lr", "rewarm_steps", "when", "seed"},
                        i,
                        "enter");
      detail::read_enum(*en, "depth", st.enter.depth, depth_mode_names, i);
      detail::read_enum(*en, "ffn", st.enter.ffn, ffn_mode_names, i);
      detail::read_enum(*en, "hidden", st.enter.hidden, hidden_mode_names, i);
      detail::read_enum(*en, "heads", st.enter.heads, heads_mode_names, i);
      detail::read_enum(*en, "length", st.enter.length, length_mode_names, i);
      detail::read_enum(*en, "optimizer", st.enter.optimizer, optimizer_policy_names, i);
      detail::read_enum(*en, "lr", st.enter.lr, lr_action_names, i);
      read_size(*en, "rewarm_steps", st.enter.rewarm_steps, false, i, "enter");
      detail::read_enum(*en, "when", st.enter.when, grow_trigger_names, i);
      if (const io::json* seed = io::find(*en, "seed")) st.enter.seed = io::as_uint64(*seed, detail::subject(i, "enter.seed"));
    }
    s.stages.push_back(st);
  }
  s.validate();
}

/// Parses schedule text; `what` names the source in JSON syntax errors.
inline runtime_schedule parse_schedule(std::string_view text, std::string_view what = "schedule") {
  return io::parse_json(text, what).get<runtime_schedule>();
}

/// Reads and validates a schedule file.
inline runtime_schedule load_schedule(const std::filesystem::path& p) {
  return parse_schedule(io::read_file(p), "schedule file " + p.string());
}

/// Validates, then writes the schedule atomically (pretty-printed, 2-space indent).
inline void save_schedule(const std::filesystem::path& p, const runtime_schedule& s) {
  s.validate();
  io::write_file_atomic(p, io::json(s).dump(2) + "\n");
}

}  // namespace growth::sched
