#pragma once
// `serve`'s command line (and environment) read into the structs it configures.

#include <string>
#include <vector>

#include <boost/program_options/variables_map.hpp>

#include "cds/service/cds/service_state.hpp"
#include "cds/service/http/http_server.hpp"

namespace cds::service::cli {

// The serve options from `args` and the environment (ops/serve_config.hpp). With
// --print-config the effective configuration is printed and nullopt returned.
[[nodiscard]] std::optional<boost::program_options::variables_map> parse_serve_arguments(
    std::vector<std::string> const& args);

// --listen, --threads, --io-model, --shutdown-timeout, TLS and --rules/--rules-watch. Throws
// usage_error on a bad value and start_refused when the TLS files do not load.
[[nodiscard]] server_options server_options_from(boost::program_options::variables_map const& vm);

// The request bounds (--max-*, --body-budget, the read/idle/write timeouts, the FHIR deadline).
[[nodiscard]] service_limits service_limits_from(boost::program_options::variables_map const& vm);

// --cors-origin and --cors-max-age.
[[nodiscard]] cors_policy cors_policy_from(boost::program_options::variables_map const& vm);

}  // namespace cds::service::cli
