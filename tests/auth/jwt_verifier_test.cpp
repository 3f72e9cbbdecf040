#include <cds/service/auth/jwt_verifier.hpp>

#include <atomic>
#include <thread>

#include <doctest/doctest.h>

#include "auth_test_support.hpp"

namespace auth = cds::service::auth;
using auth::auth_reason;
using namespace std::chrono_literals;

namespace {

auth::test::minted const& m() { return auth::test::material(); }

// Issuers A and B from minted files, and the sandbox from the JWKS shipped in deploy/.
std::unique_ptr<auth::jwt_verifier> make_verifier(auth::verifier_options options = {}) {
    std::vector<auth::trusted_issuer> issuers;
    issuers.push_back({m().text("issuer_a"), auth::test::file_source("a.jwks.json")});
    issuers.push_back({m().text("issuer_b"), auth::test::file_source("b.jwks.json")});
    issuers.push_back({m().text("sandbox_issuer"),
                       std::make_unique<auth::file_jwks_source>(auth::test::sandbox_jwks_path())});
    auto verifier = std::make_unique<auth::jwt_verifier>(std::move(issuers), std::move(options));
    REQUIRE(verifier->load_keys(m().now()).empty());
    return verifier;
}

struct expectation {
    char const* token;
    char const* url_key;  // meta.json key of the invoked URL
    auth_reason reason;
};

}  // namespace

TEST_CASE("every success and failure, each on a fresh verifier") {
    expectation const table[] = {
        {"es384_valid", "service_url", auth_reason::ok},
        {"rs384_valid", "service_url", auth_reason::ok},
        {"noalg_key_valid", "service_url", auth_reason::ok},
        {"aud_array_valid", "service_url", auth_reason::ok},
        {"feedback_valid", "feedback_url", auth_reason::ok},
        {"discovery_valid", "discovery_url", auth_reason::ok},
        {"exp_within_skew", "service_url", auth_reason::ok},
        {"iat_within_skew", "service_url", auth_reason::ok},
        {"nbf_within_skew", "service_url", auth_reason::ok},
        {"lifetime_exactly_1h", "service_url", auth_reason::ok},
        {"typ_lowercase", "service_url", auth_reason::ok},
        {"typ_absent", "service_url", auth_reason::ok},
        {"fractional_dates", "service_url", auth_reason::ok},
        {"with_tenant", "service_url", auth_reason::ok},
        {"jku_elsewhere_legit_key", "service_url", auth_reason::ok},
        {"sandbox_service", "service_url", auth_reason::ok},
        {"sandbox_feedback", "feedback_url", auth_reason::ok},
        {"sandbox_discovery", "discovery_url", auth_reason::ok},
        // ES256/RS256 are off unless configured.
        {"es256_valid", "service_url", auth_reason::unsupported_alg},
        {"rs256_valid", "service_url", auth_reason::unsupported_alg},
        {"expired", "service_url", auth_reason::expired},
        {"sandbox_expired", "service_url", auth_reason::expired},
        {"nbf_future", "service_url", auth_reason::not_yet_valid},
        {"iat_future", "service_url", auth_reason::issued_in_future},
        {"lifetime_too_long", "service_url", auth_reason::lifetime_too_long},
        {"exp_before_iat", "service_url", auth_reason::malformed},
        {"aud_feedback_at_service", "service_url", auth_reason::audience_mismatch},
        {"aud_service_at_feedback", "feedback_url", auth_reason::audience_mismatch},
        {"sandbox_service", "feedback_url", auth_reason::audience_mismatch},
        {"sandbox_feedback", "service_url", auth_reason::audience_mismatch},
        {"sandbox_service", "discovery_url", auth_reason::audience_mismatch},
        {"aud_array_without", "service_url", auth_reason::audience_mismatch},
        {"aud_trailing_slash", "service_url", auth_reason::audience_mismatch},
        {"aud_other_host", "service_url", auth_reason::audience_mismatch},
        {"aud_number", "service_url", auth_reason::malformed},
        {"aud_missing", "service_url", auth_reason::missing_claim},
        {"unknown_iss", "service_url", auth_reason::unknown_issuer},
        {"missing_iss", "service_url", auth_reason::unknown_issuer},
        {"unknown_kid", "service_url", auth_reason::unknown_kid},
        {"missing_kid", "service_url", auth_reason::missing_kid},
        {"empty_kid", "service_url", auth_reason::missing_kid},
        {"enc_key", "service_url", auth_reason::unknown_kid},
        {"missing_jti", "service_url", auth_reason::missing_claim},
        {"missing_exp", "service_url", auth_reason::missing_claim},
        {"missing_iat", "service_url", auth_reason::missing_claim},
        {"exp_string", "service_url", auth_reason::malformed},
        {"jti_number", "service_url", auth_reason::malformed},
        {"crit_header", "service_url", auth_reason::malformed},
        {"typ_jwe", "service_url", auth_reason::malformed},
        {"alg_none", "service_url", auth_reason::unsupported_alg},
        {"alg_None", "service_url", auth_reason::unsupported_alg},
        {"alg_none_with_es384_signature", "service_url", auth_reason::unsupported_alg},
        {"alg_lowercase_es384", "service_url", auth_reason::unsupported_alg},
        {"alg_missing", "service_url", auth_reason::malformed},
        {"alg_ps384", "service_url", auth_reason::unsupported_alg},
        {"hs256_rsa_public_pem", "service_url", auth_reason::unsupported_alg},
        {"hs256_ec_public_pem", "service_url", auth_reason::unsupported_alg},
        {"hs384_jwk_json", "service_url", auth_reason::unsupported_alg},
        {"es384_der_signature", "service_url", auth_reason::bad_signature},
        {"es384_signed_with_p256", "service_url", auth_reason::bad_signature},
        {"rs384_with_ec_kid", "service_url", auth_reason::key_alg_mismatch},
        {"es384_with_rsa_kid", "service_url", auth_reason::key_alg_mismatch},
        {"es384_with_pinned_rs384_key", "service_url", auth_reason::key_alg_mismatch},
        {"rs384_signed_with_sha256", "service_url", auth_reason::bad_signature},
        {"wrong_issuer_key", "service_url", auth_reason::bad_signature},
        {"sandbox_key_claiming_a", "service_url", auth_reason::unknown_kid},
        {"tampered_payload", "service_url", auth_reason::bad_signature},
        {"jku_elsewhere_attacker_key", "service_url", auth_reason::unknown_kid},
        {"jku_elsewhere_attacker_reuses_kid", "service_url", auth_reason::bad_signature},
        {"embedded_jwk_attacker", "service_url", auth_reason::unknown_kid},
    };
    for (auto const& row : table) {
        CAPTURE(row.token);
        CAPTURE(row.url_key);
        auto verifier = make_verifier();
        auto const result =
            verifier->verify(m().token(row.token), m().text(row.url_key), m().now());
        CHECK(to_string(result.reason) == to_string(row.reason));
        CHECK(result.ok() == (row.reason == auth_reason::ok));
    }
}

TEST_CASE("ES256 and RS256 are accepted only when configured") {
    auth::verifier_options options;
    options.algorithms = {auth::jws_algorithm::es384, auth::jws_algorithm::es256,
                          auth::jws_algorithm::rs256};
    auto verifier = make_verifier(options);
    auto const url = m().text("service_url");
    CHECK(verifier->verify(m().token("es256_valid"), url, m().now()).ok());
    CHECK(verifier->verify(m().token("rs256_valid"), url, m().now()).ok());
    CHECK(verifier->verify(m().token("es384_valid"), url, m().now()).ok());
    // RS384 was left out of this configuration.
    CHECK(verifier->verify(m().token("rs384_valid"), url, m().now()).reason ==
          auth_reason::unsupported_alg);
}

TEST_CASE("the result names iss, jti and kid for the log, never the token") {
    auto verifier = make_verifier();
    auto const token = m().token("expired");
    auto const result = verifier->verify(token, m().text("service_url"), m().now());
    CHECK(result.reason == auth_reason::expired);
    CHECK(result.issuer == m().text("issuer_a"));
    CHECK(result.kid == "ec384-1");
    CHECK(result.jti.size() == 36);
    auto const parts = token.substr(token.rfind('.') + 1);
    for (auto const& field : {result.issuer, result.jti, result.kid}) {
        CHECK(field.find(parts) == std::string::npos);
        CHECK(field.size() <= 128);
    }
    auto const jku =
        verifier->verify(m().token("jku_elsewhere_legit_key"), m().text("service_url"), m().now());
    CHECK(jku.ok());
    CHECK(jku.jku_ignored);
}

TEST_CASE("truncated and garbage tokens are malformed, never a crash") {
    auto verifier = make_verifier();
    auto const url = m().text("service_url");
    auto const good = m().token("es384_valid");
    for (std::size_t length = 0; length < good.size(); length += 7) {
        CAPTURE(length);
        auto const reason = verifier->verify(good.substr(0, length), url, m().now()).reason;
        // Cutting inside the signature leaves a well-formed but wrong signature.
        bool const expected =
            reason == auth_reason::malformed || reason == auth_reason::bad_signature;
        CHECK(expected);
    }
    for (std::string const& garbage : std::vector<std::string>{
             "", ".", "..", "...", "a.b.c", "Bearer", "null", "{}.{}.{}", "\xff\xfe.\x01.\x02",
             std::string(9000, 'A'), std::string(100, '.'), good + "." + good,
             good.substr(0, good.find('.')) + "..", "eyJhbGciOiJFUzM4NCJ9.e30."}) {
        CAPTURE(garbage);
        CHECK(verifier->verify(garbage, url, m().now()).reason != auth_reason::ok);
    }
    // Still works afterwards.
    CHECK(verifier->verify(good, url, m().now()).ok());
}

TEST_CASE("a token is accepted once: replay within its lifetime is refused") {
    auto verifier = make_verifier();
    auto const url = m().text("service_url");
    auto const token = m().token("es384_valid");
    CHECK(verifier->verify(token, url, m().now()).ok());
    auto const again = verifier->verify(token, url, m().now() + 10s);
    CHECK(again.reason == auth_reason::replay);
    CHECK(again.jti.size() == 36);
    // The sandbox token too (its exp is iat + 300).
    CHECK(verifier->verify(m().token("sandbox_service"), url, m().now()).ok());
    CHECK(verifier->verify(m().token("sandbox_service"), url, m().now()).reason ==
          auth_reason::replay);
    // Past exp + skew the token is refused as expired, not as a replay.
    CHECK(verifier->verify(token, url, m().now() + 400s).reason == auth_reason::expired);
}

TEST_CASE("replay is tracked per issuer: the same jti from two issuers is two tokens") {
    auto verifier = make_verifier();
    auto const url = m().text("service_url");
    auto const a = verifier->verify(m().token("shared_jti_a"), url, m().now());
    auto const b = verifier->verify(m().token("shared_jti_b"), url, m().now());
    CHECK(a.ok());
    CHECK(b.ok());
    CHECK(a.jti == b.jti);
    CHECK(a.jti == m().text("shared_jti"));
}

TEST_CASE("a failed verification does not burn the jti") {
    auto verifier = make_verifier();
    auto const token = m().token("es384_valid");
    CHECK(verifier->verify(token, m().text("feedback_url"), m().now()).reason ==
          auth_reason::audience_mismatch);
    CHECK(verifier->verify(token, m().text("service_url"), m().now()).ok());
}

TEST_CASE("bounded replay cache: expired entries are evicted, otherwise refuse when full") {
    auth::verifier_options options;
    options.replay_cache_max_entries_per_issuer = 2;
    auto verifier = make_verifier(options);
    auto const url = m().text("service_url");
    auto const issuer_a = m().text("issuer_a");
    auto const now = m().now();
    CHECK(verifier->verify(m().token("es384_valid"), url, now).ok());
    CHECK(verifier->verify(m().token("rs384_valid"), url, now).ok());
    CHECK(verifier->replay_cache_size(issuer_a) == 2);
    // Both remembered tokens are still valid: forgetting one would reopen its replay window.
    CHECK(verifier->verify(m().token("typ_absent"), url, now).reason ==
          auth_reason::replay_cache_full);
    // Once the first two have expired (exp + skew = now + 350), room is made for another
    // token (lifetime_exactly_1h is still valid then).
    auto const later = now + 360s;
    auto const result = verifier->verify(m().token("lifetime_exactly_1h"), url, later);
    CHECK(result.ok());
    CHECK(verifier->replay_cache_size(issuer_a) == 1);
    // The evicted tokens cannot be replayed: they are expired now.
    CHECK(verifier->verify(m().token("es384_valid"), url, later).reason == auth_reason::expired);
}

TEST_CASE("a flood of one issuer's tokens fills only its own replay cache") {
    // The sandbox key is public, so anyone can mint accepted sandbox tokens; they must not
    // lock out the other trusted issuers.
    std::int64_t const flood = m().meta.at("sandbox_flood").as_int64();
    auth::verifier_options options;
    options.replay_cache_max_entries_per_issuer = static_cast<std::size_t>(flood - 2);
    auto verifier = make_verifier(options);
    auto const url = m().text("service_url");
    auto const now = m().now();
    std::int64_t accepted = 0;
    std::int64_t refused_full = 0;
    for (std::int64_t i = 0; i < flood; ++i) {
        auto const reason =
            verifier->verify(m().token("sandbox_flood_" + std::to_string(i)), url, now).reason;
        accepted += reason == auth_reason::ok ? 1 : 0;
        refused_full += reason == auth_reason::replay_cache_full ? 1 : 0;
    }
    CHECK(accepted == flood - 2);
    CHECK(refused_full == 2);
    CHECK(verifier->replay_cache_size(m().text("sandbox_issuer")) ==
          options.replay_cache_max_entries_per_issuer);

    // Issuers A and B still have their fresh tokens accepted, and their replays refused.
    CHECK(verifier->verify(m().token("es384_valid"), url, now).reason == auth_reason::ok);
    CHECK(verifier->verify(m().token("shared_jti_b"), url, now).reason == auth_reason::ok);
    CHECK(verifier->verify(m().token("es384_valid"), url, now).reason == auth_reason::replay);
    CHECK(verifier->replay_cache_size(m().text("issuer_a")) == 1);
    CHECK(verifier->replay_cache_size(m().text("issuer_b")) == 1);
    CHECK(verifier->replay_cache_size("https://not-trusted.example.org") == 0);
}

TEST_CASE("clock skew is configurable") {
    auth::verifier_options options;
    options.clock_skew = 0s;
    auto verifier = make_verifier(options);
    auto const url = m().text("service_url");
    CHECK(verifier->verify(m().token("exp_within_skew"), url, m().now()).reason ==
          auth_reason::expired);
    CHECK(verifier->verify(m().token("iat_within_skew"), url, m().now()).reason ==
          auth_reason::issued_in_future);
    CHECK(verifier->verify(m().token("nbf_within_skew"), url, m().now()).reason ==
          auth_reason::not_yet_valid);
}

namespace {

struct remote_a {
    std::shared_ptr<std::string> body = std::make_shared<std::string>();
    std::unique_ptr<auth::jwt_verifier> verifier;

    explicit remote_a(std::string const& initial, auth::verifier_options options = {}) {
        *body = initial;
        std::vector<auth::trusted_issuer> issuers;
        issuers.push_back({m().text("issuer_a"), std::make_unique<auth::test::scripted_source>(
                                                     m().text("a_jwks_url"), body)});
        verifier = std::make_unique<auth::jwt_verifier>(std::move(issuers), std::move(options));
    }
    std::size_t fetches() const { return verifier->fetch_count(m().text("issuer_a")); }
};

}  // namespace

TEST_CASE("JWKS rotation: an unknown kid triggers a refresh, at most once per interval") {
    auto const a = auth::test::read_file(auth::test::minted_dir() / "a.jwks.json");
    auto const rotated = auth::test::read_file(auth::test::minted_dir() / "a-rotated.jwks.json");
    remote_a fixture(a);
    auto const url = m().text("service_url");
    auto const t0 = m().now();
    REQUIRE(fixture.verifier->load_keys(t0 - 100s).empty());
    CHECK(fixture.fetches() == 1);

    CHECK(fixture.verifier->verify(m().token("es384_valid"), url, t0).ok());
    CHECK(fixture.fetches() == 1);  // known kid, fresh set: no fetch

    // The EHR rotates; the first token with the new kid makes the verifier look again.
    *fixture.body = rotated;
    CHECK(fixture.verifier->verify(m().token("rotated_kid"), url, t0).ok());
    CHECK(fixture.fetches() == 2);

    // Unknown kids cannot make it fetch more often than every 30 s (a flood of random kids
    // must not become a flood of requests to the EHR).
    CHECK(fixture.verifier->verify(m().token("unknown_kid_probe_1"), url, t0 + 1s).reason ==
          auth_reason::unknown_kid);
    CHECK(fixture.verifier->verify(m().token("unknown_kid_probe_2"), url, t0 + 29s).reason ==
          auth_reason::unknown_kid);
    CHECK(fixture.fetches() == 2);
    CHECK(fixture.verifier->verify(m().token("unknown_kid_probe_2"), url, t0 + 30s).reason ==
          auth_reason::unknown_kid);
    CHECK(fixture.fetches() == 3);
}

TEST_CASE("a rotation that happens inside the rate-limit window is picked up after it") {
    auto const a = auth::test::read_file(auth::test::minted_dir() / "a.jwks.json");
    auto const rotated = auth::test::read_file(auth::test::minted_dir() / "a-rotated.jwks.json");
    remote_a fixture(a);
    auto const url = m().text("service_url");
    auto const t0 = m().now();
    REQUIRE(fixture.verifier->load_keys(t0).empty());
    CHECK(fixture.verifier->verify(m().token("rotated_kid"), url, t0 + 5s).reason ==
          auth_reason::unknown_kid);
    *fixture.body = rotated;
    CHECK(fixture.verifier->verify(m().token("rotated_kid"), url, t0 + 10s).reason ==
          auth_reason::unknown_kid);
    CHECK(fixture.verifier->verify(m().token("rotated_kid"), url, t0 + 40s).ok());
}

TEST_CASE("jku equal to the issuer's JWKS URL is used; any other jku is never fetched") {
    auto const a = auth::test::read_file(auth::test::minted_dir() / "a.jwks.json");
    remote_a fixture(a);
    auto const url = m().text("service_url");
    REQUIRE(fixture.verifier->load_keys(m().now()).empty());
    auto const configured = fixture.verifier->verify(m().token("jku_configured"), url, m().now());
    CHECK(configured.ok());
    CHECK_FALSE(configured.jku_ignored);
    // The attacker's jku names a key set with the attacker's kid: only the configured source
    // is consulted (one rate-limited refresh at most), and the token fails.
    auto const attacker =
        fixture.verifier->verify(m().token("jku_elsewhere_attacker_key"), url, m().now() + 60s);
    CHECK(attacker.reason == auth_reason::unknown_kid);
    CHECK(attacker.jku_ignored);
    CHECK(fixture.fetches() == 2);
    auto const reused = fixture.verifier->verify(m().token("jku_elsewhere_attacker_reuses_kid"),
                                                 url, m().now() + 60s);
    CHECK(reused.reason == auth_reason::bad_signature);
    CHECK(fixture.fetches() == 2);
}

TEST_CASE("a remote JWKS: unavailable, then recovered; a failed refresh keeps the old keys") {
    auto const a = auth::test::read_file(auth::test::minted_dir() / "a.jwks.json");
    remote_a fixture("");
    auto const url = m().text("service_url");
    auto const t0 = m().now();
    CHECK(fixture.verifier->load_keys(t0).size() == 1);
    CHECK(fixture.verifier->verify(m().token("es384_valid"), url, t0 + 1s).reason ==
          auth_reason::jwks_unavailable);
    *fixture.body = a;
    CHECK(fixture.verifier->verify(m().token("es384_valid"), url, t0 + 31s).ok());
    // The EHR's JWKS now answers garbage; the keys already cached keep working.
    *fixture.body = "<html>maintenance</html>";
    CHECK(fixture.verifier->verify(m().token("unknown_kid"), url, t0 + 70s).reason ==
          auth_reason::unknown_kid);
    CHECK(fixture.verifier->verify(m().token("rs384_valid"), url, t0 + 70s).ok());
}

TEST_CASE("a cached remote JWKS older than its maximum age is refetched") {
    auto const a = auth::test::read_file(auth::test::minted_dir() / "a.jwks.json");
    auth::verifier_options options;
    options.jwks_max_age = 600s;
    remote_a fixture(a, options);
    auto const url = m().text("service_url");
    auto const t0 = m().now();
    REQUIRE(fixture.verifier->load_keys(t0 - 700s).empty());
    // The EHR withdrew every key; the stale copy is refreshed before it is trusted.
    *fixture.body = R"({"keys":[]})";
    CHECK(fixture.verifier->verify(m().token("es384_valid"), url, t0).reason ==
          auth_reason::unknown_kid);
    CHECK(fixture.fetches() == 2);
}

TEST_CASE("concurrent verification: one token accepted exactly once across threads") {
    auto verifier = make_verifier();
    auto const url = m().text("service_url");
    auto const token = m().token("es384_valid");
    std::atomic<int> accepted{0};
    std::atomic<int> replayed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&] {
            for (int round = 0; round < 20; ++round) {
                auto const reason = verifier->verify(token, url, m().now()).reason;
                (reason == auth_reason::ok ? accepted : replayed).fetch_add(1);
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    CHECK(accepted.load() == 1);
    CHECK(replayed.load() == 8 * 20 - 1);
}

TEST_CASE("construction refuses a misconfiguration") {
    auto build = [](std::vector<auth::trusted_issuer> issuers, auth::verifier_options options) {
        return auth::jwt_verifier(std::move(issuers), std::move(options));
    };
    std::vector<auth::trusted_issuer> twice;
    twice.push_back({"https://x", auth::test::file_source("a.jwks.json")});
    twice.push_back({"https://x", auth::test::file_source("b.jwks.json")});
    CHECK_THROWS_AS(build(std::move(twice), {}), std::invalid_argument);
    std::vector<auth::trusted_issuer> no_source;
    no_source.push_back({"https://x", nullptr});
    CHECK_THROWS_AS(build(std::move(no_source), {}), std::invalid_argument);
    auth::verifier_options none;
    none.algorithms.clear();
    CHECK_THROWS_AS(build({}, none), std::invalid_argument);
}

TEST_CASE("deferred key fetch: the verifier says a fetch is needed instead of fetching") {
    auto const a = auth::test::read_file(auth::test::minted_dir() / "a.jwks.json");
    remote_a fixture(a);
    auto const url = m().text("service_url");
    auto const t0 = m().now();
    auto const token = m().token("es384_valid");

    // No keys yet: nothing fetched, nothing checked or remembered.
    auto const deferred = fixture.verifier->verify(token, url, t0, auth::key_fetch::deferred);
    CHECK(deferred.fetch_deferred);
    CHECK(deferred.reason == auth_reason::jwks_unavailable);
    CHECK(fixture.fetches() == 0);
    CHECK(fixture.verifier->replay_cache_size(m().text("issuer_a")) == 0);

    // Asked again where fetching is allowed: fetched once, verified.
    auto const allowed = fixture.verifier->verify(token, url, t0, auth::key_fetch::allowed);
    CHECK_FALSE(allowed.fetch_deferred);
    CHECK(allowed.ok());
    CHECK(fixture.fetches() == 1);

    // Keys known and fresh: deferred mode verifies at once (a replay now, as the jti is seen).
    auto const again = fixture.verifier->verify(token, url, t0 + 1s, auth::key_fetch::deferred);
    CHECK_FALSE(again.fetch_deferred);
    CHECK(again.reason == auth_reason::replay);

    // An unknown kid within the minimum interval since the last fetch: no fetch is due, so
    // nothing is deferred; the cached keys decide at once, as without deferral.
    auto const probe = fixture.verifier->verify(m().token("unknown_kid_probe_1"), url, t0 + 2s,
                                                auth::key_fetch::deferred);
    CHECK_FALSE(probe.fetch_deferred);
    CHECK(probe.reason == auth_reason::unknown_kid);
    CHECK(fixture.fetches() == 1);

    // Past the keys' maximum age a fetch is due again, even for a kid the keys have.
    auto const late = t0 + fixture.verifier->options().jwks_max_age;
    CHECK(fixture.verifier->verify(m().token("rotated_kid"), url, late, auth::key_fetch::deferred)
              .fetch_deferred);
    CHECK(fixture.fetches() == 1);
}

TEST_CASE("deferred key fetch: stale keys that have the kid record nothing before the fetch") {
    auto const a = auth::test::read_file(auth::test::minted_dir() / "a.jwks.json");
    auth::verifier_options options;
    options.jwks_max_age = 60s;
    remote_a fixture(a, options);
    auto const url = m().text("service_url");
    auto const t0 = m().now();
    REQUIRE(fixture.verifier->load_keys(t0 - 120s).empty());  // fetched, and stale at t0
    auto const token = m().token("es384_valid");

    auto const deferred = fixture.verifier->verify(token, url, t0, auth::key_fetch::deferred);
    CHECK(deferred.fetch_deferred);
    CHECK(fixture.verifier->replay_cache_size(m().text("issuer_a")) == 0);
    // The jti was not recorded: the check made again is accepted, not a replay.
    CHECK(fixture.verifier->verify(token, url, t0, auth::key_fetch::allowed).ok());
    CHECK(fixture.fetches() == 2);
}
