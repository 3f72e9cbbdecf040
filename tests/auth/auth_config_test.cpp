#include <cds/service/auth/auth_config.hpp>
#include <cds/service/auth/authenticator.hpp>

#include <doctest/doctest.h>
#include <boost/program_options.hpp>

#include "auth_test_support.hpp"

namespace auth = cds::service::auth;
namespace svc = cds::service;
namespace po = boost::program_options;
using auth::auth_reason;
using namespace std::chrono_literals;

namespace {

auth::test::minted const& m() { return auth::test::material(); }

std::string const sandbox_trust =
    "https://sandbox.cds-hooks.org=" + auth::test::sandbox_jwks_path().string();

auth::auth_flag_values parse_flags(std::vector<std::string> args) {
    po::options_description options;
    auth::add_auth_options(options);
    std::vector<char const*> argv{"magnesium-cds"};
    for (auto const& arg : args) {
        argv.push_back(arg.c_str());
    }
    po::variables_map vm;
    po::store(po::parse_command_line(static_cast<int>(argv.size()), argv.data(), options), vm);
    po::notify(vm);
    return auth::read_auth_flags(vm);
}

}  // namespace

TEST_CASE("--trust ISSUER=SOURCE") {
    auto check = [](std::string_view flag, std::string_view issuer, std::string_view jwks) {
        CAPTURE(flag);
        auto entry = auth::parse_trust_flag(flag);
        CHECK(entry.issuer == issuer);
        CHECK(entry.jwks == jwks);
    };
    check("https://sandbox.cds-hooks.org=deploy/trust/cds-hooks-sandbox-jwks.json",
          "https://sandbox.cds-hooks.org", "deploy/trust/cds-hooks-sandbox-jwks.json");
    check("https://ehr.example.org=https://ehr.example.org/.well-known/jwks.json",
          "https://ehr.example.org", "https://ehr.example.org/.well-known/jwks.json");
    check("https://ehr.example.org/?tenant=a=https://ehr.example.org/jwks?v=2",
          "https://ehr.example.org/?tenant=a", "https://ehr.example.org/jwks?v=2");
    check("https://ehr.example.org/?tenant=a=/etc/cds/ehr.json",
          "https://ehr.example.org/?tenant=a", "/etc/cds/ehr.json");
    for (auto const bad :
         {"", "no-equals", "=file.json", "https://x=", "https://x=http://x/jwks"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS((void)auth::parse_trust_flag(bad), auth::auth_config_error);
    }
}

TEST_CASE("--public-url, --jwt-clock-skew, --jwt-algorithms") {
    CHECK(auth::parse_public_url("https://cds.example.org/") == "https://cds.example.org");
    CHECK(auth::parse_public_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080");
    CHECK(auth::parse_public_url("https://example.org/mg/") == "https://example.org/mg");
    for (auto const bad :
         {"", "cds.example.org", "ftp://x", "https://x/?a=b", "https://u@x/", "https://x/#f"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS((void)auth::parse_public_url(bad), auth::auth_config_error);
    }
    CHECK(auth::parse_clock_skew("0s") == 0s);
    CHECK(auth::parse_clock_skew("60s") == 60s);
    CHECK(auth::parse_clock_skew("1m") == 60s);
    CHECK(auth::parse_clock_skew("300s") == 300s);
    CHECK(auth::parse_clock_skew("5m") == 300s);
    for (auto const bad : {"", "-1s", "301s", "6m", "1.5s", "1500ms", "60", "abc"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS((void)auth::parse_clock_skew(bad), auth::auth_config_error);
    }
    using auth::jws_algorithm;
    CHECK(auth::parse_algorithms("ES384,RS384") ==
          std::vector{jws_algorithm::es384, jws_algorithm::rs384});
    CHECK(auth::parse_algorithms("ES384, ES256 ,ES384") ==
          std::vector{jws_algorithm::es384, jws_algorithm::es256});
    for (auto const bad : {"", "none", "HS256", "ES384,HS384", "PS384", "es384", "ES384,"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS((void)auth::parse_algorithms(bad), auth::auth_config_error);
    }
}

TEST_CASE("flags through Boost.Program_options") {
    auto values =
        parse_flags({"--trust", sandbox_trust, "--trust", "https://ehr-b.example.org=/tmp/b.json",
                     "--public-url", "https://cds.example.org/", "--protect-discovery",
                     "--jwt-clock-skew", "30s", "--jwt-algorithms", "ES384"});
    auto config = auth::make_auth_config(values);
    CHECK(config.enabled());
    CHECK(config.trust.size() == 2);
    CHECK(config.public_url == "https://cds.example.org");
    CHECK(config.protect_discovery);
    CHECK_FALSE(config.allow_unauthenticated);
    CHECK(config.verifier.clock_skew == 30s);
    CHECK(config.verifier.algorithms == std::vector{auth::jws_algorithm::es384});

    auto open = auth::make_auth_config(
        parse_flags({"--allow-unauthenticated", "--jwks-ca-file", "/etc/ssl/ca.pem"}));
    CHECK(open.allow_unauthenticated);
    CHECK_FALSE(open.enabled());
    CHECK(open.https.ca_file == "/etc/ssl/ca.pem");
    CHECK(auth::check_listen_policy("0.0.0.0", open).allowed);

    auto defaults = auth::make_auth_config(parse_flags({}));
    CHECK_FALSE(defaults.allow_unauthenticated);
    CHECK_FALSE(defaults.protect_discovery);
    CHECK_FALSE(auth::check_listen_policy("0.0.0.0", defaults).allowed);
    CHECK_FALSE(defaults.enabled());
    CHECK(defaults.verifier.clock_skew == 60s);
    CHECK(defaults.verifier.algorithms ==
          std::vector{auth::jws_algorithm::es384, auth::jws_algorithm::rs384});

    // --trust without --public-url: aud could not be checked.
    CHECK_THROWS_AS((void)auth::make_auth_config(parse_flags({"--trust", sandbox_trust})),
                    auth::auth_config_error);
    CHECK_THROWS_AS(
        (void)auth::make_auth_config(parse_flags(
            {"--trust", sandbox_trust, "--trust", sandbox_trust, "--public-url", "https://x"})),
        auth::auth_config_error);
}

TEST_CASE("listen policy: unauthenticated only on loopback unless allowed") {
    auth::auth_config off;
    auth::auth_config allowed;
    allowed.allow_unauthenticated = true;
    auth::auth_config on;
    on.trust.push_back({"https://x", "x.json"});

    for (auto const host :
         {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"}) {
        CAPTURE(host);
        CHECK(auth::is_loopback_host(host));
        auto decision = auth::check_listen_policy(host, off);
        CHECK(decision.allowed);
        CHECK(decision.message.find("authentication is off") != std::string::npos);
    }
    for (auto const host :
         {"0.0.0.0", "::", "[::]", "10.0.0.5", "cds.example.org", "localhost.evil.net", ""}) {
        CAPTURE(host);
        CHECK_FALSE(auth::is_loopback_host(host));
        auto refused = auth::check_listen_policy(host, off);
        CHECK_FALSE(refused.allowed);
        CHECK(refused.message.find("--allow-unauthenticated") != std::string::npos);
        CHECK(auth::check_listen_policy(host, allowed).allowed);
        auto authenticated = auth::check_listen_policy(host, on);
        CHECK(authenticated.allowed);
        CHECK(authenticated.message.empty());
    }
}

TEST_CASE("make_authenticator refuses a bad trust file at start-up") {
    auto config_for = [](std::string const& jwks) {
        auth::auth_flag_values values;
        values.trust = {"https://ehr.example.org=" + jwks};
        values.public_url = "https://cds.example.org";
        return auth::make_auth_config(values);
    };
    auto const missing = (auth::test::minted_dir() / "does-not-exist.json").string();
    CHECK_THROWS_AS((void)auth::make_authenticator(config_for(missing), m().now()),
                    auth::auth_config_error);
    auto const not_jwks = (auth::test::minted_dir() / "meta.json").string();
    CHECK_THROWS_AS((void)auth::make_authenticator(config_for(not_jwks), m().now()),
                    auth::auth_config_error);
    auto const tls_key = (auth::test::minted_dir() / "tls/server.key").string();
    CHECK_THROWS_AS((void)auth::make_authenticator(config_for(tls_key), m().now()),
                    auth::auth_config_error);
    auto const good = auth::test::sandbox_jwks_path().string();
    CHECK(auth::make_authenticator(config_for(good), m().now())->enabled());
}

TEST_CASE("authenticator: which requests need a token, with the sandbox preset") {
    auth::auth_flag_values values;
    values.trust = {sandbox_trust};
    values.public_url = m().text("public_url");
    std::vector<std::string> warnings;
    auto authn = auth::make_authenticator(auth::make_auth_config(values), m().now(), &warnings);
    CHECK(warnings.empty());
    REQUIRE(authn->enabled());
    auto const now = m().now();
    auto const service_path = m().text("service_url").substr(m().text("public_url").size());
    auto const bearer = [](std::string const& token) { return "Bearer " + token; };

    // Never need a token.
    for (auto const& request : std::vector<std::pair<svc::endpoint_kind, std::string>>{
             {svc::endpoint_kind::health, "/healthz"},
             {svc::endpoint_kind::readiness, "/readyz"}}) {
        CAPTURE(request.second);
        auto decision = authn->check(request.first, request.second, std::nullopt, now);
        CHECK(decision.allowed);
        CHECK_FALSE(decision.token_checked);
    }
    // Discovery: public; a token sent anyway is verified.
    CHECK(authn->check(svc::endpoint_kind::discovery, "/cds-services", std::nullopt, now).allowed);
    auto discovery = authn->check(svc::endpoint_kind::discovery, "/cds-services",
                                  bearer(m().token("sandbox_discovery")), now);
    CHECK(discovery.allowed);
    CHECK(discovery.token_checked);
    // (the sandbox's token for a service call is not one for discovery)
    auto bad_discovery = authn->check(svc::endpoint_kind::discovery, "/cds-services",
                                      bearer(m().token("sandbox_service")), now);
    CHECK_FALSE(bad_discovery.allowed);
    CHECK(bad_discovery.result.reason == auth_reason::audience_mismatch);
    CHECK(authn
              ->check(svc::endpoint_kind::service_call, service_path,
                      bearer(m().token("sandbox_expired")), now)
              .result.reason == auth_reason::expired);

    // Service call: required.
    auto missing = authn->check(svc::endpoint_kind::service_call, service_path, std::nullopt, now);
    CHECK_FALSE(missing.allowed);
    CHECK(missing.result.reason == auth_reason::missing_token);
    auto basic = authn->check(svc::endpoint_kind::service_call, service_path,
                              std::string("Basic dXNlcjpwYXNz"), now);
    CHECK_FALSE(basic.allowed);
    CHECK(basic.result.reason == auth_reason::not_bearer);
    CHECK(authn->check(svc::endpoint_kind::service_call, service_path, std::string("Bearer"), now)
              .result.reason == auth_reason::not_bearer);
    // The sandbox's token for the service, at the feedback URL: wrong audience.
    auto const sandbox_service = m().token("sandbox_service");
    auto wrong = authn->check(svc::endpoint_kind::feedback, service_path + "/feedback",
                              bearer(sandbox_service), now);
    CHECK(wrong.result.reason == auth_reason::audience_mismatch);
    // The query string is not part of the audience; the scheme is case-insensitive.
    auto ok = authn->check(svc::endpoint_kind::service_call, service_path + "?x=1",
                           "bearer  " + sandbox_service, now);
    CHECK(ok.allowed);
    CHECK(ok.result.issuer == m().text("sandbox_issuer"));
    auto replay =
        authn->check(svc::endpoint_kind::service_call, service_path, bearer(sandbox_service), now);
    CHECK(replay.result.reason == auth_reason::replay);
    CHECK(authn
              ->check(svc::endpoint_kind::feedback, service_path + "/feedback",
                      bearer(m().token("sandbox_feedback")), now)
              .allowed);
    // Unknown paths are not public.
    CHECK_FALSE(authn->check(svc::endpoint_kind::unknown, "/metrics", std::nullopt, now).allowed);

    auto const line = auth::authenticator::describe(replay.result);
    CHECK(line.find("reason=replay") != std::string::npos);
    CHECK(line.find("iss=\"https://sandbox.cds-hooks.org\"") != std::string::npos);
    CHECK(line.find(sandbox_service.substr(0, 20)) == std::string::npos);

    std::map<std::string, std::uint64_t> counts;
    for (auto const& [name, count] : authn->counters()) {
        counts[std::string(name)] = count;
    }
    CHECK(counts.size() == auth::auth_reason_count);
    CHECK(counts["ok"] == 3);
    CHECK(counts["expired"] == 1);
    CHECK(counts["missing_token"] == 2);
    CHECK(counts["not_bearer"] == 2);
    CHECK(counts["audience_mismatch"] == 2);
    CHECK(counts["replay"] == 1);
}

TEST_CASE("--protect-discovery and authentication off") {
    auth::auth_flag_values values;
    values.trust = {sandbox_trust};
    values.public_url = m().text("public_url");
    values.protect_discovery = true;
    auto authn = auth::make_authenticator(auth::make_auth_config(values), m().now());
    CHECK(authn->check(svc::endpoint_kind::discovery, "/cds-services", std::nullopt, m().now())
              .result.reason == auth_reason::missing_token);
    CHECK(authn->check(svc::endpoint_kind::health, "/healthz", std::nullopt, m().now()).allowed);

    auto off = auth::make_authenticator(auth::make_auth_config({}), m().now());
    CHECK_FALSE(off->enabled());
    CHECK(off->check(svc::endpoint_kind::service_call, "/cds-services/x", std::nullopt, m().now())
              .allowed);
}

TEST_CASE("endpoint classification and Authorization parsing") {
    using auth::endpoint_access;
    using svc::endpoint_kind;
    CHECK(auth::classify_endpoint(endpoint_kind::health, true) == endpoint_access::public_endpoint);
    CHECK(auth::classify_endpoint(endpoint_kind::readiness, true) ==
          endpoint_access::public_endpoint);
    CHECK(auth::classify_endpoint(endpoint_kind::discovery, false) ==
          endpoint_access::token_optional);
    CHECK(auth::classify_endpoint(endpoint_kind::discovery, true) ==
          endpoint_access::token_required);
    for (auto const kind :
         {endpoint_kind::service_call, endpoint_kind::feedback, endpoint_kind::unknown}) {
        CHECK(auth::classify_endpoint(kind, false) == endpoint_access::token_required);
    }
    CHECK(auth::target_path("/a/b?c=d#e") == "/a/b");
    CHECK(auth::bearer_token("Bearer abc.def.ghi") ==
          std::optional<std::string_view>("abc.def.ghi"));
    CHECK(auth::bearer_token("BEARER abc") == std::optional<std::string_view>("abc"));
    CHECK_FALSE(auth::bearer_token("Bearerabc"));
    CHECK_FALSE(auth::bearer_token("Bearer "));
    CHECK_FALSE(auth::bearer_token("Bearer a b"));
    CHECK_FALSE(auth::bearer_token("Bearer a\"b"));
    CHECK_FALSE(auth::bearer_token("Token abc"));
}
