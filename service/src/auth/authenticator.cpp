#include <cds/service/auth/authenticator.hpp>
#include "cds/service/http/http_message.hpp"

#include <algorithm>

namespace cds::service::auth {
namespace {

// RFC 7235 §2.1 token68.
bool is_token68(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && text[i] != '=') {
        char const c = text[i];
        bool const ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' ||
                        c == '+' || c == '/';
        if (!ok) {
            return false;
        }
        ++i;
    }
    if (i == 0) {
        return false;
    }
    return std::all_of(text.begin() + static_cast<std::ptrdiff_t>(i), text.end(),
                       [](char c) { return c == '='; });
}

}  // namespace

std::string_view target_path(std::string_view target) {
    std::size_t const end = target.find_first_of("?#");
    return end == std::string_view::npos ? target : target.substr(0, end);
}

endpoint_access classify_endpoint(endpoint_kind kind, bool protect_discovery) {
    switch (kind) {
        case endpoint_kind::health:
        case endpoint_kind::readiness:
        // The card viewer's static files hold no patient data; the hook calls the page makes are
        // service calls and authenticated as such.
        case endpoint_kind::ui:
        // Counters only, never patient data; platform scrapers carry no JWT (serve
        // --disable-metrics turns the endpoint off).
        case endpoint_kind::metrics:
        // The clinical basis of a rule, linked from every card's source.url: opened in a
        // browser, which carries no token.
        case endpoint_kind::rule_page:
            return endpoint_access::public_endpoint;
        case endpoint_kind::discovery:
            return protect_discovery ? endpoint_access::token_required
                                     : endpoint_access::token_optional;
        case endpoint_kind::service_call:
        case endpoint_kind::feedback:
        case endpoint_kind::unknown:
            break;
    }
    // Service calls, feedback, and anything unknown: deny by default.
    return endpoint_access::token_required;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
    constexpr std::string_view scheme = "bearer";
    if (authorization.size() <= scheme.size() ||
        !iequals(authorization.substr(0, scheme.size()), scheme) ||
        authorization[scheme.size()] != ' ') {
        return std::nullopt;
    }
    std::string_view token = authorization.substr(scheme.size());
    while (!token.empty() && token.front() == ' ') {
        token.remove_prefix(1);
    }
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
        token.remove_suffix(1);
    }
    if (!is_token68(token)) {
        return std::nullopt;
    }
    return token;
}

authenticator::authenticator(std::unique_ptr<jwt_verifier> verifier,
                             std::string public_url,
                             bool protect_discovery)
    : verifier_(std::move(verifier)),
      public_url_(std::move(public_url)),
      protect_discovery_(protect_discovery) {
    while (!public_url_.empty() && public_url_.back() == '/') {
        public_url_.pop_back();
    }
}

void authenticator::count(auth_reason reason) {
    auto const index = static_cast<std::size_t>(reason);
    if (index < counters_.size()) {
        counters_[index].fetch_add(1, std::memory_order_relaxed);
    }
}

auth_decision authenticator::check(endpoint_kind kind,
                                   std::string_view target,
                                   std::optional<std::string_view> authorization,
                                   time_point now,
                                   key_fetch fetch) {
    auth_decision decision;
    decision.result.reason = auth_reason::ok;
    if (!verifier_) {
        return decision;
    }
    std::string_view const path = target_path(target);
    endpoint_access const access = classify_endpoint(kind, protect_discovery_);
    if (access == endpoint_access::public_endpoint) {
        return decision;
    }
    if (!authorization) {
        if (access == endpoint_access::token_optional) {
            return decision;
        }
        decision.allowed = false;
        decision.result.reason = auth_reason::missing_token;
        count(decision.result.reason);
        return decision;
    }
    std::optional<std::string_view> token = bearer_token(*authorization);
    if (!token) {
        decision.allowed = false;
        decision.result.reason = auth_reason::not_bearer;
        count(decision.result.reason);
        return decision;
    }
    std::string invoked_url;
    invoked_url.reserve(public_url_.size() + path.size());
    invoked_url += public_url_;
    invoked_url += path;
    decision.token_checked = true;
    decision.result = verifier_->verify(*token, invoked_url, now, fetch);
    decision.allowed = decision.result.ok();
    if (!decision.result.fetch_deferred) count(decision.result.reason);
    return decision;
}

std::string authenticator::describe(verification_result const& result) {
    std::string line = "reason=";
    line += to_string(result.reason);
    if (!result.issuer.empty()) {
        line += " iss=\"" + result.issuer + "\"";
    }
    if (!result.jti.empty()) {
        line += " jti=\"" + result.jti + "\"";
    }
    if (!result.kid.empty()) {
        line += " kid=\"" + result.kid + "\"";
    }
    if (result.jku_ignored) {
        line += " jku=ignored";
    }
    return line;
}

std::vector<std::pair<std::string_view, std::uint64_t>> authenticator::counters() const {
    std::vector<std::pair<std::string_view, std::uint64_t>> out;
    out.reserve(counters_.size());
    for (std::size_t i = 0; i < counters_.size(); ++i) {
        out.emplace_back(to_string(static_cast<auth_reason>(i)),
                         counters_[i].load(std::memory_order_relaxed));
    }
    return out;
}

}  // namespace cds::service::auth
