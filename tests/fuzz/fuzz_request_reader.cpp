// Harness (h): the one-pass request reader (request_reader.hpp) against the tree it is
// compared with. The input is the body of a POST to the service its `hook` names (the first
// service otherwise). Both readings must agree exactly: the same error response, or the same
// hook context and snapshot (every typed field and issue) and the same cards apart from uuids.
// The server's own reading, which leaves out the Observations the rules do not read, must
// give the same error or the same cards as well, and a snapshot that lacks exactly those.
// Seeds: fixture requests and scenarios; the mutator keeps most inputs JSON.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <boost/json.hpp>

#include "cds/rules/evaluate.hpp"
#include "cds/rules/rule_set.hpp"
#include "cds/service/cds/cds_call.hpp"
#include "cds/service/cds/service_state.hpp"
#include "fuzz_support.hpp"
#include "json_mutator.hpp"
#include "service_fuzz_support.hpp"

namespace {

constexpr char const* harness = "request_reader";

cds::service::service_state const& state() {
    static auto const built = [] {
        auto s = cds::fuzz::bundled_service_state();
        s->next_uuid = [] { return std::string{"00000000-0000-4000-8000-000000000000"}; };
        s->fixed_now = cds::fuzz::fixed_now();
        return s;
    }();
    return *built;
}

cds::rules::service_definition const& service_for(std::string_view body) {
    auto const& services = state().rules.get()->services();
    if (auto parsed = cds::fuzz::parse_json(body); parsed && parsed->is_object()) {
        if (auto const* hook = parsed->get_object().if_contains("hook");
            hook != nullptr && hook->is_string()) {
            for (auto const& s : services) {
                if (s.hook == hook->get_string()) return s;
            }
        }
    }
    return services.front();
}

void require_same_orders(std::vector<cds::fhir::medication_order> a,
                         std::vector<cds::fhir::medication_order> b) {
    CDS_FUZZ_REQUIRE(harness, a.size() == b.size(), "draft order count");
    for (std::size_t i = 0; i < a.size(); ++i) {
        bool const same_json =
            (a[i].source_json == nullptr)
                ? b[i].source_json == nullptr
                : b[i].source_json != nullptr && *a[i].source_json == *b[i].source_json;
        CDS_FUZZ_REQUIRE(harness, same_json, "draft order JSON");
        a[i].source_json = b[i].source_json = nullptr;
        CDS_FUZZ_REQUIRE(harness, a[i] == b[i], "draft order");
    }
}

void require_same_call(cds::service::prepared_call const& a, cds::service::prepared_call const& b) {
    CDS_FUZZ_REQUIRE(harness, a.skipped_draft_orders == b.skipped_draft_orders, "skipped drafts");
    CDS_FUZZ_REQUIRE(harness, a.unavailable == b.unavailable, "unavailable prefetch");
    CDS_FUZZ_REQUIRE(harness,
                     a.context.patient_id == b.context.patient_id &&
                         a.context.user_id == b.context.user_id &&
                         a.context.encounter_id == b.context.encounter_id &&
                         a.context.selections == b.context.selections &&
                         a.context.draft_service_requests == b.context.draft_service_requests,
                     "context members");
    require_same_orders(a.context.draft_orders, b.context.draft_orders);
    auto copy_a = a.builder;
    auto copy_b = b.builder;
    CDS_FUZZ_REQUIRE(harness, std::move(copy_a).build() == std::move(copy_b).build(), "snapshot");
}

// `served` read as the server reads (rules given), `all` as the tree reads: the same
// snapshot but for the Observations the rules do not read.
void require_left_out_only_unread(cds::service::prepared_call const& served,
                                  cds::service::prepared_call const& all,
                                  cds::rules::rule_set const& rules) {
    auto copy_served = served.builder;
    auto copy_all = all.builder;
    auto const kept = std::move(copy_served).build();
    auto const every = std::move(copy_all).build();
    std::vector<cds::fhir::observation> expected;
    for (auto const& o : every.observations) {
        if (cds::rules::reads_observation(o.code, rules)) expected.push_back(o);
    }
    CDS_FUZZ_REQUIRE(harness, kept.observations == expected, "observations left out");
    CDS_FUZZ_REQUIRE(harness,
                     kept.patient_record == every.patient_record &&
                         kept.medication_orders == every.medication_orders &&
                         kept.medications == every.medications &&
                         kept.conditions == every.conditions &&
                         kept.service_requests == every.service_requests,
                     "resources other than Observations");
}

}  // namespace

CDS_FUZZ_JSON_MUTATOR()

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    auto const& st = state();
    if (size > st.limits.max_body_bytes) return -1;
    auto const body = cds::fuzz::as_text(data, size);
    auto const& service = service_for(body);
    cds::service::http_request request;
    request.method = "POST";
    request.target = "/cds-services/" + service.id;
    request.headers.emplace_back("Content-Type", "application/json");
    request.body = std::string{body};
    request.received_at = cds::fuzz::fixed_now();

    using cds::service::request_reading;
    auto const rules = st.rules.get();
    auto one_pass = cds::service::prepare_cds_call(request, st, service, request_reading::one_pass);
    auto served = cds::service::prepare_cds_call(request, st, service, request_reading::one_pass,
                                                 rules.get());
    auto tree = cds::service::prepare_cds_call(request, st, service, request_reading::tree);
    CDS_FUZZ_REQUIRE(harness, one_pass.index() == tree.index(), "one reader refused the body");
    CDS_FUZZ_REQUIRE(harness, served.index() == tree.index(), "the served reading refused it");
    if (auto const* error = std::get_if<cds::service::http_response>(&one_pass)) {
        auto const& other = std::get<cds::service::http_response>(tree);
        auto const& served_error = std::get<cds::service::http_response>(served);
        CDS_FUZZ_REQUIRE(harness, error->status == other.status && error->body == other.body,
                         error->body + " | " + other.body);
        CDS_FUZZ_REQUIRE(harness,
                         served_error.status == other.status && served_error.body == other.body,
                         served_error.body + " | " + other.body);
        return 0;
    }
    auto& a = std::get<cds::service::prepared_call>(one_pass);
    auto& b = std::get<cds::service::prepared_call>(tree);
    auto& c = std::get<cds::service::prepared_call>(served);
    require_same_call(a, b);
    require_left_out_only_unread(c, b, *rules);
    auto const answer_a = cds::service::complete_cds_call(std::move(a), nullptr, st);
    auto const answer_b = cds::service::complete_cds_call(std::move(b), nullptr, st);
    auto const answer_c = cds::service::complete_cds_call(std::move(c), nullptr, st);
    CDS_FUZZ_REQUIRE(harness, answer_a.status == answer_b.status && answer_a.body == answer_b.body,
                     answer_a.body.substr(0, 300) + " | " + answer_b.body.substr(0, 300));
    CDS_FUZZ_REQUIRE(harness, answer_c.status == answer_b.status && answer_c.body == answer_b.body,
                     answer_c.body.substr(0, 300) + " | " + answer_b.body.substr(0, 300));
    return 0;
}
