#pragma once
// Verification of the CDS Client's bearer JWT (CDS Hooks 2.0 "Trusting CDS Clients",
// RFC 7519, RFC 7515, RFC 7518).
//
// Order of checks: structure -> `alg` allowed -> `kid` present -> `iss` trusted -> key from
// that issuer's JWKS -> signature -> claims (aud, exp, nbf, iat, lifetime, jti) -> replay.
// Claims are judged only once the signature holds, so a log line saying "expired" or
// "audience_mismatch" is about a token the issuer really signed.
//
// Time is an input: `verify` never reads a clock; `now` also drives the JWKS refresh rate
// limit and the replay cache's expiry.
//
// Thread-safety: `verify` may be called concurrently from any number of threads.
//  - jwks_mutex_ guards every issuer's cached key set and refresh bookkeeping. It is never
//    held during a fetch: a thread claims the issuer's refresh slot under the mutex, fetches
//    without it, then installs the result under it. Other threads meanwhile keep verifying
//    with the keys already cached.
//  - each issuer's replay cache has its own mutex, held only for a lookup+insert.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <cds/service/auth/jwk.hpp>
#include <cds/service/auth/jwks_source.hpp>
#include <cds/service/auth/jws.hpp>

namespace cds::service::auth {

// Why a request was let in or not. Stable names (to_string) are what logs and counters use.
enum class auth_reason {
    ok,
    missing_token,     // no Authorization header where one is required
    not_bearer,        // Authorization header with another scheme or no token
    malformed,         // not a compact JWS, bad base64url/JSON, bad claim types, `crit`
    unsupported_alg,   // none, HS*, PS*, or an algorithm not configured
    missing_kid,       // header without `kid` (CDS Hooks makes it REQUIRED)
    unknown_issuer,    // `iss` absent or not configured with --trust
    unknown_kid,       // no usable key with that kid, even after a permitted refresh
    jwks_unavailable,  // the issuer's JWKS has never been obtained
    key_alg_mismatch,  // the kid's key cannot be used with the token's alg
    bad_signature,
    audience_mismatch,  // `aud` does not contain the invoked URL
    missing_claim,      // exp, iat or jti absent
    expired,            // exp (+ skew) not after now
    not_yet_valid,      // nbf after now + skew
    issued_in_future,   // iat after now + skew
    lifetime_too_long,  // exp - iat beyond the maximum (1 hour)
    replay,             // this (iss, jti) was already accepted and has not expired
    replay_cache_full,  // cache full of unexpired entries; refused rather than forgetting one
};

inline constexpr std::size_t auth_reason_count = 19;

[[nodiscard]] std::string_view to_string(auth_reason reason);

// Whether verify may fetch an issuer's JWKS on the calling thread when it needs to (a kid its
// keys lack, keys past their maximum age). deferred: it does not fetch; it stops before the
// signature check and says so (verification_result::fetch_deferred), so that the caller can
// ask again where blocking for the fetch is harmless.
enum class key_fetch { allowed, deferred };

struct verification_result {
    auth_reason reason = auth_reason::malformed;
    // key_fetch::deferred only: verifying needs a fetch of the issuer's JWKS first. Nothing else
    // was checked or recorded (no replay-cache entry); reason is jwks_unavailable.
    bool fetch_deferred = false;
    // For log lines only, as the token claimed them (unverified unless reason is ok):
    // printable ASCII, at most 128 characters, never the token itself.
    std::string issuer;
    std::string jti;
    std::string kid;
    bool jku_ignored = false;  // the token named a jku other than the issuer's JWKS URL

    [[nodiscard]] bool ok() const { return reason == auth_reason::ok; }
};

struct verifier_options {
    std::vector<jws_algorithm> algorithms{jws_algorithm::es384, jws_algorithm::rs384};
    std::chrono::seconds clock_skew{60};
    std::chrono::seconds max_token_lifetime{3600};
    // Replay caches, one per trusted issuer, each bounded by this many entries: when an
    // issuer's cache is full, its entries whose token has expired are dropped first (oldest
    // expiry first); if none has expired that issuer's new token is refused with
    // replay_cache_full. Forgetting an unexpired jti would reopen the replay window, so
    // refusing (fail closed) is the safer of the two; the bound only bites under more than
    // this many accepted calls of one issuer per token lifetime. Per issuer, because an
    // issuer whose key is public (the CDS Hooks sandbox) lets anyone mint accepted tokens:
    // filling a shared cache would lock every other issuer out.
    std::size_t replay_cache_max_entries_per_issuer = 100'000;
    // A remote JWKS is fetched again at most this often per issuer (unknown kid or age).
    std::chrono::seconds jwks_refresh_min_interval{30};
    // A remote JWKS older than this is refetched on the next call (keys can be withdrawn).
    std::chrono::seconds jwks_max_age{3600};
};

struct trusted_issuer {
    std::string issuer;  // exact `iss` value
    std::unique_ptr<jwks_source> source;
};

class jwt_verifier {
public:
    using time_point = std::chrono::system_clock::time_point;

    // Throws std::invalid_argument for an empty or duplicate issuer, a null source, or an
    // options value out of range (programmer or start-up error).
    jwt_verifier(std::vector<trusted_issuer> issuers, verifier_options options);
    ~jwt_verifier();
    jwt_verifier(jwt_verifier const&) = delete;
    jwt_verifier& operator=(jwt_verifier const&) = delete;

    // Fetches every issuer's JWKS once, at start-up. Returns one message per issuer whose
    // keys could not be obtained or parsed; the caller decides whether that is fatal
    // (make_authenticator makes it fatal for files and a warning for URLs, which are
    // retried on the first token).
    [[nodiscard]] std::vector<std::string> load_keys(time_point now);

    // `invoked_url` is the exact URL the client called (public URL + path): `aud` must
    // contain it. A token accepted once is refused as a replay afterwards.
    [[nodiscard]] verification_result verify(std::string_view token,
                                             std::string_view invoked_url,
                                             time_point now,
                                             key_fetch fetch = key_fetch::allowed);

    // How many times each issuer's source was fetched (tests and metrics).
    [[nodiscard]] std::size_t fetch_count(std::string_view issuer) const;
    // Entries in one issuer's replay cache (0 for an issuer not trusted).
    [[nodiscard]] std::size_t replay_cache_size(std::string_view issuer) const;
    [[nodiscard]] verifier_options const& options() const { return options_; }

private:
    struct issuer_state;

    // The issuer's keys for `kid`, fetched again first when they lack it or are past their age
    // (and a fetch is due); with key_fetch::deferred, `deferred` is set instead of fetching.
    [[nodiscard]] std::shared_ptr<jwk_set const> keys_for(issuer_state& issuer,
                                                          std::string_view kid,
                                                          time_point now,
                                                          key_fetch fetch,
                                                          bool& deferred);
    [[nodiscard]] bool refresh(issuer_state& issuer, time_point now, bool forced);
    // Whether a fetch may start now: none in progress, and the last attempt long enough ago
    // unless `forced`. Called with jwks_mutex_ held.
    [[nodiscard]] bool fetch_due(issuer_state const& issuer, time_point now, bool forced) const;
    [[nodiscard]] auth_reason remember_jti(issuer_state& issuer,
                                           std::string_view jti,
                                           time_point expires,
                                           time_point now);

    verifier_options options_;
    // The map's shape is fixed after construction; the key-set members of each state are
    // guarded by jwks_mutex_, its replay cache by its own mutex.
    std::map<std::string, std::unique_ptr<issuer_state>, std::less<>> issuers_;
    mutable std::mutex jwks_mutex_;
};

}  // namespace cds::service::auth
