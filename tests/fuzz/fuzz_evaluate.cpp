// Harness (e): the full evaluate path with the bundled rule set — snapshot building, draft
// order resolution, every rule of the hook, card and suggestion building — on data that the
// request schema would not necessarily let through (the rules must not rely on the schema).
//
// The input is JSON shaped like a CDS Hooks request (fixtures/scenarios/*/request.json are
// the seeds): `hook` picks the service (the first one when it names none), `context`
// (patientId, userId, encounterId, selections, draftOrders) becomes the hook context and
// `prefetch` values are added to the snapshot by the service's read_hook_context, and absent
// optional keys are reported unavailable, as the service does. The evaluation time is fixed.
//
// Properties checked beyond "no crash": every card obeys the CDS Hooks 2.0 response rules
// (summary under 140 characters, a known indicator, source.label, uuids, selectionBehavior
// with suggestions, a description on every action, no null or empty member); evaluating
// the same input twice, once recording the explain trace and once not, gives the same cards
// apart from uuids.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include <boost/json.hpp>

#include "cds/fhir/snapshot.hpp"
#include "cds/rules/evaluate.hpp"
#include "cds/rules/rule_set.hpp"
#include "cds/service/cds/hook_context.hpp"
#include "fuzz_support.hpp"
#include "json_mutator.hpp"

namespace {

constexpr char const* harness = "evaluate";

cds::rules::rule_set const& bundled_rules() {
    static auto const loaded = [] {
        auto result = cds::rules::load_rule_set(cds::rules::bundled_rule_set_json());
        if (!result.rules) throw std::runtime_error("the bundled rule set does not load");
        return result.rules;
    }();
    return *loaded;
}

std::string string_member(boost::json::object const& o, std::string_view key) {
    if (auto const* v = o.if_contains(key); v != nullptr && v->is_string())
        return std::string{v->get_string()};
    return {};
}

bool is_type(boost::json::value const& v, std::string_view type) {
    auto const* o = v.if_object();
    if (o == nullptr) return false;
    auto const* rt = o->if_contains("resourceType");
    return rt != nullptr && rt->is_string() && rt->get_string() == type;
}

struct call_input {
    cds::fhir::snapshot_builder builder;
    cds::rules::hook_context context;
};

// Builds the snapshot and context from the request-shaped input with the service's own
// read_hook_context; optional keys without data (absent, or an OperationOutcome) are
// unavailable, as when the service has nothing to fetch them with. Called once per
// evaluation so that both runs start from identical state.
std::unique_ptr<call_input> read_call(boost::json::object const& root) {
    auto const& rules = bundled_rules();
    auto in = std::make_unique<call_input>();
    auto const hook = string_member(root, "hook");
    cds::rules::service_definition const* service = &rules.services().front();
    for (auto const& s : rules.services()) {
        if (s.hook == hook) {
            service = &s;
            break;
        }
    }
    (void)cds::service::read_hook_context(root, *service, cds::fuzz::fixed_now(), in->context,
                                          in->builder);
    boost::json::object const* prefetch = nullptr;
    if (auto const* p = root.if_contains("prefetch"); p != nullptr && p->is_object())
        prefetch = &p->get_object();
    for (auto const& t : service->prefetch) {
        auto const* v = prefetch != nullptr ? prefetch->if_contains(t.key) : nullptr;
        if (!t.required && (v == nullptr || is_type(*v, "OperationOutcome"))) {
            in->context.unavailable_prefetch.push_back(t.key);
        }
    }
    return in;
}

boost::json::value evaluate_once(boost::json::object const& root, bool record_trace) {
    auto in = read_call(root);
    in->context.record_trace = record_trace;
    auto snapshot = std::move(in->builder).build();
    for (auto& order : in->context.draft_orders)
        cds::fhir::resolve_medication(order, snapshot, snapshot.issues);
    auto counter = std::make_shared<int>(0);
    cds::rules::uuid_source const next_uuid = [counter] {
        // A syntactically valid RFC 4122 uuid per call.
        std::string tail = std::to_string(++*counter);
        return "00000000-0000-4000-8000-" + std::string(12 - tail.size(), '0') + tail;
    };
    auto result = cds::rules::evaluate(snapshot, in->context, bundled_rules(), next_uuid);
    for (auto const& card : result.cards) {
        auto const problem = cds::fuzz::card_problem(card);
        CDS_FUZZ_REQUIRE(harness, problem.empty(), problem);
    }
    for (auto const& t : result.trace) CDS_FUZZ_REQUIRE(harness, !t.rule.empty(), t.message);
    return boost::json::value{std::move(result.cards)};
}

}  // namespace

CDS_FUZZ_JSON_MUTATOR()

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size > 1024 * 1024) return -1;
    auto value = cds::fuzz::parse_json(cds::fuzz::as_text(data, size));
    if (!value || !value->is_object()) return 0;
    // With the trace and without it: the same cards (the trace never decides anything).
    auto first = evaluate_once(value->get_object(), true);
    auto second = evaluate_once(value->get_object(), false);
    cds::fuzz::blank_uuids(first);
    cds::fuzz::blank_uuids(second);
    CDS_FUZZ_REQUIRE(harness, first == second, boost::json::serialize(first));
    (void)boost::json::serialize(first);
    return 0;
}
