// Whole-model growth benchmark on a BERT-base-shaped model (12 layers, hidden 768, FFN 3072, vocab 30522,
// random weights): grow to 24 layers (stack) and, separately, to FFN 4096 (split).
//   in memory:    grow() between two flat buffers, best of 3, vs memcpy of the output bytes (same process);
//   file to file: read + grow + write a checkpoint folder with the streaming path of `growth grow`
//                 (io/grow_files.hpp).
// Peak resident memory (getrusage ru_maxrss) is measured per case in a fresh process (--case NAME; with
// no --case the binary re-runs itself once per case) and reported as a ratio to input + output bytes.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <growth/io/checkpoint.hpp>
#include <growth/io/grow_files.hpp>
#include <growth/model/grow.hpp>

namespace fs = std::filesystem;
using namespace growth;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
double peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;
}

model::bert_config base() {
  model::bert_config c;  // defaults are BERT-base
  return c;
}
model::bert_config target(const std::string& which) {
  auto c = base();
  if (which == "stack") c.num_hidden_layers = 24;
  else c.intermediate_size = 4096;
  return c;
}
growth::grow_options options(const std::string& which) {
  growth::grow_options o;
  o.depth = depth_mode::stack;
  o.ffn = growth::ffn_mode::split;
  o.optimizer = growth::optimizer_policy::map;
  (void)which;
  return o;
}
std::size_t total(const model::bert_config& c) { return model::parameter_count(c); }

void fill_random(std::vector<float>& v) {
  std::uint64_t s = 0x9e3779b97f4a7c15ULL;
  for (auto& x : v) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    x = static_cast<float>(static_cast<double>(s >> 40) / static_cast<double>(1ULL << 24) - 0.5) * 0.04f;
  }
}

void case_memory(const std::string& which) {
  const auto from = base(), to = target(which);
  std::vector<float> src(total(from)), dst(total(to));
  fill_random(src);
  const auto sv = io::checkpoint::flat_views(from, src);
  const auto dv = io::checkpoint::flat_views(to, dst);
  double best = 1e30;
  for (int r = 0; r < 3; ++r) {
    const double t0 = now();
    model::grow(from, sv, to, dv, options(which));
    best = std::min(best, now() - t0);
  }
  const double in_bytes = static_cast<double>(src.size() * 4), out_bytes = static_cast<double>(dst.size() * 4);
  const double rss = peak_rss_bytes();
  // memcpy of the output bytes, into a pre-touched buffer (reusing src's memory would be too small)
  src.clear();
  src.shrink_to_fit();
  std::vector<float> copy(dst.size(), 1.0f);
  double mc = 1e30;
  for (int r = 0; r < 3; ++r) {
    const double t0 = now();
    std::memcpy(copy.data(), dst.data(), dst.size() * 4);
    mc = std::min(mc, now() - t0);
  }
  std::printf("%s-memory seconds=%.3f memcpy_seconds=%.3f ratio_to_memcpy=%.2f in_MB=%.0f out_MB=%.0f "
              "peak_rss_MB=%.0f rss_ratio=%.3f\n",
              which.c_str(), best, mc, best / mc, in_bytes / 1e6, out_bytes / 1e6, rss / 1e6,
              rss / (in_bytes + out_bytes));
}

fs::path work_dir() { return fs::temp_directory_path() / "growth-bench-grow"; }

void case_make_source() {
  const auto c = base();
  std::vector<float> p(total(c));
  fill_random(p);
  std::vector<std::string> vocab{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  while (vocab.size() < c.vocab_size) vocab.push_back("tok" + std::to_string(vocab.size()));
  fs::create_directories(work_dir());
  io::save_checkpoint(work_dir() / "base", c, io::checkpoint::flat_views(c, p), vocab);
}

void case_file(const std::string& which) {
  const double t0 = now();
  const auto r = io::grow_checkpoint_files(work_dir() / "base", work_dir() / ("out-" + which), target(which), options(which));
  const double t = now() - t0;
  const double rss = peak_rss_bytes();
  const double io_bytes = static_cast<double>(r.bytes_in + r.bytes_out);
  std::printf("%s-file seconds=%.3f in_MB=%.0f out_MB=%.0f MB_per_s=%.0f peak_rss_MB=%.0f rss_ratio=%.3f\n",
              which.c_str(), t, static_cast<double>(r.bytes_in) / 1e6, static_cast<double>(r.bytes_out) / 1e6,
              io_bytes / 1e6 / t, rss / 1e6, rss / io_bytes);
  fs::remove_all(work_dir() / ("out-" + which));
}

int run_case(const std::string& c) {
  if (c == "stack-memory") case_memory("stack");
  else if (c == "split-memory") case_memory("split");
  else if (c == "make-source") case_make_source();
  else if (c == "stack-file") case_file("stack");
  else if (c == "split-file") case_file("split");
  else {
    std::fprintf(stderr, "unknown case %s\n", c.c_str());
    return 2;
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 3 && std::string(argv[1]) == "--case") return run_case(argv[2]);
    // Each case in a fresh process, so ru_maxrss is that case's own peak.
    for (const char* c : {"stack-memory", "split-memory", "make-source", "stack-file", "split-file"}) {
      const pid_t pid = fork();
      if (pid == 0) {
        execl("/proc/self/exe", argv[0], "--case", c, static_cast<char*>(nullptr));
        _exit(127);
      }
      int st = 0;
      waitpid(pid, &st, 0);
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        std::fprintf(stderr, "case %s failed\n", c);
        return 1;
      }
    }
    fs::remove_all(work_dir());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_grow: %s\n", e.what());
    return 1;
  }
  return 0;
}
