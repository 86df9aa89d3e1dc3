// Decoder checkpoint folders (io/checkpoint.hpp, generic over the config type): a LLaMA-style and a GPT-2
// folder round-trip bit for bit with and without vocab.txt and optimizer state; loading is strict (missing
// or unknown tensors, a tied lm_head that differs from the embeddings); old buffers are ignored; the folder
// kind is told by config.json's model_type.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <growth/core/random.hpp>
#include <growth/io/checkpoint.hpp>
#include <growth/io/safetensors.hpp>

#include "support/scratch_dir.hpp"

using namespace growth;
namespace fs = std::filesystem;

namespace {

model::decoder_config tiny_llama(bool tied) {
  model::decoder_config c;
  c.vocab_size = 11;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.intermediate_size = 12;
  c.max_position_embeddings = 16;
  c.tie_word_embeddings = tied;
  return c;
}

model::decoder_config tiny_gpt2() {
  model::decoder_config c;
  c.family = model::decoder_family::gpt2;
  c.model_type = "gpt2";
  c.hidden_act = "gelu_new";
  c.tie_word_embeddings = true;
  c.norm_eps = 1e-5;
  c.vocab_size = 13;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 2;
  c.intermediate_size = 16;
  c.max_position_embeddings = 10;
  return c;
}

io::decoder_checkpoint random_checkpoint(const model::decoder_config& c, std::uint64_t seed) {
  io::decoder_checkpoint ck;
  ck.config = c;
  std::size_t n = 0;
  for (const auto& s : model::decoder_parameters(c)) n += s.numel();
  ck.params.resize(n);
  rng r(seed, 3);
  for (auto& x : ck.params) x = static_cast<float>(r.uniform() - 0.5);
  return ck;
}

/// Rewrites dir/model.safetensors with `extra` tensors added (copies of `like`) or tensor `drop` removed.
void rewrite_model(const fs::path& dir, const std::vector<std::pair<std::string, std::string>>& extra,
                   const std::string& drop = "", float bump = 0) {
  io::safetensors_reader rd(dir / "model.safetensors");
  std::vector<std::vector<float>> bufs;
  io::safetensors_writer w;
  w.set_metadata("format", "pt");
  bufs.reserve(rd.names().size() + extra.size());
  for (const auto& n : rd.names()) {
    if (n == drop) continue;
    bufs.emplace_back(rd.info(n).numel);
    rd.read<float>(n, std::span<float>(bufs.back()), rd.info(n).shape);
    w.add<float>(n, rd.info(n).shape, bufs.back().data());
  }
  for (const auto& [name, like] : extra) {
    bufs.emplace_back(rd.info(like).numel);
    rd.read<float>(like, std::span<float>(bufs.back()), rd.info(like).shape);
    bufs.back()[0] += bump;
    w.add<float>(name, rd.info(like).shape, bufs.back().data());
  }
  w.write(dir / "model.safetensors");
}

}  // namespace

TEST_CASE("decoder checkpoint: LLaMA (GQA, tied and untied) and GPT-2 round-trip bit for bit") {
  for (const auto& c : {tiny_llama(false), tiny_llama(true), tiny_gpt2()}) {
    test::scratch_dir d("dec_ck");
    auto ck = random_checkpoint(c, 7);
    io::save_checkpoint(d / "m", ck);
    CHECK(fs::exists(d / "m" / "config.json"));
    CHECK_FALSE(fs::exists(d / "m" / "vocab.txt"));  // a decoder folder needs none
    CHECK(io::checkpoint_kind_of(d / "m") == io::checkpoint_kind::decoder);
    CHECK(io::model_type_of(d / "m" / "config.json") == c.model_type);
    const auto back = io::load_decoder_checkpoint(d / "m");
    CHECK(back.config == c);
    CHECK(back.params == ck.params);
    CHECK(back.vocab.empty());
    CHECK_FALSE(back.opt);
    // The tied lm_head is not written; the untied one is.
    io::safetensors_reader rd(d / "m" / "model.safetensors");
    CHECK(rd.contains("lm_head.weight") == !c.tie_word_embeddings);
  }
}

TEST_CASE("decoder checkpoint: vocab.txt, optimizer state and trainer state round-trip") {
  test::scratch_dir d("dec_ck_opt");
  auto ck = random_checkpoint(tiny_llama(false), 9);
  ck.vocab = {"<s>", "</s>", "a", "b"};
  io::optimizer_state st;
  st.exp_avg = ck.params;
  st.exp_avg_sq = ck.params;
  for (auto& x : st.exp_avg_sq) x = x * x;
  st.step = 42;
  st.extra["lr"] = "0.5";
  ck.opt = st;
  ck.trainer_state = io::json::object();
  ck.trainer_state["stage"] = 1;
  io::save_checkpoint(d / "m", ck);
  const auto back = io::load_checkpoint<model::decoder_config>(d / "m");
  CHECK(back.vocab == ck.vocab);
  REQUIRE(back.opt);
  CHECK(back.opt->exp_avg == st.exp_avg);
  CHECK(back.opt->exp_avg_sq == st.exp_avg_sq);
  CHECK(back.opt->step == 42);
  CHECK(back.opt->extra.at("lr") == "0.5");
  CHECK(back.trainer_state["stage"] == 1);
}

TEST_CASE("decoder checkpoint: strict loading") {
  test::scratch_dir d("dec_ck_strict");
  const auto save = [&](const model::decoder_config& c, const std::string& name) {
    auto ck = random_checkpoint(c, 5);
    io::save_checkpoint(d / name, ck);
    return d / name;
  };
  SUBCASE("a missing tensor is named") {
    const auto m = save(tiny_llama(false), "a");
    rewrite_model(m, {}, "model.layers.1.mlp.gate_proj.weight");
    CHECK_THROWS_WITH(io::load_decoder_checkpoint(m), doctest::Contains("model.layers.1.mlp.gate_proj.weight"));
  }
  SUBCASE("an unknown tensor is an error naming the architecture") {
    const auto m = save(tiny_llama(false), "b");
    rewrite_model(m, {{"model.layers.0.extra.weight", "model.norm.weight"}});
    CHECK_THROWS_WITH(io::load_decoder_checkpoint(m), doctest::Contains("LlamaForCausalLM parameter"));
    io::load_options lo;
    lo.allow_unknown_tensors = true;
    CHECK_NOTHROW(io::load_decoder_checkpoint(m, lo));
  }
  SUBCASE("a tied lm_head must equal the token embeddings") {
    const auto m = save(tiny_llama(true), "c");
    rewrite_model(m, {{"lm_head.weight", "model.embed_tokens.weight"}});
    CHECK_NOTHROW(io::load_decoder_checkpoint(m));
    rewrite_model(m, {}, "lm_head.weight");
    rewrite_model(m, {{"lm_head.weight", "model.embed_tokens.weight"}}, "", 1.0f);
    CHECK_THROWS_WITH(io::load_decoder_checkpoint(m), doctest::Contains("equal to the tied model.embed_tokens.weight"));
  }
  SUBCASE("an untied lm_head is required") {
    const auto m = save(tiny_llama(false), "d");
    rewrite_model(m, {}, "lm_head.weight");
    CHECK_THROWS_WITH(io::load_decoder_checkpoint(m), doctest::Contains("lm_head.weight"));
  }
  SUBCASE("old non-persistent buffers are ignored") {
    const auto g = save(tiny_gpt2(), "e");
    rewrite_model(g, {{"transformer.h.0.attn.bias", "transformer.ln_f.weight"},
                      {"transformer.h.1.attn.masked_bias", "transformer.ln_f.bias"}});
    CHECK_NOTHROW(io::load_decoder_checkpoint(g));
    const auto l = save(tiny_llama(false), "f");
    rewrite_model(l, {{"model.layers.0.self_attn.rotary_emb.inv_freq", "model.norm.weight"}});
    CHECK_NOTHROW(io::load_decoder_checkpoint(l));
  }
  SUBCASE("a BERT reader refuses a decoder folder by its model_type") {
    const auto m = save(tiny_gpt2(), "g");
    CHECK_THROWS_WITH(io::load_checkpoint(m), doctest::Contains("model_type"));
  }
}
