// The decoder layout tables (model/decoder_layout.hpp) and their config.json (io/decoder_config_json.hpp):
// parameter counts of public checkpoints, HF names and shapes, and config round trips and errors.
#include <doctest/doctest.h>

#include <growth/io/decoder_config_json.hpp>
#include <growth/model/decoder_layout.hpp>

#include <algorithm>
#include <string>

using growth::model::decoder_config;
using growth::model::decoder_family;
namespace io = growth::io;

namespace {

decoder_config parse(const std::string& text) { return io::parse_json(text, "test").get<decoder_config>(); }

const growth::model::param_spec& spec(const std::vector<growth::model::param_spec>& p, const std::string& name) {
  const auto it = std::find_if(p.begin(), p.end(), [&](const auto& s) { return s.name == name; });
  REQUIRE_MESSAGE(it != p.end(), name);
  return *it;
}

}  // namespace

TEST_CASE("decoder tables count the parameters of public checkpoints") {
  // GPT-2 small (openai-community/gpt2): 124,439,808 parameters.
  const decoder_config gpt2 = parse(R"({"model_type": "gpt2", "vocab_size": 50257, "n_positions": 1024, "n_embd": 768,
                                        "n_layer": 12, "n_head": 12, "n_inner": null})");
  CHECK(gpt2.intermediate_size == 3072);
  CHECK(growth::model::parameter_count(gpt2) == 124439808);
  // TinyLlama-1.1B: grouped-query attention (32 heads, 4 key/value heads), untied head: 1,100,048,384.
  const decoder_config tiny = parse(R"({"model_type": "llama", "vocab_size": 32000, "hidden_size": 2048,
      "intermediate_size": 5632, "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
      "rms_norm_eps": 1e-05, "tie_word_embeddings": false})");
  CHECK(growth::model::parameter_count(tiny) == 1100048384);
  // Llama-2-7B: 6,738,415,616.
  const decoder_config l7 = parse(R"({"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096,
      "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32})");
  CHECK(growth::model::parameter_count(l7) == 6738415616ULL);
  // Qwen2-0.5B: q/k/v biases, tied head: 494,032,768.
  const decoder_config q = parse(R"({"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896,
      "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
      "tie_word_embeddings": true, "use_sliding_window": false, "sliding_window": 32768, "max_window_layers": 21})");
  CHECK(growth::model::parameter_count(q) == 494032768);
}

TEST_CASE("decoder tables: HF names, storage-order axes and growth semantics") {
  using namespace growth::model;
  decoder_config c;
  c.vocab_size = 11;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.intermediate_size = 12;
  c.max_position_embeddings = 16;
  c.validate();
  auto p = decoder_parameters(c);
  CHECK(spec(p, "model.layers.1.self_attn.k_proj.weight").shape == std::vector<std::size_t>{4, 8});  // kv 2 x 2
  CHECK(spec(p, "model.layers.1.self_attn.q_proj.weight").shape == std::vector<std::size_t>{8, 8});
  CHECK(spec(p, "model.layers.0.mlp.down_proj.weight").residual_out);
  CHECK(spec(p, "model.layers.0.self_attn.o_proj.weight").residual_out);
  CHECK(spec(p, "model.layers.0.mlp.gate_proj.weight").key == "mlp.gate_proj.weight");
  CHECK(spec(p, "model.norm.weight").site == ln_site::final);  // untied: lm_head reads it through its fan-in
  CHECK(spec(p, "lm_head.weight").shape == std::vector<std::size_t>{11, 8});
  c.tie_word_embeddings = true;
  p = decoder_parameters(c);
  CHECK(spec(p, "model.norm.weight").site == ln_site::head);
  CHECK(std::none_of(p.begin(), p.end(), [](const auto& s) { return s.name == "lm_head.weight"; }));
  CHECK(is_tied_alias(c, "lm_head.weight"));
  CHECK(is_tied_alias(c, "model.layers.3.self_attn.rotary_emb.inv_freq"));

  decoder_config g = io::detail::decoder_defaults("gpt2", "test");
  g.vocab_size = 11;
  g.hidden_size = 8;
  g.num_hidden_layers = 1;
  g.num_attention_heads = g.num_key_value_heads = 2;
  g.intermediate_size = 32;
  g.max_position_embeddings = 16;
  g.bos_token_id = g.eos_token_id = 10;
  g.validate();
  p = decoder_parameters(g);
  const auto& qkv = spec(p, "transformer.h.0.attn.c_attn.weight");
  CHECK(qkv.shape == std::vector<std::size_t>{8, 24});  // Conv1D: in x out
  CHECK((qkv.axes[0].d == dim::hidden && qkv.axes[0].s == side::in));
  CHECK((qkv.axes[1].d == dim::qkv && qkv.axes[1].s == side::out));
  CHECK(spec(p, "transformer.h.0.mlp.c_proj.weight").shape == std::vector<std::size_t>{32, 8});
  CHECK(spec(p, "transformer.wpe.weight").shape == std::vector<std::size_t>{16, 8});
  CHECK(spec(p, "transformer.ln_f.bias").site == ln_site::head);
  CHECK(is_tied_alias(g, "transformer.h.0.attn.masked_bias"));
  CHECK_FALSE(is_tied_alias(g, "transformer.h.0.attn.c_attn.bias"));
}

TEST_CASE("decoder config.json round trips in each family's spelling") {
  for (const char* type : {"llama", "mistral", "qwen2", "gpt2"}) {
    CAPTURE(type);
    decoder_config c = io::detail::decoder_defaults(type, "test");
    c.vocab_size = 100;
    c.hidden_size = 16;
    c.num_hidden_layers = 3;
    c.num_attention_heads = 4;
    c.num_key_value_heads = std::string(type) == "gpt2" ? 4 : 2;
    c.intermediate_size = 40;
    c.max_position_embeddings = 64;
    c.bos_token_id = 1;
    c.eos_token_id = 2;
    if (std::string(type) == "llama") c.qkv_bias = c.o_bias = true;
    c.validate();
    const io::json j = c;
    CHECK(io::model_type_of(j) == type);
    CHECK(j.get<decoder_config>() == c);
    CHECK(io::is_decoder_model_type(type));
  }
  CHECK_FALSE(io::is_decoder_model_type("bert"));
  CHECK(io::model_type_of(io::parse_json("{}")) == "bert");
}

TEST_CASE("decoder config errors name the field") {
  const auto fails = [](const std::string& text, const std::string& needle) {
    CAPTURE(text);
    try {
      (void)parse(text);
      FAIL("accepted");
    } catch (const growth::error& e) {
      CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  fails(R"({"model_type": "llama", "num_attention_heads": 6, "num_key_value_heads": 4})", "num_key_value_heads");
  fails(R"({"model_type": "llama", "rope_scaling": {"type": "linear", "factor": 2.0}})", "rope_scaling");
  fails(R"({"model_type": "llama", "hidden_act": "gelu"})", "hidden_act");
  fails(R"({"model_type": "mistral", "sliding_window": 16})", "sliding_window");
  fails(R"({"model_type": "qwen2", "use_sliding_window": true})", "use_sliding_window");
  fails(R"({"model_type": "gpt2", "n_positions": 64, "n_ctx": 32})", "n_ctx");
  fails(R"({"model_type": "gpt2", "activation_function": "relu"})", "activation_function");
  fails(R"({"model_type": "gpt2", "scale_attn_weights": false})", "scale_attn_weights");
  fails(R"({"model_type": "gpt2", "tie_word_embeddings": false})", "tie_word_embeddings");
  fails(R"({"model_type": "t5"})", "model_type");
  fails(R"({"model_type": "llama", "vocab_size": 10, "bos_token_id": 10})", "bos_token_id");
  // Overrides: a typo is an error, not a silent no-op.
  decoder_config base = io::detail::decoder_defaults("llama", "test");
  base.num_key_value_heads = base.num_attention_heads;
  try {
    (void)io::apply_overrides(base, io::parse_json(R"({"num_hiden_layers": 4})"));
    FAIL("accepted a typo");
  } catch (const growth::error& e) {
    CHECK(std::string(e.what()).find("num_hiden_layers") != std::string::npos);
  }
  CHECK(io::apply_overrides(base, io::parse_json(R"({"num_hidden_layers": 40})")).num_hidden_layers == 40);
}
