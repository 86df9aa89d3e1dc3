// Non-exact operators of whole-model growth, checked tensor by tensor against plain loops (stacking,
// interpolation, mean padding, position tile / interpolate / random), and bad targets: growth::error
// naming the field, destination untouched.
#include <doctest/doctest.h>

#include <string>

#include "grow_test_util.hpp"

using namespace growth;
using namespace growth::test;
using growth::grow_options;

namespace {

tensor_view<float, 2> mat(ref_bert& m, const std::string& name) { return m.parameters().at(name).as<2>(); }
tensor_view<float, 1> vec(ref_bert& m, const std::string& name) { return m.parameters().at(name).as<1>(); }

/// Every layer parameter of new layer i equals that of old layer src(i), bit for bit.
template <class Src>
void check_layer_copies(ref_bert& small, ref_bert& big, Src src) {
  auto sp = small.parameters();
  auto bp = big.parameters();
  for (const auto& s : model::bert_parameters(big.config())) {
    if (s.layer < 0) continue;
    const auto i = static_cast<std::size_t>(s.layer);
    const std::string old = model::layer_prefix(src(i)) + s.name.substr(model::layer_prefix(i).size());
    const auto& a = sp.at(old);
    const auto& b = bp.at(s.name);
    REQUIRE(a.numel() == b.numel());
    bool same = true;
    for (std::size_t j = 0; j < a.numel(); ++j) same = same && a.data[j] == b.data[j];
    INFO(s.name << " from " << old);
    CHECK(same);
  }
}

}  // namespace

TEST_CASE("grow maps: depth stacking copies old layer i mod L, interpolation old layer i L / L'") {
  for (std::uint64_t seed : {1, 2, 3}) {
    const bert_config from = random_config(seed);
    bert_config to = from;
    to.num_hidden_layers = 2 * from.num_hidden_layers + 1;
    auto small = random_model(from, seed);
    const std::size_t L = from.num_hidden_layers, L2 = to.num_hidden_layers;
    grow_options o;
    o.depth = depth_mode::stack;
    model::exactness ex;
    auto st = grow_model(*small, to, o, &ex);
    CHECK_FALSE(ex.exact);
    check_layer_copies(*small, *st, [&](std::size_t i) { return i % L; });
    // stacking computes f(f(x)): the logits change (the comparison would catch a non-exact operator)
    CHECK(relative_logit_diff(*small, *st, grow_batch(from, seed)) > 1e-3);
    o.depth = depth_mode::interpolate;
    auto ip = grow_model(*small, to, o);
    check_layer_copies(*small, *ip, [&](std::size_t i) { return i * L / L2; });
  }
}

TEST_CASE("grow maps: hidden mean padding") {
  for (std::uint64_t seed : {4, 5}) {
    bert_config from = random_config(seed);
    bert_config to = from;
    const std::size_t hd = from.head_dim(), H = from.hidden_size;
    to.num_attention_heads = from.num_attention_heads + 1;  // not an integer multiple of H
    to.hidden_size = to.num_attention_heads * hd;
    const std::size_t H2 = to.hidden_size;
    auto small = random_model(from, seed);
    grow_options o;
    o.hidden = growth::hidden_mode::mean_pad;
    o.heads = growth::heads_mode::add;
    o.seed = seed;
    model::exactness ex;
    auto big = grow_model(*small, to, o, &ex);
    CHECK_FALSE(ex.exact);
    // Embedding columns: j < H copied, j >= H the mean of the old row.
    const auto w = mat(*small, "bert.embeddings.word_embeddings.weight");
    const auto w2 = mat(*big, "bert.embeddings.word_embeddings.weight");
    double err = 0;
    for (std::size_t v = 0; v < from.vocab_size; ++v) {
      double mean = 0;
      for (std::size_t j = 0; j < H; ++j) mean += w(v, j) / static_cast<double>(H);
      for (std::size_t j = 0; j < H2; ++j) err = std::max(err, std::fabs(w2(v, j) - (j < H ? w(v, j) : mean)));
    }
    CHECK(err < 1e-6);
    // LayerNorm gains: the padded gain times sqrt(H / H').
    const auto g = vec(*small, "bert.embeddings.LayerNorm.weight");
    const auto g2 = vec(*big, "bert.embeddings.LayerNorm.weight");
    double gm = 0;
    for (std::size_t j = 0; j < H; ++j) gm += g(j) / static_cast<double>(H);
    const double sc = std::sqrt(static_cast<double>(H) / static_cast<double>(H2));
    err = 0;
    for (std::size_t j = 0; j < H2; ++j) err = std::max(err, std::fabs(g2(j) - (j < H ? g(j) : gm) * sc));
    CHECK(err < 1e-6);
    // Query weight: old heads' rows keep old columns and get zero new columns; new head rows are fresh noise.
    const std::string q = model::layer_prefix(0) + "attention.self.query.weight";
    const auto wq = mat(*small, q);
    const auto wq2 = mat(*big, q);
    err = 0;
    bool fresh_nonzero = true;
    for (std::size_t r = 0; r < H2; ++r)
      for (std::size_t c = 0; c < H2; ++c) {
        if (r < H) err = std::max(err, static_cast<double>(std::fabs(wq2(r, c) - (c < H ? wq(r, c) : 0.0f))));
        else fresh_nonzero = fresh_nonzero && wq2(r, c) != 0.0f;
      }
    CHECK(err == 0);
    CHECK(fresh_nonzero);
    // Bias of a new head: zero, as at initialisation.
    const auto bq2 = vec(*big, model::layer_prefix(0) + "attention.self.query.bias");
    for (std::size_t r = H; r < H2; ++r) CHECK(bq2(r) == 0.0f);
  }
}

TEST_CASE("grow maps: position table tile / interpolate / random") {
  for (std::uint64_t seed : {6, 7}) {
    const bert_config from = random_config(seed);
    bert_config to = from;
    const std::size_t P = from.max_position_embeddings, P2 = 2 * P + 1, H = from.hidden_size;
    to.max_position_embeddings = P2;
    auto small = random_model(from, seed);
    const std::string name = "bert.embeddings.position_embeddings.weight";
    const auto pe = mat(*small, name);
    grow_options o;
    o.seed = seed;
    o.length = length_mode::tile;
    auto tiled = grow_model(*small, to, o);
    bool ok = true;
    for (std::size_t j = 0; j < P2; ++j)
      for (std::size_t c = 0; c < H; ++c) ok = ok && mat(*tiled, name)(j, c) == pe(j % P, c);
    CHECK(ok);

    o.length = length_mode::interpolate;
    auto interp = grow_model(*small, to, o);
    double err = 0;
    for (std::size_t j = 0; j < P2; ++j) {
      const double x = static_cast<double>(j) * static_cast<double>(P - 1) / static_cast<double>(P2 - 1);
      const auto i0 = static_cast<std::size_t>(std::floor(x + 1e-12));
      const double f = x - static_cast<double>(i0);
      for (std::size_t c = 0; c < H; ++c) {
        const double want = f < 1e-12 ? pe(i0, c) : (1 - f) * pe(i0, c) + f * pe(i0 + 1, c);
        err = std::max(err, std::fabs(mat(*interp, name)(j, c) - want));
      }
    }
    CHECK(err < 1e-5);
    // Rows 1..P-1 move (x = j (P-1)/(P'-1) < j), so the old model's inputs see another table: not exact.
    CHECK_FALSE(model::check_growth(from, to, o).exact);

    o.length = length_mode::random;
    auto rnd = grow_model(*small, to, o);
    auto rnd2 = grow_model(*small, to, o);
    o.seed = seed + 1;
    auto rnd3 = grow_model(*small, to, o);
    ok = true;
    bool same_seed_same = true, other_seed_differs = false;
    double sumsq = 0;
    for (std::size_t j = 0; j < P2; ++j)
      for (std::size_t c = 0; c < H; ++c) {
        const float v = mat(*rnd, name)(j, c);
        if (j < P) ok = ok && v == pe(j, c);
        else sumsq += static_cast<double>(v) * v;
        same_seed_same = same_seed_same && v == mat(*rnd2, name)(j, c);
        other_seed_differs = other_seed_differs || (j >= P && v != mat(*rnd3, name)(j, c));
      }
    CHECK(ok);
    CHECK(same_seed_same);
    CHECK(other_seed_differs);
    const double sd = std::sqrt(sumsq / static_cast<double>((P2 - P) * H));
    CHECK(sd > 0.3 * to.initializer_range);
    CHECK(sd < 3 * to.initializer_range);
  }
}

TEST_CASE("grow errors: bad targets name the field and leave the destination untouched") {
  const bert_config from = random_config(8);
  auto small = random_model(from, 8);
  auto expect_error = [&](const bert_config& to, const grow_options& o, const std::string& field) {
    const reference::flat_layout lt(to);
    std::vector<float> buf(lt.total, 7.0f);
    auto dst = lt.views(buf.data());
    auto src = small->parameters();
    std::string msg;
    try {
      model::grow(from, src, to, dst, o);
    } catch (const growth::error& e) {
      msg = e.what();
    }
    INFO("message: " << msg);
    CHECK(msg.find(field) != std::string::npos);
    bool untouched = true;
    for (float x : buf) untouched = untouched && x == 7.0f;
    CHECK(untouched);
  };
  {
    bert_config to = from;
    to.num_hidden_layers = 0;
    to.intermediate_size = from.intermediate_size - 1;
    to.num_hidden_layers = from.num_hidden_layers;
    expect_error(to, {}, "intermediate_size");
  }
  {  // the exit operators name no split: a growing FFN refuses them (as the schedule validator does)
    bert_config to = from;
    to.intermediate_size = 2 * from.intermediate_size;
    grow_options o;
    o.ffn = growth::ffn_mode::unshare;
    expect_error(to, o, "grow option ffn");
  }
  if (from.num_hidden_layers > 1) {
    bert_config to = from;
    to.num_hidden_layers = from.num_hidden_layers - 1;
    expect_error(to, {}, "num_hidden_layers");
  }
  {
    bert_config to = from;  // heads not dividing hidden
    to.hidden_size = 2 * from.hidden_size;
    to.num_attention_heads = 2 * from.hidden_size + 1;
    expect_error(to, {}, "num_attention_heads");
  }
  {
    bert_config to = from;  // changed head size
    to.hidden_size = 2 * from.hidden_size;
    expect_error(to, {}, "head size");
  }
  {
    bert_config to = from;  // non-integer replicate factor (H -> H + head_dim, one more head)
    to.hidden_size = from.hidden_size + from.head_dim();
    to.num_attention_heads = from.num_attention_heads + 1;
    if (to.hidden_size % from.hidden_size != 0) expect_error(to, {}, "hidden_size");
  }
  {
    bert_config to = from;
    to.vocab_size = from.vocab_size + 1;
    expect_error(to, {}, "vocab_size");
  }
}
