// Consumer of growth::reference alone (growth-reference.pc): the target brings Eigen, which this project
// does not find itself. Initialises a tiny reference BERT.
#include <growth/reference/bert.hpp>
#include <growth/version.hpp>

#include <cmath>
#include <cstdio>

int main() {
  growth::model::bert_config c;
  c.vocab_size = 16;
  c.hidden_size = 8;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.intermediate_size = 16;
  c.max_position_embeddings = 8;
  growth::reference::bert<float> m(c);
  m.init(1);
  bool ok = !m.flat_params().empty();
  for (const float x : m.flat_params()) ok = ok && std::isfinite(x);
  std::printf("growth %s consumer %s (reference)\n", GROWTH_VERSION_STRING, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
