#pragma once
// Authentication configuration: command-line flags, their parsing, the listen policy, and
// the factory that builds the authenticator. All of this runs at start-up, so errors are
// exceptions (auth_config_error) that main turns into a message and a non-zero exit.
//
// Flags (see add_auth_options):
//   --trust ISSUER=JWKS_FILE_OR_HTTPS_URL   repeatable; any --trust turns authentication on
//   --public-url URL                         base URL clients call; required with --trust
//   --allow-unauthenticated                  permit no --trust on a non-loopback address
//   --protect-discovery                      GET /cds-services needs a valid token too
//   --jwt-clock-skew SECONDS                 leeway for exp/nbf/iat (default 60, max 300)
//   --jwt-algorithms LIST                    comma list of ES384,RS384,ES256,RS256
//                                            (default ES384,RS384)
//   --jwks-ca-file FILE                      CA bundle for HTTPS JWKS URLs (default: system)

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <cds/service/auth/authenticator.hpp>
#include <cds/service/auth/jwks_source.hpp>
#include <cds/service/auth/jwt_verifier.hpp>

namespace boost::program_options {
class options_description;
class variables_map;
}  // namespace boost::program_options

namespace cds::service::auth {

class auth_config_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct trust_entry {
    std::string issuer;
    std::string jwks;  // a file path or an https:// URL
};

struct auth_config {
    std::vector<trust_entry> trust;
    std::string public_url;  // normalised: no trailing slash
    bool allow_unauthenticated = false;
    bool protect_discovery = false;
    verifier_options verifier;  // skew, algorithms, lifetime, replay cache, JWKS refresh
    https_jwks_options https;   // JWKS URL fetch timeout and CA file

    [[nodiscard]] bool enabled() const { return !trust.empty(); }
};

// "ISSUER=SOURCE". Issuers are URIs and may themselves hold '=' (a query), file paths
// rarely do: the split is at the first "=https://" or "=http://" if there is one (an URL
// source), otherwise at the last '='. Throws auth_config_error.
[[nodiscard]] trust_entry parse_trust_flag(std::string_view value);
// An absolute http(s) URL without query, fragment or user info; trailing '/' removed.
[[nodiscard]] std::string parse_public_url(std::string_view value);
// A duration of whole seconds, 0s to 5m ("30s", "1m"; ops/duration.hpp).
[[nodiscard]] std::chrono::seconds parse_clock_skew(std::string_view value);
// "ES384,RS384" (case-sensitive JOSE names, RFC 7518 §3.1). none, HS* and unknown names
// are refused with a message saying why.
[[nodiscard]] std::vector<jws_algorithm> parse_algorithms(std::string_view value);

// Raw flag values, as given on the command line.
struct auth_flag_values {
    std::vector<std::string> trust;
    std::string public_url;
    bool allow_unauthenticated = false;
    bool protect_discovery = false;
    std::string clock_skew;  // empty: verifier_options' default
    std::string algorithms = "ES384,RS384";
    std::string jwks_ca_file;
};

// Declares the flags above in `options` (no storage pointers: read them back from the
// variables_map with read_auth_flags after po::store/po::notify).
void add_auth_options(boost::program_options::options_description& options);
[[nodiscard]] auth_flag_values read_auth_flags(boost::program_options::variables_map const& vm);

// Validates and converts the raw values (and checks --trust needs --public-url, no issuer
// twice). Throws auth_config_error.
[[nodiscard]] auth_config make_auth_config(auth_flag_values const& values);

// Secure default: with no --trust the service may run unauthenticated only on a
// loopback listen address (127.0.0.0/8, ::1, localhost) unless --allow-unauthenticated.
// `listen_host` is the host part of --listen ("127.0.0.1", "0.0.0.0", "::1", "[::1]").
struct listen_policy_decision {
    bool allowed = true;
    // Refusal: why, for stderr before exiting non-zero. Allowed but unauthenticated: a
    // warning to log at start-up. Empty when authentication is on.
    std::string message;
};
[[nodiscard]] listen_policy_decision check_listen_policy(std::string_view listen_host,
                                                         auth_config const& config);

[[nodiscard]] bool is_loopback_host(std::string_view host);

// Builds the authenticator: with no --trust an authenticator that allows everything;
// otherwise one JWKS source per issuer and every key set loaded now. An unreadable or
// invalid JWKS file throws auth_config_error; an HTTPS JWKS that cannot be fetched now is
// reported in `warnings` (it is fetched again on the first token) so a briefly unreachable
// EHR does not keep the service down.
[[nodiscard]] std::shared_ptr<authenticator> make_authenticator(
    auth_config const& config,
    std::chrono::system_clock::time_point now,
    std::vector<std::string>* warnings = nullptr);

}  // namespace cds::service::auth
