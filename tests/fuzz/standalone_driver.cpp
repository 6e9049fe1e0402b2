// A main() for the fuzz targets where libFuzzer is absent (the gcc build of `make test`): every corpus file is run,
// then a fixed number of deterministic mutations of them (bit flips, byte sets, cuts, splices). `make fuzz` links
// the same targets with clang's libFuzzer instead (scripts/fuzz.sh).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {
std::vector<uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

std::vector<uint8_t> mutate(std::vector<uint8_t> x, const std::vector<std::vector<uint8_t>>& corpus,
                            std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 6) {
      case 0:
        if (!x.empty()) x[pick(x.size())] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:
        if (!x.empty()) x[pick(x.size())] = static_cast<uint8_t>(rng());
        break;
      case 2:
        x.resize(pick(x.size() + 1));
        break;
      case 3:
        x.insert(x.begin() + static_cast<long>(pick(x.size() + 1)), static_cast<uint8_t>(rng()));
        break;
      case 4: {  // a run of one interesting byte
        static const uint8_t vals[] = {0x00, 0xff, 0x7f, 0x80, '"', '\\', '\n', '\t', '{', '9'};
        size_t at = pick(x.size() + 1), n = 1 + pick(8);
        x.insert(x.begin() + static_cast<long>(at), n, vals[pick(sizeof vals)]);
        break;
      }
      default: {  // splice: our head, another file's tail
        const auto& o = corpus[pick(corpus.size())];
        size_t cut = pick(x.size() + 1), from = pick(o.size() + 1);
        x.resize(cut);
        x.insert(x.end(), o.begin() + static_cast<long>(from), o.end());
      }
    }
  }
  return x;
}
}  // namespace

int main(int argc, char** argv) {
  long runs = 0;
  uint64_t seed = 1;
  std::vector<std::vector<uint8_t>> corpus;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-runs=", 0) == 0) {
      runs = std::atol(a.c_str() + 6);
      continue;
    }
    if (a.rfind("-seed=", 0) == 0) {
      seed = std::strtoull(a.c_str() + 6, nullptr, 10);
      continue;
    }
    if (a.rfind("-", 0) == 0) continue;  // libFuzzer flags we do not implement
    std::filesystem::path p(a);
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(p)) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) corpus.push_back(read_file(f));
    } else {
      corpus.push_back(read_file(p));
    }
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "usage: %s [-runs=N] [-seed=S] CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  for (const auto& c : corpus) LLVMFuzzerTestOneInput(c.data(), c.size());
  // Each mutation is written to crash-<target> first, so a crash leaves the input that caused it; it is removed
  // when the run ends cleanly.
  const std::string keep = std::string("crash-") + std::filesystem::path(argv[0]).filename().string();
  std::mt19937_64 rng(seed);
  for (long r = 0; r < runs; ++r) {
    auto x = mutate(corpus[rng() % corpus.size()], corpus, rng);
    {
      std::ofstream out(keep, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(x.data()), static_cast<std::streamsize>(x.size()));
    }
    LLVMFuzzerTestOneInput(x.data(), x.size());
  }
  std::remove(keep.c_str());
  std::printf("%s: %zu corpus inputs and %ld mutations, no crash\n", argv[0], corpus.size(), runs);
  return 0;
}
