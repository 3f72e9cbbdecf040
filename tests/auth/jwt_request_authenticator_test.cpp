// The adapter between the router's seam (cds/service/auth/authentication.hpp) and the JWT
// authenticator, driven the way the router drives it.

#include "cds/service/auth/jwt_request_authenticator.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

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

namespace {

// A remote JWKS whose fetch does not answer until the test opens the gate (or 5 s pass).
class gated_source final : public auth::jwks_source {
public:
    gated_source(std::string location, std::string body)
        : location_(std::move(location)), body_(std::move(body)) {}
    std::string const& location() const override { return location_; }
    bool is_remote() const override { return true; }
    auth::jwks_fetch_result fetch() override {
        opened_in_time =
            gate.get_future().wait_for(std::chrono::seconds{5}) == std::future_status::ready;
        return {body_, {}};
    }

    std::promise<void> gate;
    std::atomic<bool> opened_in_time{false};

private:
    std::string location_;
    std::string body_;
};

}  // namespace

TEST_CASE("a token whose keys must be fetched first does not hold the server thread") {
    auto source = std::make_unique<gated_source>(
        m().text("a_jwks_url"), auth::test::read_file(auth::test::minted_dir() / "a.jwks.json"));
    gated_source& gated = *source;
    std::vector<auth::trusted_issuer> issuers;
    issuers.push_back({m().text("issuer_a"), std::move(source)});
    auto verifier =
        std::make_unique<auth::jwt_verifier>(std::move(issuers), auth::verifier_options{});
    auth::jwt_request_authenticator adapter(
        std::make_shared<auth::authenticator>(std::move(verifier), m().text("public_url"), false));
    std::string const path = m().text("service_url").substr(m().text("public_url").size());
    auto const request = request_at("POST", path, "Bearer " + m().token("es384_valid"));

    // One thread runs both the check (its keys not fetched yet) and, meanwhile, a timer that
    // opens the gate: the timer can fire only if the fetch does not hold that thread.
    boost::asio::io_context io;
    std::optional<svc::auth_decision> decision;
    boost::asio::co_spawn(
        io, adapter.authenticate({request, svc::endpoint_kind::service_call, path, "x"}),
        [&](std::exception_ptr error, svc::auth_decision result) {
            REQUIRE_FALSE(error);
            decision = std::move(result);
        });
    boost::asio::steady_timer timer(io, std::chrono::milliseconds{20});
    timer.async_wait([&](boost::system::error_code) { gated.gate.set_value(); });
    io.run();

    CHECK(gated.opened_in_time);
    REQUIRE(decision);
    CHECK(decision->allowed);
    CHECK(decision->log_reason.find("reason=ok") == 0);
    // Counted once, as the decision made after the fetch; the deferred one is not counted.
    std::uint64_t ok_count = 0;
    std::uint64_t unavailable_count = 0;
    for (auto const& [reason, count] : adapter.inner().counters()) {
        if (reason == "ok") ok_count = count;
        if (reason == "jwks_unavailable") unavailable_count = count;
    }
    CHECK(ok_count == 1);
    CHECK(unavailable_count == 0);
    adapter.finish_background_work();  // returns: nothing is left on the pool
}
