// Harness (c): the service's whole request path without sockets —
// cds::service::handle_request_blocking, i.e. routing, content type, JSON parsing with the
// depth limit, the HookRequest and context JSON Schemas, hook matching, prefetch resolution,
// draft orders, the rules, and the response serialization; feedback calls go through the
// feedback schema and parser.
//
// The input is the body of a POST. Its `hook` member (when the body is JSON that has one)
// picks the service it is posted to — so fixture requests reach their own service and
// mutations mostly get past the hook check — and a body with a `feedback` member is posted
// to that service's feedback endpoint. No fetcher and no authenticator are configured, so
// the harness never touches the network. The request time is fixed.
//
// Properties checked beyond "no crash": a client error is never a 5xx; every response
// carries Access-Control-Allow-Origin; every non-empty body is JSON; an error body is an
// OperationOutcome with at least one issue; a 200 to a service call is {"cards": [...]} whose
// cards obey the CDS Hooks 2.0 response rules.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include <boost/json.hpp>

#include "cds/rules/rule_set.hpp"
#include "cds/service/cds/service_state.hpp"
#include "cds/service/http/router.hpp"
#include "fuzz_support.hpp"
#include "json_mutator.hpp"
#include "service_fuzz_support.hpp"

namespace {

constexpr char const* harness = "service_request";

cds::service::service_state const& state() {
    static auto const built = [] {
        auto s = cds::fuzz::bundled_service_state();
        auto counter = std::make_shared<std::atomic<unsigned long>>(0);
        s->next_uuid = [counter] {
            return "00000000-0000-4000-8000-" + std::to_string(100000000000UL + ++*counter);
        };
        return s;
    }();
    return *built;
}

}  // namespace

CDS_FUZZ_JSON_MUTATOR()

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    auto const& st = state();
    // Bodies over the limit are refused by the HTTP server before the router sees them.
    if (size > st.limits.max_body_bytes) return -1;
    auto const body = cds::fuzz::as_text(data, size);

    std::string service_id = st.rules->services().front().id;
    bool feedback = false;
    if (auto parsed = cds::fuzz::parse_json(body); parsed && parsed->is_object()) {
        auto const& o = parsed->get_object();
        if (auto const* hook = o.if_contains("hook"); hook != nullptr && hook->is_string()) {
            for (auto const& s : st.rules->services()) {
                if (s.hook == hook->get_string()) {
                    service_id = s.id;
                    break;
                }
            }
        }
        feedback = o.contains("feedback");
    }

    cds::service::http_request request;
    request.method = "POST";
    request.target = "/cds-services/" + service_id + (feedback ? "/feedback" : "");
    request.headers.emplace_back("Content-Type", "application/json");
    request.headers.emplace_back("Origin", "https://sandbox.cds-hooks.org");
    request.body = std::string{body};
    request.received_at = cds::fuzz::fixed_now();

    auto const response = cds::service::handle_request_blocking(std::move(request), st);

    CDS_FUZZ_REQUIRE(harness, response.status >= 200 && response.status < 500,
                     std::to_string(response.status));
    CDS_FUZZ_REQUIRE(harness, !response.header("Access-Control-Allow-Origin").empty(),
                     response.body);
    if (response.body.empty()) return 0;
    auto const answer = cds::fuzz::parse_json(response.body, 1000);
    CDS_FUZZ_REQUIRE(harness, answer.has_value() && answer->is_object(), response.body);
    auto const& o = answer->get_object();
    if (response.status >= 400) {
        auto const* rt = o.if_contains("resourceType");
        CDS_FUZZ_REQUIRE(harness,
                         rt != nullptr && rt->is_string() && rt->get_string() == "OperationOutcome",
                         response.body);
        auto const* issues = o.if_contains("issue");
        CDS_FUZZ_REQUIRE(harness,
                         issues != nullptr && issues->is_array() && !issues->get_array().empty(),
                         response.body);
        return 0;
    }
    if (!feedback && response.status == 200) {
        auto const* cards = o.if_contains("cards");
        CDS_FUZZ_REQUIRE(harness, cards != nullptr && cards->is_array(), response.body);
        for (auto const& card : cards->get_array()) {
            auto const problem = cds::fuzz::card_problem(card);
            CDS_FUZZ_REQUIRE(harness, problem.empty(), problem);
        }
    }
    return 0;
}
