#include "cds/service/auth/jwt_request_authenticator.hpp"

#include <chrono>
#include <stdexcept>

namespace cds::service::auth {

jwt_request_authenticator::jwt_request_authenticator(std::shared_ptr<authenticator> authn)
    : authn_(std::move(authn)) {
    if (!authn_) {
        throw std::invalid_argument("jwt_request_authenticator needs an authenticator");
    }
}

cds::service::auth_decision jwt_request_authenticator::decide(
    cds::service::auth_request const& request) {
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
    auth::auth_decision const checked =
        authn_->check(request.endpoint, request.path, authorization, now);
    cds::service::auth_decision decision;
    decision.allowed = checked.allowed;
    if (!checked.allowed || checked.token_checked) {
        decision.log_reason = authenticator::describe(checked.result);
    }
    if (checked.allowed && checked.token_checked && checked.result.ok())
        decision.client_iss = checked.result.issuer;
    return decision;
}

boost::asio::awaitable<cds::service::auth_decision> jwt_request_authenticator::authenticate(
    cds::service::auth_request request) {
    co_return decide(request);
}

std::shared_ptr<cds::service::request_authenticator> make_request_authenticator(
    std::shared_ptr<authenticator> authn) {
    if (!authn || !authn->enabled()) {
        return nullptr;
    }
    return std::make_shared<jwt_request_authenticator>(std::move(authn));
}

}  // namespace cds::service::auth
