#include <doctest/doctest.h>

#include <growth/core/random.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/io/config_json.hpp>

#include "support/configs.hpp"
#include "test_helpers.hpp"

using namespace growth;
using namespace growth::io;

namespace {
model::bert_config tiny_config() {
  model::bert_config c =
      test::tiny_bert({.vocab = 13, .hidden = 8, .layers = 3, .heads = 2, .intermediate = 12, .positions = 16, .types = 2});
  c.ffn_shared_layers = {0};
  c.ffn_share_factor = 2;
  c.ffn_factorized_layers = {2};
  c.ffn_rank = 3;
  return c;
}
std::vector<std::string> tiny_vocab(std::size_t n) {
  std::vector<std::string> v{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (std::size_t i = v.size(); i < n; ++i) v.push_back("tok" + std::to_string(i));
  return v;
}
std::vector<float> random_buffer(const model::bert_config& c, std::uint64_t seed) {
  std::vector<float> b(model::parameter_count(c));
  rng r(seed);
  for (auto& x : b) x = static_cast<float>(r.normal());
  return b;
}
void check_same_config(const model::bert_config& a, const model::bert_config& b) {
  CHECK(a.vocab_size == b.vocab_size);
  CHECK(a.hidden_size == b.hidden_size);
  CHECK(a.num_hidden_layers == b.num_hidden_layers);
  CHECK(a.num_attention_heads == b.num_attention_heads);
  CHECK(a.intermediate_size == b.intermediate_size);
  CHECK(a.hidden_act == b.hidden_act);
  CHECK(a.hidden_dropout_prob == b.hidden_dropout_prob);
  CHECK(a.attention_probs_dropout_prob == b.attention_probs_dropout_prob);
  CHECK(a.max_position_embeddings == b.max_position_embeddings);
  CHECK(a.type_vocab_size == b.type_vocab_size);
  CHECK(a.initializer_range == b.initializer_range);
  CHECK(a.layer_norm_eps == b.layer_norm_eps);
  CHECK(a.pad_token_id == b.pad_token_id);
  CHECK(a.ffn_shared_layers == b.ffn_shared_layers);
  CHECK(a.ffn_share_factor == b.ffn_share_factor);
  CHECK(a.ffn_factorized_layers == b.ffn_factorized_layers);
  CHECK(a.ffn_rank == b.ffn_rank);
  CHECK(a.pool_size == b.pool_size);
}
}  // namespace

TEST_CASE("config.json: round trip, HF defaults and HF bookkeeping keys") {
  const auto c = tiny_config();
  const json j = json(c);
  CHECK(as_string(j.at("architectures").at(0)) == "BertForMaskedLM");
  CHECK(as_string(j.at("model_type")) == "bert");
  CHECK(j.at("layer_norm_eps").dump() == "1e-12");
  check_same_config(parse_json(j.dump(2)).get<model::bert_config>(), c);

  // bert-base-uncased's config.json (as distributed), with keys we do not use.
  const char* hf = R"({
    "architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": false,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
    "intermediate_size": 3072, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
    "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0, "position_embedding_type": "absolute",
    "transformers_version": "4.6.0.dev0", "type_vocab_size": 2, "use_cache": true, "vocab_size": 30522})";
  const auto base = parse_json(hf).get<model::bert_config>();
  check_same_config(base, model::bert_config{});
  CHECK(parse_json("{}").get<model::bert_config>().hidden_size == 768);  // all defaults
}

TEST_CASE("config.json: wrong types and values name the field") {
  struct bad {
    const char* text;
    const char* fragment;
  };
  const bad cases[] = {
      {R"({"hidden_size": "768"})", "config field hidden_size: expected a non-negative integer, got a string \"768\""},
      {R"({"hidden_size": 76.8})", "config field hidden_size: expected a non-negative integer"},
      {R"({"num_hidden_layers": -1})", "config field num_hidden_layers: expected a non-negative integer, got a number -1"},
      {R"({"hidden_size": 0})", "config field hidden_size: expected a positive integer"},
      {R"({"num_attention_heads": 5})", "config field num_attention_heads: expected a divisor of hidden_size 768"},
      {R"({"hidden_act": "relu"})", "config field hidden_act"},
      {R"({"model_type": "gpt2"})", "config field model_type: expected \"bert\""},
      {R"({"position_embedding_type": "relative_key"})", "config field position_embedding_type: expected \"absolute\""},
      {R"({"layer_norm_eps": "x"})", "config field layer_norm_eps: expected a number"},
      {R"({"growth": {"ffn_rnk": 3}})", "config field growth.ffn_rnk"},
      {R"({"growth": {"ffn_shared_layers": [0, 99]}})", "config field growth.ffn_shared_layers"},
      {R"({"growth": {"ffn_shared_layers": "0"}})", "config field growth.ffn_shared_layers: expected an array"},
      {R"({"growth": []})", "config field growth: expected an object"},
      {R"([])", "config.json: expected an object"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK_THROWS_WITH_AS(parse_json(c.text).get<model::bert_config>(), doctest::Contains(c.fragment), growth::error);
  }
}

TEST_CASE("config overrides: only named fields change - typos are errors") {
  const auto base = tiny_config();
  const auto grown = apply_overrides(base, parse_json(R"({"num_hidden_layers": 6, "growth": {"ffn_shared_layers": []}})"));
  CHECK(grown.num_hidden_layers == 6);
  CHECK(grown.ffn_shared_layers.empty());
  CHECK(grown.ffn_factorized_layers == base.ffn_factorized_layers);
  CHECK(grown.hidden_size == base.hidden_size);
  CHECK_THROWS_WITH_AS(apply_overrides(base, parse_json(R"({"num_hidden_layer": 6})")),
                       "config field num_hidden_layer: expected a BertConfig field or \"growth\", got an unknown key",
                       growth::error);
  CHECK_THROWS_WITH_AS(apply_overrides(base, parse_json(R"({"intermediate_size": 7})")),
                       doctest::Contains("growth.ffn_share_factor"), growth::error);
  // A full HF config is a valid override.
  CHECK(apply_overrides(base, json(model::bert_config{})).hidden_size == 768);
}

TEST_CASE("config file: save/load with the file named in errors") {
  io_test::scratch_dir dir("cfg");
  save_config(dir / "config.json", tiny_config());
  check_same_config(load_config(dir / "config.json"), tiny_config());
  write_file_atomic(dir / "bad.json", std::string(R"({"vocab_size": true})"));
  CHECK_THROWS_WITH_AS(load_config(dir / "bad.json"), doctest::Contains("bad.json: config field vocab_size"),
                       growth::error);
  write_file_atomic(dir / "broken.json", std::string(R"({"vocab_size": 1,})"));
  CHECK_THROWS_WITH_AS(load_config(dir / "broken.json"), doctest::Contains("broken.json (byte 17)"), growth::error);
}

TEST_CASE("checkpoint: round trip with optimizer state and trainer state - strided views") {
  io_test::scratch_dir dir("ckpt");
  const auto c = tiny_config();
  auto params = random_buffer(c, 1), m = random_buffer(c, 2), v = random_buffer(c, 3);
  for (auto& x : v) x = x * x;
  auto pset = checkpoint::flat_views(c, params);
  auto mset = checkpoint::flat_views(c, m);
  auto vset = checkpoint::flat_views(c, v);
  optimizer_views<float> ov{mset, vset, 1234, {{"lr", "0.0001"}, {"schedule", "linear"}}};
  json ts;
  ts["global_step"] = 1234;
  ts["stage"] = "grown";
  const auto vocab = tiny_vocab(c.vocab_size);
  const auto path = dir / "ckpt";
  save_checkpoint(path, c, pset, vocab, &ov, ts);

  auto ck = load_checkpoint(path);
  check_same_config(ck.config, c);
  CHECK(ck.vocab == vocab);
  CHECK(ck.params == params);
  REQUIRE(ck.opt.has_value());
  CHECK(ck.opt->exp_avg == m);
  CHECK(ck.opt->exp_avg_sq == v);
  CHECK(ck.opt->step == 1234);
  CHECK(ck.opt->extra.at("schedule") == "linear");
  CHECK(ck.trainer_state == ts);
  CHECK(safetensors_reader(path / "model.safetensors").metadata().at("format") == "pt");

  // Overwrite in place (swap) with a checkpoint without optimizer: the old optimizer file disappears.
  for (auto& x : params) x += 1.0f;
  save_checkpoint(path, c, pset, vocab);
  auto ck2 = load_checkpoint(path);
  CHECK(ck2.params == params);
  CHECK(!ck2.opt.has_value());
  CHECK(ck2.trainer_state.is_null());
  for (const auto& e : std::filesystem::directory_iterator(dir.path))
    CHECK(e.path().filename().string() == "ckpt");  // no temp folders left

  // Save from the loaded struct and from strided (transposed-storage) views.
  save_checkpoint(dir / "again", ck);
  CHECK(load_checkpoint(dir / "again").params == ck.params);
  const auto specs = model::bert_parameters(c);
  std::vector<std::vector<double>> storage;
  model::parameter_set<const double> strided;
  for (const auto& s : specs) {
    const auto& src = pset.at(s.name);
    std::vector<double> buf(s.numel());
    model::param_view<const double> pv;
    pv.name = s.name;
    pv.shape = s.shape;
    if (s.shape.size() == 2) {  // column-major storage
      for (std::size_t i = 0; i < s.shape[0]; ++i)
        for (std::size_t j = 0; j < s.shape[1]; ++j) buf[j * s.shape[0] + i] = src.data[i * s.shape[1] + j];
      pv.strides = {1, static_cast<std::ptrdiff_t>(s.shape[0])};
    } else {
      for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = src.data[i];
      pv.strides = {1};
    }
    storage.push_back(std::move(buf));
    pv.data = storage.back().data();
    strided.add(pv);
  }
  save_checkpoint(dir / "strided", c, strided, vocab);
  CHECK(load_checkpoint(dir / "strided").params == params);
}

TEST_CASE("checkpoint: strict loading and validated saving") {
  io_test::scratch_dir dir("ckpt_bad");
  const auto c = tiny_config();
  auto params = random_buffer(c, 7);
  auto pset = checkpoint::flat_views(c, params);
  const auto vocab = tiny_vocab(c.vocab_size);
  const auto specs = model::bert_parameters(c);

  // Build model.safetensors variants by hand and check the loader's verdict.
  auto write_model = [&](const std::filesystem::path& d, auto&& tweak) {
    std::filesystem::create_directories(d);
    save_config(d / "config.json", c);
    save_vocab(d / "vocab.txt", vocab);
    safetensors_writer w;
    std::size_t off = 0;
    std::vector<std::pair<std::string, std::pair<std::vector<std::size_t>, const float*>>> items;
    for (const auto& s : specs) {
      items.push_back({s.name, {s.shape, params.data() + off}});
      off += s.numel();
    }
    tweak(items);
    for (const auto& [n, sp] : items) w.add<float>(n, sp.first, sp.second);
    w.write(d / "model.safetensors");
  };
  write_model(dir / "missing", [](auto& items) { items.erase(items.begin() + 3); });
  CHECK_THROWS_WITH_AS(load_checkpoint(dir / "missing"),
                       doctest::Contains("tensor bert.embeddings.LayerNorm.weight: expected present in the file, got missing"),
                       growth::error);
  write_model(dir / "shape", [](auto& items) { items[0].second.first = {8, 13}; });
  CHECK_THROWS_WITH_AS(load_checkpoint(dir / "shape"),
                       doctest::Contains("tensor bert.embeddings.word_embeddings.weight shape: expected [13, 8], got [8, 13]"),
                       growth::error);
  const float* word = params.data();
  write_model(dir / "tied_ok", [&](auto& items) { items.push_back({"cls.predictions.decoder.weight", {{13, 8}, word}}); });
  CHECK(load_checkpoint(dir / "tied_ok").params == params);
  write_model(dir / "tied_bad",
              [&](auto& items) { items.push_back({"cls.predictions.decoder.weight", {{13, 8}, word + 1}}); });
  CHECK_THROWS_WITH_AS(load_checkpoint(dir / "tied_bad"),
                       doctest::Contains("cls.predictions.decoder.weight: expected equal to the tied"), growth::error);
  write_model(dir / "unknown", [&](auto& items) { items.push_back({"bert.pooler.dense.bias", {{8}, word}}); });
  CHECK_THROWS_WITH_AS(load_checkpoint(dir / "unknown"),
                       doctest::Contains("tensor bert.pooler.dense.bias: expected a BertForMaskedLM parameter"),
                       growth::error);
  CHECK(load_checkpoint(dir / "unknown", load_options{true}).params == params);

  // F16 / BF16 checkpoints are accepted (converted to float).
  {
    const auto d = dir / "bf16";
    std::filesystem::create_directories(d);
    save_config(d / "config.json", c);
    save_vocab(d / "vocab.txt", vocab);
    std::vector<std::vector<bfloat16>> store;
    safetensors_writer w;
    std::size_t off = 0;
    std::vector<float> expect;
    for (const auto& s : specs) {
      std::vector<bfloat16> b(s.numel());
      for (std::size_t i = 0; i < b.size(); ++i) {
        b[i] = bfloat16(params[off + i]);
        expect.push_back(static_cast<float>(b[i]));
      }
      off += s.numel();
      store.push_back(std::move(b));
      w.add<bfloat16>(s.name, s.shape, store.back().data());
    }
    w.write(d / "model.safetensors");
    CHECK(load_checkpoint(d).params == expect);
  }

  // Saving validates before writing anything.
  model::parameter_set<float> partial;
  for (const auto& p : pset)
    if (p.name != "cls.predictions.bias") partial.add(p);
  CHECK_THROWS_WITH_AS(save_checkpoint(dir / "never", c, partial, vocab),
                       doctest::Contains("checkpoint parameter cls.predictions.bias: expected present"), growth::error);
  CHECK(!std::filesystem::exists(dir / "never"));
  CHECK_THROWS_WITH_AS(save_checkpoint(dir / "never", c, pset, tiny_vocab(20)),
                       doctest::Contains("expected at most vocab_size = 13 tokens, got 20"), growth::error);
  auto dup = vocab;
  dup[6] = dup[5];
  CHECK_THROWS_WITH_AS(save_checkpoint(dir / "never", c, pset, dup), doctest::Contains("lines 6 and 7"), growth::error);
  std::filesystem::create_directories(dir / "precious");
  write_file_atomic(dir / "precious" / "thesis.tex", std::string("x"));
  CHECK_THROWS_WITH_AS(save_checkpoint(dir / "precious", c, pset, vocab),
                       doctest::Contains("an unrelated entry \"thesis.tex\""), growth::error);
  CHECK(std::filesystem::exists(dir / "precious" / "thesis.tex"));
  CHECK(!std::filesystem::exists(dir / "never"));
}

TEST_CASE("config.json: growth.pre_layer_norm (absent = post-LN, strict type)") {
  auto c = tiny_config();
  CHECK_FALSE(json(c).at("growth").contains("pre_layer_norm"));  // post-LN files unchanged
  CHECK_FALSE(json(c).get<model::bert_config>().pre_layer_norm);
  c.pre_layer_norm = true;
  const json j = json(c);
  CHECK(as_bool(j.at("growth").at("pre_layer_norm")));
  const auto back = parse_json(j.dump(2)).get<model::bert_config>();
  CHECK(back.pre_layer_norm);
  CHECK(back == c);
  CHECK(apply_overrides(tiny_config(), parse_json(R"({"growth": {"pre_layer_norm": true}})")).pre_layer_norm);
  CHECK_THROWS_WITH_AS(parse_json(R"({"growth": {"pre_layer_norm": 1}})").get<model::bert_config>(),
                       doctest::Contains("config field growth.pre_layer_norm: expected a boolean"), growth::error);
  CHECK_THROWS_WITH_AS(parse_json(R"({"growth": {"pre_layer_nrom": true}})").get<model::bert_config>(),
                       doctest::Contains("config field growth.pre_layer_nrom"), growth::error);
}
