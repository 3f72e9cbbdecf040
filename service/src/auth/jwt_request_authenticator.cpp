#include "cds/service/auth/jwt_request_authenticator.hpp"

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cds::service::auth {

jwt_request_authenticator::jwt_request_authenticator(std::shared_ptr<authenticator> authn)
    : authn_(std::move(authn)) {
    if (!authn_) {
        throw std::invalid_argument("jwt_request_authenticator needs an authenticator");
    }
}

namespace {

cds::service::auth_decision for_router(auth_decision const& checked) {
    cds::service::auth_decision decision;
    decision.allowed = checked.allowed;
    if (!checked.allowed || checked.token_checked) {
        decision.log_reason = authenticator::describe(checked.result);
    }
    if (checked.allowed && checked.token_checked && checked.result.ok())
        decision.client_iss = checked.result.issuer;
    return decision;
}

}  // namespace

auth_decision jwt_request_authenticator::check(cds::service::auth_request const& request,
                                               key_fetch fetch) {
    auto const& http = request.request;
    auto now = std::chrono::system_clock::time_point{http.received_at.time_since_epoch()};
    if (http.received_at.time_since_epoch().count() == 0) {
        now = std::chrono::system_clock::now();
    }
    std::optional<std::string_view> authorization;
    if (http.has_header("Authorization")) {
        authorization = http.header("Authorization");
    }
    // The router passes the path without its query; the authenticator strips it again,
    // which is harmless.
    return authn_->check(request.endpoint, request.path, authorization, now, fetch);
}

cds::service::auth_decision jwt_request_authenticator::decide(
    cds::service::auth_request const& request) {
    return for_router(check(request, key_fetch::allowed));
}

boost::asio::awaitable<cds::service::auth_decision> jwt_request_authenticator::authenticate(
    cds::service::auth_request request) {
    auto checked = check(request, key_fetch::deferred);
    if (checked.result.fetch_deferred) {
        checked = co_await boost::asio::co_spawn(
            key_fetches_,
            [this, &request]() -> boost::asio::awaitable<auth_decision> {
                co_return check(request, key_fetch::allowed);
            },
            boost::asio::use_awaitable);
    }
    co_return for_router(checked);
}

void jwt_request_authenticator::finish_background_work() { key_fetches_.join(); }

std::shared_ptr<cds::service::request_authenticator> make_request_authenticator(
    std::shared_ptr<authenticator> authn) {
    if (!authn || !authn->enabled()) {
        return nullptr;
    }
    return std::make_shared<jwt_request_authenticator>(std::move(authn));
}

}  // namespace cds::service::auth
