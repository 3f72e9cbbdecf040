#include <cds/service/auth/jwt_verifier.hpp>
#include "cds/service/http/http_message.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <mutex>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include <boost/json/value.hpp>

namespace cds::service::auth {

// One issuer's accepted jti values: jti -> expiry (exp + skew), and the same entries ordered
// by expiry for eviction. Guarded by its own mutex.
struct issuer_replay_cache {
    std::mutex mutex;
    std::unordered_map<std::string, std::chrono::system_clock::time_point> seen;
    std::set<std::pair<std::chrono::system_clock::time_point, std::string>> seen_by_expiry;
};

struct jwt_verifier::issuer_state {
    std::string issuer;
    std::unique_ptr<jwks_source> source;
    issuer_replay_cache replay;
    // Guarded by jwks_mutex_:
    std::shared_ptr<jwk_set const> keys;
    std::optional<time_point> fetched_at;    // when `keys` were obtained
    std::optional<time_point> last_attempt;  // when a fetch was last started (rate limit)
    bool fetch_in_progress = false;
    std::size_t fetches = 0;
    std::string last_error;  // why the last fetch failed (empty after a success)
};

namespace {

constexpr std::array<std::string_view, auth_reason_count> reason_names{
    "ok",
    "missing_token",
    "not_bearer",
    "malformed",
    "unsupported_alg",
    "missing_kid",
    "unknown_issuer",
    "unknown_kid",
    "jwks_unavailable",
    "key_alg_mismatch",
    "bad_signature",
    "audience_mismatch",
    "missing_claim",
    "expired",
    "not_yet_valid",
    "issued_in_future",
    "lifetime_too_long",
    "replay",
    "replay_cache_full",
};
static_assert(static_cast<std::size_t>(auth_reason::replay_cache_full) + 1 == auth_reason_count);

constexpr std::size_t max_logged_chars = 128;
// A jti is a nonce (the sandbox sends a UUID); anything far longer is not one, and the
// replay cache should not store it.
constexpr std::size_t max_jti_bytes = 256;

// Attacker-chosen strings go to logs: keep printable ASCII only and bound the length so a
// claim cannot forge log lines or flood them.
std::string loggable(std::string_view text) {
    std::string out;
    out.reserve(std::min(text.size(), max_logged_chars));
    for (char c : text) {
        if (out.size() == max_logged_chars) {
            break;
        }
        out.push_back(c >= 0x20 && c < 0x7F && c != '"' && c != '\\' ? c : '?');
    }
    return out;
}

enum class date_status { absent, invalid, present };

struct numeric_date {
    date_status status = date_status::absent;
    std::chrono::sys_seconds value{};
};

// RFC 7519 §2 NumericDate: a JSON number of seconds since the epoch, possibly non-integer.
numeric_date read_numeric_date(boost::json::object const& claims, std::string_view name) {
    auto const* value = claims.if_contains(name);
    if (value == nullptr) {
        return {};
    }
    double seconds = 0;
    if (value->is_int64()) {
        seconds = static_cast<double>(value->as_int64());
    } else if (value->is_uint64()) {
        seconds = static_cast<double>(value->as_uint64());
    } else if (value->is_double()) {
        seconds = value->as_double();
    } else {
        return {date_status::invalid, {}};
    }
    // `now` is a system_clock::time_point in nanoseconds, which spans only ±292 years around
    // 1970 (2^63 ns); every comparison converts the claim to it. A claim beyond ±8e9 s (about
    // year 2223) is therefore malformed rather than an overflow (found by fuzz_jwt: exp =
    // 17731335002).
    if (!std::isfinite(seconds) || std::fabs(seconds) > 8e9) {
        return {date_status::invalid, {}};
    }
    return {date_status::present, std::chrono::sys_seconds{std::chrono::seconds{
                                      static_cast<std::int64_t>(std::floor(seconds))}}};
}

// RFC 7519 §4.1.3: `aud` is a string or an array of strings; CDS Hooks requires it to be the
// exact URL invoked, so comparison is byte-for-byte.
auth_reason check_audience(boost::json::object const& claims, std::string_view invoked_url) {
    auto const* aud = claims.if_contains("aud");
    if (aud == nullptr) {
        return auth_reason::missing_claim;
    }
    if (aud->is_string()) {
        return aud->as_string() == invoked_url ? auth_reason::ok : auth_reason::audience_mismatch;
    }
    if (!aud->is_array()) {
        return auth_reason::malformed;
    }
    bool found = false;
    for (auto const& entry : aud->as_array()) {
        if (!entry.is_string()) {
            return auth_reason::malformed;
        }
        found = found || entry.as_string() == invoked_url;
    }
    return found ? auth_reason::ok : auth_reason::audience_mismatch;
}

}  // namespace

std::string_view to_string(auth_reason reason) {
    auto const index = static_cast<std::size_t>(reason);
    return index < reason_names.size() ? reason_names[index] : std::string_view{"unknown"};
}

jwt_verifier::jwt_verifier(std::vector<trusted_issuer> issuers, verifier_options options)
    : options_(std::move(options)) {
    if (options_.algorithms.empty()) {
        throw std::invalid_argument("jwt_verifier: no signature algorithm allowed");
    }
    if (options_.clock_skew.count() < 0 || options_.max_token_lifetime.count() <= 0 ||
        options_.replay_cache_max_entries_per_issuer == 0 ||
        options_.jwks_refresh_min_interval.count() < 0) {
        throw std::invalid_argument("jwt_verifier: option out of range");
    }
    for (auto& entry : issuers) {
        if (entry.issuer.empty() || !entry.source) {
            throw std::invalid_argument("jwt_verifier: issuer without name or JWKS source");
        }
        auto state = std::make_unique<issuer_state>();
        state->issuer = entry.issuer;
        state->source = std::move(entry.source);
        if (!issuers_.emplace(entry.issuer, std::move(state)).second) {
            throw std::invalid_argument("jwt_verifier: issuer trusted twice: " + entry.issuer);
        }
    }
}

jwt_verifier::~jwt_verifier() = default;

std::vector<std::string> jwt_verifier::load_keys(time_point now) {
    std::vector<std::string> problems;
    for (auto& [name, state] : issuers_) {
        if (!refresh(*state, now, /*forced=*/true)) {
            std::lock_guard lock(jwks_mutex_);
            problems.push_back("issuer " + name + ": JWKS not loaded: " + state->last_error);
        }
    }
    return problems;
}

bool jwt_verifier::fetch_due(issuer_state const& issuer, time_point now, bool forced) const {
    if (issuer.fetch_in_progress) return false;
    return forced || !issuer.last_attempt ||
           now - *issuer.last_attempt >= options_.jwks_refresh_min_interval;
}

bool jwt_verifier::refresh(issuer_state& issuer, time_point now, bool forced) {
    {
        std::lock_guard lock(jwks_mutex_);
        if (!fetch_due(issuer, now, forced)) return false;
        issuer.fetch_in_progress = true;
        issuer.last_attempt = now;
        ++issuer.fetches;
    }
    // The fetch (file read or HTTPS) runs without the lock: other threads keep verifying.
    jwks_fetch_result fetched;
    try {
        fetched = issuer.source->fetch();
    } catch (std::exception const& error) {
        // Sources promise not to throw; if one does (allocation failure), the refresh slot
        // must still be released below or the issuer could never refresh again.
        fetched = {std::nullopt, std::string("JWKS fetch failed: ") + error.what()};
    }
    std::shared_ptr<jwk_set const> parsed;
    std::string error = fetched.error;
    if (fetched.body) {
        auto outcome = parse_jwk_set(*fetched.body);
        parsed = std::move(outcome.set);
        if (!parsed) {
            error = issuer.source->location() + ": " + outcome.error;
        }
    }
    std::lock_guard lock(jwks_mutex_);
    issuer.fetch_in_progress = false;
    issuer.last_error = parsed ? std::string{} : std::move(error);
    if (!parsed) {
        // Keep whatever was cached: a failed refresh must not withdraw working keys.
        return false;
    }
    issuer.keys = std::move(parsed);
    issuer.fetched_at = now;
    return true;
}

std::shared_ptr<jwk_set const> jwt_verifier::keys_for(
    issuer_state& issuer, std::string_view kid, time_point now, key_fetch fetch, bool& deferred) {
    std::shared_ptr<jwk_set const> keys;
    bool want_refresh = false;
    {
        std::lock_guard lock(jwks_mutex_);
        keys = issuer.keys;
        if (issuer.source->is_remote()) {
            bool const stale =
                !issuer.fetched_at || now - *issuer.fetched_at >= options_.jwks_max_age;
            bool const kid_unknown = !keys || keys->find(kid).empty();
            want_refresh = (stale || kid_unknown) && fetch_due(issuer, now, /*forced=*/false);
        }
    }
    if (want_refresh && fetch == key_fetch::deferred) {
        deferred = true;
        return keys;
    }
    if (want_refresh && refresh(issuer, now, /*forced=*/false)) {
        std::lock_guard lock(jwks_mutex_);
        keys = issuer.keys;
    }
    return keys;
}

auth_reason jwt_verifier::remember_jti(issuer_state& issuer,
                                       std::string_view jti,
                                       time_point expires,
                                       time_point now) {
    issuer_replay_cache& cache = issuer.replay;
    std::lock_guard lock(cache.mutex);
    // Entries whose token has expired can be forgotten: replaying such a token fails on exp.
    while (!cache.seen_by_expiry.empty() && cache.seen_by_expiry.begin()->first <= now) {
        cache.seen.erase(cache.seen_by_expiry.begin()->second);
        cache.seen_by_expiry.erase(cache.seen_by_expiry.begin());
    }
    std::string key{jti};
    if (cache.seen.contains(key)) {
        return auth_reason::replay;
    }
    if (cache.seen.size() >= options_.replay_cache_max_entries_per_issuer) {
        // Every token this issuer has had accepted is still valid; forgetting one would reopen
        // its replay window, so this one is refused instead (fail closed).
        return auth_reason::replay_cache_full;
    }
    cache.seen_by_expiry.emplace(expires, key);
    cache.seen.emplace(std::move(key), expires);
    return auth_reason::ok;
}

namespace {

// The token's own iss, jti and kid as it claims them, for the log line whatever the outcome.
void note_claimed_identity(parsed_jws const& jws, verification_result& result) {
    if (auto const* iss = jws.claims.if_contains("iss"); iss != nullptr && iss->is_string()) {
        result.issuer = loggable(iss->as_string());
    }
    if (auto const* jti = jws.claims.if_contains("jti"); jti != nullptr && jti->is_string()) {
        result.jti = loggable(jti->as_string());
    }
    if (auto const* kid = jws.header.if_contains("kid"); kid != nullptr && kid->is_string()) {
        result.kid = loggable(kid->as_string());
    }
}

struct header_check {
    auth_reason reason = auth_reason::malformed;
    jws_algorithm algorithm{};
    std::string_view kid;  // non-empty when reason is ok
};

header_check check_header(boost::json::object const& header,
                          std::vector<jws_algorithm> const& allowed) {
    header_check check;
    // RFC 7515 §4.1.1 alg. "none" and HS* never reach key lookup: a public key must never be
    // used as an HMAC secret (the classic algorithm-confusion attack).
    auto const* alg_value = header.if_contains("alg");
    if (alg_value == nullptr || !alg_value->is_string()) {
        return check;
    }
    auto algorithm = parse_jws_algorithm(alg_value->as_string());
    if (!algorithm || std::find(allowed.begin(), allowed.end(), *algorithm) == allowed.end()) {
        check.reason = auth_reason::unsupported_alg;
        return check;
    }
    // RFC 7515 §4.1.11: an extension we must understand but do not (e.g. RFC 7797 b64).
    if (header.contains("crit")) {
        return check;
    }
    // CDS Hooks requires typ "JWT"; media types compare case-insensitively (RFC 7515 §4.1.9).
    // An absent typ is tolerated: it carries no security meaning here.
    if (auto const* typ = header.if_contains("typ");
        typ != nullptr && (!typ->is_string() || !iequals(typ->as_string(), "JWT"))) {
        return check;
    }
    auto const* kid_value = header.if_contains("kid");
    if (kid_value == nullptr) {
        check.reason = auth_reason::missing_kid;
        return check;
    }
    if (!kid_value->is_string() || kid_value->as_string().empty()) {
        check.reason = kid_value->is_string() ? auth_reason::missing_kid : auth_reason::malformed;
        return check;
    }
    check.reason = auth_reason::ok;
    check.algorithm = *algorithm;
    check.kid = kid_value->as_string();
    return check;
}

// Whether one of the issuer's keys named `kid` and usable with `algorithm` signed the token.
auth_reason check_signature(jwk_set const& keys,
                            std::string_view kid,
                            jws_algorithm algorithm,
                            parsed_jws const& jws) {
    std::vector<public_jwk const*> candidates = keys.find(kid);
    if (candidates.empty()) {
        return auth_reason::unknown_kid;
    }
    bool any_usable = false;
    for (public_jwk const* key : candidates) {
        if (!key->usable_with(algorithm)) {
            continue;
        }
        any_usable = true;
        if (verify_jws_signature(algorithm, *key, jws.signing_input, jws.signature)) {
            return auth_reason::ok;
        }
    }
    return any_usable ? auth_reason::bad_signature : auth_reason::key_alg_mismatch;
}

struct claims_check {
    auth_reason reason = auth_reason::malformed;
    std::string_view jti;                           // set when reason is ok
    std::chrono::system_clock::time_point expires;  // exp + skew, when reason is ok
};

// RFC 7519 §4.1: exp, iat and jti are required (CDS Hooks 2.0 "Trusting CDS Clients"), nbf
// is honoured when present, every time compared with the configured clock skew.
claims_check check_claims(boost::json::object const& claims,
                          std::string_view invoked_url,
                          verifier_options const& options,
                          std::chrono::system_clock::time_point now) {
    claims_check check;
    if (auth_reason audience = check_audience(claims, invoked_url); audience != auth_reason::ok) {
        check.reason = audience;
        return check;
    }
    numeric_date const exp = read_numeric_date(claims, "exp");
    numeric_date const iat = read_numeric_date(claims, "iat");
    numeric_date const nbf = read_numeric_date(claims, "nbf");
    if (exp.status == date_status::invalid || iat.status == date_status::invalid ||
        nbf.status == date_status::invalid) {
        return check;
    }
    auto const* jti_value = claims.if_contains("jti");
    if (exp.status == date_status::absent || iat.status == date_status::absent ||
        jti_value == nullptr) {
        check.reason = auth_reason::missing_claim;
        return check;
    }
    if (!jti_value->is_string() || jti_value->as_string().empty() ||
        jti_value->as_string().size() > max_jti_bytes ||
        loggable(jti_value->as_string()) != std::string_view(jti_value->as_string())) {
        return check;
    }
    auto const skew = options.clock_skew;
    if (exp.value + skew <= now) {
        check.reason = auth_reason::expired;
    } else if (nbf.status == date_status::present && nbf.value > now + skew) {
        check.reason = auth_reason::not_yet_valid;
    } else if (iat.value > now + skew) {
        check.reason = auth_reason::issued_in_future;
    } else if (exp.value < iat.value) {
        check.reason = auth_reason::malformed;
    } else if (exp.value - iat.value > options.max_token_lifetime) {
        check.reason = auth_reason::lifetime_too_long;
    } else {
        check.reason = auth_reason::ok;
        check.jti = jti_value->as_string();
        check.expires = std::chrono::system_clock::time_point{exp.value + skew};
    }
    return check;
}

}  // namespace

verification_result jwt_verifier::verify(std::string_view token,
                                         std::string_view invoked_url,
                                         time_point now,
                                         key_fetch fetch) {
    verification_result result;
    jws_parse_result parsed = parse_compact_jws(token);
    if (!parsed.jws) {
        result.reason = auth_reason::malformed;
        return result;
    }
    note_claimed_identity(*parsed.jws, result);
    header_check const header = check_header(parsed.jws->header, options_.algorithms);
    if (header.reason != auth_reason::ok) {
        result.reason = header.reason;
        return result;
    }

    auto const* iss_value = parsed.jws->claims.if_contains("iss");
    auto issuer_it = iss_value != nullptr && iss_value->is_string()
                         ? issuers_.find(std::string_view(iss_value->as_string()))
                         : issuers_.end();
    if (issuer_it == issuers_.end()) {
        result.reason = auth_reason::unknown_issuer;
        return result;
    }
    issuer_state& issuer = *issuer_it->second;

    // The jku header only ever names where keys live; keys come from the configured source
    // alone. A jku that is not that source is noted for the log and otherwise ignored
    // (CDS Hooks: services allowlist iss and jku; fetching an arbitrary jku would let any
    // token bring its own key).
    if (auto const* jku = parsed.jws->header.if_contains("jku"); jku != nullptr) {
        result.jku_ignored = !(issuer.source->is_remote() && jku->is_string() &&
                               jku->as_string() == issuer.source->location());
    }

    std::shared_ptr<jwk_set const> keys =
        keys_for(issuer, header.kid, now, fetch, result.fetch_deferred);
    if (result.fetch_deferred || !keys) {
        result.reason = auth_reason::jwks_unavailable;
        return result;
    }
    result.reason = check_signature(*keys, header.kid, header.algorithm, *parsed.jws);
    if (result.reason != auth_reason::ok) {
        return result;
    }
    // Claims, now that the issuer is known to have signed them.
    claims_check const claims = check_claims(parsed.jws->claims, invoked_url, options_, now);
    if (claims.reason != auth_reason::ok) {
        result.reason = claims.reason;
        return result;
    }
    result.reason = remember_jti(issuer, claims.jti, claims.expires, now);
    return result;
}

std::size_t jwt_verifier::fetch_count(std::string_view issuer) const {
    auto it = issuers_.find(issuer);
    if (it == issuers_.end()) {
        return 0;
    }
    std::lock_guard lock(jwks_mutex_);
    return it->second->fetches;
}

std::size_t jwt_verifier::replay_cache_size(std::string_view issuer) const {
    auto it = issuers_.find(issuer);
    if (it == issuers_.end()) {
        return 0;
    }
    issuer_replay_cache& cache = it->second->replay;
    std::lock_guard lock(cache.mutex);
    return cache.seen.size();
}

}  // namespace cds::service::auth
