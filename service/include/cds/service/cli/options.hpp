#pragma once
// What every magnesium-cds command shares: exit codes, the two kinds of start-up error, parsing
// a command's arguments, reading a file or stdin, the evaluation time and the rule set.

#include <chrono>
#include <iosfwd>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "cds/fhir/date_time.hpp"
#include "cds/rules/rule_set.hpp"

namespace cds::service::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;  // invalid rules, refused start-up, an error response
inline constexpr int exit_usage = 2;    // bad command line, unreadable file

// A command-line mistake: reported with a hint to --help, exit 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A well-formed command line whose configuration cannot be served (invalid rule file, TLS
// files that do not load, an unsafe listen address): "refusing to start: ...", exit 1.
struct start_refused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The contents of `path`, or of stdin for "-". Throws std::runtime_error when unreadable.
[[nodiscard]] std::string read_file(std::string const& path);

// Parses `args` against `options`, the first positional argument (if any) under
// `positional_name`. Throws usage_error on a bad command line.
[[nodiscard]] boost::program_options::variables_map parse_arguments(
    std::vector<std::string> const& args,
    boost::program_options::options_description const& options,
    char const* positional_name);

// --now DATETIME as an instant; usage_error when it is not a FHIR dateTime.
[[nodiscard]] fhir::instant parse_now(std::string const& text);

// The duration option `name` (ops/duration.hpp) within [low, high]; usage_error naming the
// option and the range otherwise.
[[nodiscard]] std::chrono::milliseconds duration_option(
    boost::program_options::variables_map const& vm,
    char const* name,
    std::chrono::milliseconds low,
    std::chrono::milliseconds high);

// The value of option `name`, or nullopt when it was not given.
[[nodiscard]] std::optional<std::string> optional_text(
    boost::program_options::variables_map const& vm, char const* name);

// The rule set of `file`, or the bundled one when there is none. When invalid: prints every
// problem to `problems_out` (with its JSON path) and returns null.
[[nodiscard]] std::shared_ptr<rules::rule_set const> load_rules(
    std::optional<std::string> const& file, std::ostream& problems_out);

// Installs the default logger on stderr at `level_name`. `buffered`: serve's logger, written in
// batches by a background thread so that a request never waits for stderr
// (buffered_log_sink.hpp); when stderr is a terminal, where a person reads along, lines go out
// one by one in colour. `format`: text or json (one object per line).
void use_stderr_logger(std::string const& level_name,
                       bool buffered = false,
                       std::string const& format = "text");

// std::cerr once every line logged so far is out, so that direct messages stay in order after
// the (buffered) log lines that led to them.
std::ostream& cerr_after_log();

}  // namespace cds::service::cli
