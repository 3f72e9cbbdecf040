// The adapter between the router's seam (cds/service/auth/authentication.hpp) and the JWT
// authenticator, driven the way the router drives it.

#include "cds/service/auth/jwt_request_authenticator.hpp"

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "auth_test_support.hpp"
#include "cds/service/auth/auth_config.hpp"

namespace auth = cds::service::auth;
namespace svc = cds::service;

namespace {

auth::test::minted const& m() { return auth::test::material(); }

std::shared_ptr<auth::authenticator> sandbox_authenticator() {
    auth::auth_flag_values values;
    values.trust = {"https://sandbox.cds-hooks.org=" + auth::test::sandbox_jwks_path().string()};
    values.public_url = m().text("public_url");
    return auth::make_authenticator(auth::make_auth_config(values), m().now());
}

svc::http_request request_at(std::string method,
                             std::string target,
                             std::optional<std::string> authorization) {
    svc::http_request request;
    request.method = std::move(method);
    request.target = std::move(target);
    if (authorization) {
        request.headers.emplace_back("authorization", *authorization);  // any case
    }
    request.received_at = cds::fhir::instant{std::chrono::seconds{m().meta.at("now").as_int64()}};
    return request;
}

}  // namespace

TEST_CASE("the router's seam: off means no authenticator at all") {
    auto off = auth::make_authenticator(auth::make_auth_config({}), m().now());
    CHECK(auth::make_request_authenticator(off) == nullptr);
    CHECK(auth::make_request_authenticator(sandbox_authenticator()) != nullptr);
}

TEST_CASE("the router's seam: sandbox tokens on service and feedback calls") {
    auth::jwt_request_authenticator adapter(sandbox_authenticator());
    std::string const path = m().text("service_url").substr(m().text("public_url").size());

    auto const ok_request = request_at("POST", path, "Bearer " + m().token("sandbox_service"));
    auto const ok = adapter.decide(
        {ok_request, svc::endpoint_kind::service_call, path, "magnesium-order-select"});
    CHECK(ok.allowed);

    auto const missing_request = request_at("POST", path, std::nullopt);
    auto const missing = adapter.decide(
        {missing_request, svc::endpoint_kind::service_call, path, "magnesium-order-select"});
    CHECK_FALSE(missing.allowed);
    CHECK(missing.log_reason == "reason=missing_token");

    // Through the coroutine interface, as the router calls it.
    auto const feedback_path = path + "/feedback";
    auto const wrong_request =
        request_at("POST", feedback_path, "Bearer " + m().token("sandbox_service"));
    boost::asio::io_context io;
    std::optional<svc::auth_decision> decision;
    boost::asio::co_spawn(io,
                          adapter.authenticate({wrong_request, svc::endpoint_kind::feedback,
                                                feedback_path, "magnesium-order-select"}),
                          [&](std::exception_ptr error, svc::auth_decision result) {
                              REQUIRE_FALSE(error);
                              decision = std::move(result);
                          });
    io.run();
    REQUIRE(decision);
    CHECK_FALSE(decision->allowed);
    CHECK(decision->log_reason.find("reason=audience_mismatch") == 0);
    CHECK(decision->log_reason.find("iss=\"https://sandbox.cds-hooks.org\"") != std::string::npos);
    CHECK(decision->log_reason.find(m().token("sandbox_service").substr(0, 30)) ==
          std::string::npos);

    // Discovery without a token stays public; with the discovery token it is verified.
    auto const discovery = request_at("GET", "/cds-services", std::nullopt);
    CHECK(adapter.decide({discovery, svc::endpoint_kind::discovery, "/cds-services", ""}).allowed);
    auto const with_token =
        request_at("GET", "/cds-services", "Bearer " + m().token("sandbox_discovery"));
    auto const verified =
        adapter.decide({with_token, svc::endpoint_kind::discovery, "/cds-services", ""});
    CHECK(verified.allowed);
    CHECK(verified.log_reason ==
          "reason=ok iss=\"https://sandbox.cds-hooks.org\" jti=\"" +
              std::string(auth::parse_compact_jws(m().token("sandbox_discovery"))
                              .jws->claims.at("jti")
                              .as_string()) +
              "\" kid=\"44823f3d-0b01-4a6c-a80e-b9d3e8a7226f\""
              // the sandbox names its JWKS URL; the shipped file decides
              " jku=ignored");
}
