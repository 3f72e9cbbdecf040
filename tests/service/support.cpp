#include "support.hpp"

#include <atomic>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <doctest/doctest.h>

namespace cds::service::testing {

std::shared_ptr<rules::rule_set const> bundled_rules() {
    static auto const rules = [] {
        auto loaded = rules::load_rule_set(rules::bundled_rule_set_json());
        if (!loaded.rules) throw std::runtime_error("the bundled rule set does not load");
        return loaded.rules;
    }();
    return rules;
}

service_state make_state(service_limits limits, cors_policy cors) {
    auto state = make_service_state(bundled_rules(), limits, std::move(cors));
    auto counter = std::make_shared<std::atomic<int>>(0);
    state.next_uuid = [counter] { return "uuid-" + std::to_string(++*counter); };
    return state;
}

std::string read_text(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

boost::json::object fixture_request(std::string const& name) {
    return boost::json::parse(read_text(std::string{CDS_FIXTURES_DIR} + "/requests/" + name))
        .as_object();
}

http_request post(std::string target, std::string body, std::string content_type) {
    http_request r;
    r.method = "POST";
    r.target = std::move(target);
    if (!content_type.empty()) r.headers.emplace_back("Content-Type", std::move(content_type));
    r.body = std::move(body);
    r.received_at = std::chrono::time_point_cast<std::chrono::milliseconds>(
        date::sys_days{date::year{2026} / 3 / 10} + std::chrono::hours{9});
    return r;
}

http_request get(std::string target) {
    http_request r;
    r.method = "GET";
    r.target = std::move(target);
    return r;
}

boost::json::value parse(std::string const& text) { return boost::json::parse(text); }

std::string diagnostics_of(http_response const& response) {
    auto const v = parse(response.body);
    return std::string{v.at("issue").at(0).at("diagnostics").as_string()};
}

std::string expression_of(http_response const& response) {
    auto const v = parse(response.body);
    auto const* e = v.at("issue").at(0).as_object().if_contains("expression");
    return e == nullptr ? std::string{} : std::string{e->at(0).as_string()};
}

boost::json::value without_uuids(boost::json::value v) {
    if (v.is_object()) {
        for (auto& member : v.as_object()) {
            if (member.key() == "uuid") {
                member.value() = "-";
            } else {
                member.value() = without_uuids(std::move(member.value()));
            }
        }
    } else if (v.is_array()) {
        for (auto& e : v.as_array()) e = without_uuids(std::move(e));
    }
    return v;
}

boost::asio::awaitable<fetch_outcome> recording_fetcher::fetch(fetch_request request) {
    calls.push_back(std::move(request));
    co_return answer;
}

boost::asio::awaitable<auth_decision> scripted_authenticator::authenticate(auth_request request) {
    seen.push_back(request.endpoint);
    paths.emplace_back(request.path);
    co_return auth_decision{allow_, allow_ ? "" : "expired", {}};
}

boost::asio::awaitable<feedback_receipt> recording_sink::record(
    std::string service_id, std::vector<feedback_entry> entries) {
    received.emplace_back(std::move(service_id), std::move(entries));
    co_return feedback_receipt{accept, accept ? std::string{} : std::string{"refused by the test"}};
}

}  // namespace cds::service::testing
