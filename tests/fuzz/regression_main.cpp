// Replays inputs through a harness's LLVMFuzzerTestOneInput without libFuzzer, so every
// compiler (GCC Release included) keeps found crashers fixed:
//
//   fuzz_regression_<harness> [--optional PATH] [--require-inputs PATH]... [PATH]...
//
// Each PATH is a file or a directory (walked recursively, in sorted order; hidden files and
// README files are skipped). The run fails when a PATH does not exist (unless it follows
// --optional: fixtures/regressions/<harness>/ exists only once something was found), when
// a PATH that follows --require-inputs yields no input, when no input at all was found, or
// when fewer inputs ran than were found — so a test that silently replays nothing cannot
// pass. A crashing input aborts the process
// (the harness's invariants abort, sanitizers report and abort), failing the test; the
// input's name is printed before it runs so the failure names it.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

bool skipped(fs::path const& p) {
    auto const name = p.filename().string();
    return name.empty() || name.front() == '.' || name.starts_with("README");
}

// Appends the input files under `path`; returns false when the path does not exist.
bool collect(fs::path const& path, std::vector<fs::path>& out) {
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) {
        out.push_back(path);
        return true;
    }
    if (!fs::is_directory(path, ec)) return false;
    std::vector<fs::path> found;
    for (auto it = fs::recursive_directory_iterator(path, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && !skipped(it->path())) found.push_back(it->path());
    }
    if (ec) return false;
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<fs::path> inputs;
    bool require_next = false;
    bool optional_next = false;
    int paths = 0;
    for (int i = 1; i < argc; ++i) {
        std::string_view const arg = argv[i];
        if (arg == "--require-inputs") {
            require_next = true;
            continue;
        }
        if (arg == "--optional") {
            optional_next = true;
            continue;
        }
        std::size_t const before = inputs.size();
        if (!collect(arg, inputs)) {
            if (!optional_next) {
                std::fprintf(stderr, "fuzz regression: %s does not exist\n", argv[i]);
                return 2;
            }
        } else {
            ++paths;
            std::printf("fuzz regression: %zu inputs in %s\n", inputs.size() - before, argv[i]);
        }
        if (require_next && inputs.size() == before) {
            std::fprintf(stderr, "fuzz regression: %s holds no input\n", argv[i]);
            return 2;
        }
        require_next = false;
        optional_next = false;
    }
    if (paths == 0) {
        std::fprintf(stderr, "usage: %s [--optional PATH] [--require-inputs PATH] [PATH]...\n",
                     argv[0]);
        return 2;
    }

    std::size_t ran = 0;
    for (auto const& input : inputs) {
        std::ifstream in(input, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "fuzz regression: cannot read %s\n", input.c_str());
            return 2;
        }
        std::string const bytes{std::istreambuf_iterator<char>(in),
                                std::istreambuf_iterator<char>()};
        std::fprintf(stderr, "running %s (%zu bytes)\n", input.c_str(), bytes.size());
        // A copy of exactly the input's size, so reads past its end are caught by ASan as
        // they are under libFuzzer.
        std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
        (void)LLVMFuzzerTestOneInput(data.empty() ? nullptr : data.data(), data.size());
        ++ran;
    }
    std::printf("fuzz regression: ran %zu of %zu inputs from %d paths\n", ran, inputs.size(),
                paths);
    if (ran != inputs.size() || ran == 0) {
        std::fprintf(stderr, "fuzz regression: not every input ran\n");
        return 1;
    }
    return 0;
}
