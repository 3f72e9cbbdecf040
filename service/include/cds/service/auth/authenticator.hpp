#pragma once
// Request-level authentication policy for the HTTP server (CDS Hooks 2.0 "Trusting CDS
// Clients" plus secure defaults), by the endpoint kind the router found from the
// path pattern; this is the one place that says which kinds need a token. The router asks
// before it looks anything up or reads the body, and answers a bare 401 when `allowed` is
// false. CORS preflights are answered before the router asks.
//
//  - /healthz, /readyz: never need a token.
//  - GET /cds-services (discovery): public unless protect_discovery; a token that is sent
//    anyway is verified (aud = the discovery URL) and a bad one refused.
//  - Everything else (POST /cds-services/{id} for any id, known or not, POST
//    /cds-services/{id}/feedback, and any unknown path): a valid token is required. The
//    invoked URL for `aud` is public_url + the request path without its query.
//  - When no issuer is trusted (authentication off) every request is allowed.
//
// Thread-safety: `check` may be called concurrently; counters are atomics, and the verifier
// documents its own locking.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <cds/service/auth/authentication.hpp>
#include <cds/service/auth/jwt_verifier.hpp>

namespace cds::service::auth {

enum class endpoint_access {
    public_endpoint,  // no token needed, none checked
    token_optional,   // verified if present (discovery by default)
    token_required,
};

// What an endpoint of this kind needs, whatever the method (a wrong method is answered 405
// only after authentication, so that it tells nothing to a client without a token).
[[nodiscard]] endpoint_access classify_endpoint(endpoint_kind kind, bool protect_discovery);

// The path part of a request target ("/cds-services/x?y=1" -> "/cds-services/x").
[[nodiscard]] std::string_view target_path(std::string_view target);

// "Bearer <token>" (scheme case-insensitive, RFC 7235 §2.1) -> the token; nullopt for any
// other shape.
[[nodiscard]] std::optional<std::string_view> bearer_token(std::string_view authorization);

// What a 401 carries (RFC 6750 §3); the body stays empty: no reason is given to the client.
inline constexpr std::string_view www_authenticate_value = "Bearer";

struct auth_decision {
    bool allowed = true;
    bool token_checked = false;  // a token was verified (successfully or not)
    verification_result result;  // reason ok when allowed; the failure otherwise
};

class authenticator {
public:
    using time_point = std::chrono::system_clock::time_point;

    // `verifier` null = authentication off (no --trust). public_url has no trailing slash.
    authenticator(std::unique_ptr<jwt_verifier> verifier,
                  std::string public_url,
                  bool protect_discovery);

    [[nodiscard]] bool enabled() const { return verifier_ != nullptr; }

    // kind: what the router found at the path; target: the request path (a query is ignored);
    // authorization: the Authorization header's value if the request had one.
    // fetch: see jwt_verifier::verify; a deferred decision (result.fetch_deferred) is not
    // counted, the decision made again with key_fetch::allowed is.
    [[nodiscard]] auth_decision check(endpoint_kind kind,
                                      std::string_view target,
                                      std::optional<std::string_view> authorization,
                                      time_point now,
                                      key_fetch fetch = key_fetch::allowed);

    // One line for the log: "reason=expired iss=... jti=... kid=..." (no token, no body).
    [[nodiscard]] static std::string describe(verification_result const& result);

    // Count of decisions per reason (index = auth_reason); only checked tokens and missing
    // tokens are counted, public requests are not.
    [[nodiscard]] std::vector<std::pair<std::string_view, std::uint64_t>> counters() const;

    [[nodiscard]] jwt_verifier* verifier() { return verifier_.get(); }
    [[nodiscard]] std::string const& public_url() const { return public_url_; }

private:
    void count(auth_reason reason);

    std::unique_ptr<jwt_verifier> verifier_;
    std::string public_url_;
    bool protect_discovery_;
    std::array<std::atomic<std::uint64_t>, auth_reason_count> counters_{};
};

}  // namespace cds::service::auth
