#pragma once
// Configuration by environment for `serve`: every option of the serve description is also
// read from an environment variable named after it (--log-format -> MAGNESIUM_CDS_LOG_FORMAT),
// the command line winning over the environment, so that a container or a Kubernetes
// Deployment configures the service without a wrapper script (twelve-factor III, "store
// config in the environment").

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/program_options.hpp>

namespace cds::service::ops {

inline constexpr std::string_view environment_prefix = "MAGNESIUM_CDS_";

// "log-format" -> "MAGNESIUM_CDS_LOG_FORMAT".
[[nodiscard]] std::string environment_name(std::string_view option);

enum class config_source { unset, default_value, environment, command_line };

struct effective_config {
    boost::program_options::variables_map values;
    std::map<std::string, config_source> sources;           // by option name
    std::map<std::string, std::vector<std::string>> given;  // the text given, by option name
};

// Parses `args` and then the environment against `description`; options in `not_from_environment`
// (such as --print-config) are taken from the command line only. A repeatable option's
// environment value is split at whitespace. Throws boost::program_options::error on a bad value.
[[nodiscard]] effective_config parse_command_line_and_environment(
    std::vector<std::string> const& args,
    boost::program_options::options_description const& description,
    std::set<std::string> const& not_from_environment);

// The value as --print-config shows it: the password of a URL's user information and the
// value of any option naming a key, token, secret, password or credentials is replaced by
// "(redacted)"; options in `paths` name a file and are shown (a path, never the contents).
[[nodiscard]] std::string redact(std::string_view option,
                                 std::string_view value,
                                 std::set<std::string> const& paths);

// `serve --print-config`: a JSON object with one member per option,
// {"value": ..., "source": "default"|"env"|"flag"|"unset", "environment": "MAGNESIUM_CDS_..."}.
[[nodiscard]] std::string describe_config(
    boost::program_options::options_description const& description,
    effective_config const& config,
    std::set<std::string> const& paths,
    std::set<std::string> const& not_from_environment);

}  // namespace cds::service::ops
