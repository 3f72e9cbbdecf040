// Harness (b): FHIR resource and Bundle parsing through cds::fhir::snapshot_builder, and
// medication resolution (contained, relative, absolute and urn references) for record
// orders and for draft orders.
//
// The input is JSON shaped like any of: one resource, a Bundle, an array of them, an object
// of prefetch keys, or a whole CDS Hooks request (its `prefetch` values and its
// `context.draftOrders` are read, as the service reads them). Seeds are the fixture requests
// and the published FHIR examples in fixtures/fhir-examples.
//
// Properties checked beyond "no crash": add() never reports more resources than the
// snapshot holds; resources are deduplicated by (resourceType, id); find_medication finds
// every indexed Medication by its id; every issue names a path. Each Bundle entry (and each
// resource, as an entry of its own), written out as text: what read_observation_entry
// (observation_text.hpp, with and without a code filter) and read_medication_request_entry
// (medication_request_text.hpp) read from it is what add_bundle_entry makes of the same
// text's tape, with no issue; what read_text declines, they decline too.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "cds/fhir/json_tape.hpp"
#include "cds/fhir/medication_request_text.hpp"
#include "cds/fhir/observation_text.hpp"
#include "cds/fhir/snapshot.hpp"
#include "fuzz_support.hpp"
#include "json_mutator.hpp"

namespace {

constexpr char const* harness = "fhir_resources";

bool has_type(boost::json::object const& o, std::string_view type) {
    auto const* rt = o.if_contains("resourceType");
    return rt != nullptr && rt->is_string() && rt->get_string() == type;
}

// The single-resource parsers, called directly as well (they are public API of their own).
void parse_single(boost::json::value const& v,
                  std::string const& path,
                  std::vector<cds::fhir::medication_order>& drafts) {
    auto const* o = v.if_object();
    if (o == nullptr) return;
    cds::fhir::issue_list issues;
    if (has_type(*o, "Patient")) {
        (void)cds::fhir::parse_patient(v, path, issues);
    } else if (has_type(*o, "Observation")) {
        if (auto obs = cds::fhir::parse_observation(v, path, issues)) (void)obs->result_time();
    } else if (has_type(*o, "Medication")) {
        (void)cds::fhir::parse_medication(v, path, issues);
    } else if (has_type(*o, "Condition")) {
        (void)cds::fhir::parse_condition(v, path, issues);
    } else if (has_type(*o, "ServiceRequest")) {
        if (auto r = cds::fhir::parse_service_request(v, path, issues)) (void)r->occurrence_time();
    } else if (has_type(*o, "MedicationRequest") || has_type(*o, "MedicationOrder") ||
               has_type(*o, "MedicationStatement")) {
        if (auto order = cds::fhir::parse_medication_order(v, path, issues))
            drafts.push_back(std::move(*order));
    }
    for (auto const& issue : issues)
        CDS_FUZZ_REQUIRE(harness, issue.path.starts_with(path), issue.path);
}

// context.draftOrders: a Bundle of draft orders (or, leniently, an array of resources).
void read_drafts(boost::json::value const& v, std::vector<cds::fhir::medication_order>& drafts) {
    auto read_entry = [&](boost::json::value const& entry, std::string const& path) {
        auto const* o = entry.if_object();
        if (o == nullptr) return;
        if (auto const* resource = o->if_contains("resource")) {
            parse_single(*resource, path + ".resource", drafts);
        } else {
            parse_single(entry, path, drafts);
        }
    };
    if (auto const* a = v.if_array()) {
        for (std::size_t i = 0; i < a->size(); ++i)
            read_entry((*a)[i], "context.draftOrders[" + std::to_string(i) + "]");
    } else if (auto const* o = v.if_object()) {
        if (auto const* entries = o->if_contains("entry")) {
            if (auto const* ea = entries->if_array()) {
                for (std::size_t i = 0; i < ea->size(); ++i) {
                    read_entry((*ea)[i], "context.draftOrders.entry[" + std::to_string(i) + "]");
                }
            } else {
                read_entry(*entries, "context.draftOrders.entry[0]");
            }
        }
    }
}

// A filter that refuses some codes and keeps others, to reach both outcomes.
bool keep_even_codes(cds::fhir::codeable_concept const& code) {
    return code.codings.empty() || code.codings.front().code.size() % 2 == 0;
}

// A Bundle entry written out as text, and that text laid out as a tape by read_text: what
// each text reader's reading is compared with.
struct entry_text {
    static constexpr std::size_t max_open = 20;

    explicit entry_text(boost::json::value const& entry) : text(boost::json::serialize(entry)) {
        taped_to = begin();
        taped = tape.read_text(taped_to, end(), max_open, store);
    }
    [[nodiscard]] char const* begin() const { return text.data(); }
    [[nodiscard]] char const* end() const { return text.data() + text.size(); }

    // A text reader that read the entry stopped where read_text stopped, and counted the
    // same resources.
    void require_read_as_taped(char const* read_to, std::size_t resource_count) const {
        CDS_FUZZ_REQUIRE(harness, taped, "the text reader read an entry read_text declines");
        CDS_FUZZ_REQUIRE(harness, read_to == taped_to, "the text reader stopped elsewhere");
        CDS_FUZZ_REQUIRE(harness, resource_count == tape.resource_count(), "resource count");
    }
    // What add_bundle_entry makes of the tape, with the snapshot builder's filter.
    [[nodiscard]] cds::fhir::patient_snapshot snapshot_from_tape(
        cds::fhir::observation_code_filter const& keep = {}) const {
        cds::fhir::snapshot_builder builder;
        builder.keep_observations_if(keep);
        (void)builder.add_bundle_entry(tape.root(), "prefetch.data", 0);
        return std::move(builder).build();
    }

    std::string text;
    boost::json::monotonic_resource store;
    cds::fhir::tape_builder tape;
    char const* taped_to = nullptr;
    bool taped = false;
};

void check_observation_text(boost::json::value const& entry,
                            cds::fhir::observation_code_filter const& keep) {
    entry_text const written{entry};
    cds::fhir::snapshot_builder from_text;
    from_text.keep_observations_if(keep);
    char const* read_to = written.begin();
    auto const read = cds::fhir::read_observation_entry(
        read_to, written.end(), entry_text::max_open, from_text.observation_filter(),
        from_text.start_observation());
    if (!read) {
        CDS_FUZZ_REQUIRE(harness, read_to == written.begin(), "a declined entry moved the text");
        return;
    }
    written.require_read_as_taped(read_to, read->resource_count);
    auto const from_tape = written.snapshot_from_tape(keep);
    CDS_FUZZ_REQUIRE(harness, from_tape.issues.empty(),
                     "the text reader read an entry that the tape path reports on");
    from_text.finish_observation(read->kept);
    CDS_FUZZ_REQUIRE(harness, std::move(from_text).build() == from_tape,
                     "the text reader's Observation differs from the tape's");
}

void check_medication_request_text(boost::json::value const& entry) {
    entry_text const written{entry};
    cds::fhir::snapshot_builder from_text;
    char const* read_to = written.begin();
    auto const read = cds::fhir::read_medication_request_entry(
        read_to, written.end(), entry_text::max_open, from_text.start_medication_order());
    if (!read) {
        CDS_FUZZ_REQUIRE(harness, read_to == written.begin(), "a declined entry moved the text");
        return;
    }
    written.require_read_as_taped(read_to, read->resource_count);
    // Both snapshots have build()'s issues about medicationReference; any issue of the tape
    // path's reading would be in one snapshot only, and the two would differ.
    auto const from_tape = written.snapshot_from_tape();
    from_text.finish_medication_order("prefetch.data", 0);
    CDS_FUZZ_REQUIRE(harness, std::move(from_text).build() == from_tape,
                     "the text reader's MedicationRequest differs from the tape's");
}

// Every entry of a Bundle value, or the value itself as a Bundle entry's resource.
void check_entry_texts(boost::json::value const& v) {
    auto check = [](boost::json::value const& entry) {
        check_observation_text(entry, {});
        check_observation_text(entry, keep_even_codes);
        check_medication_request_text(entry);
    };
    auto const* o = v.if_object();
    if (o == nullptr) return;
    if (!has_type(*o, "Bundle")) {
        check(boost::json::object{{"fullUrl", "urn:uuid:1"}, {"resource", v}});
        return;
    }
    if (auto const* entries = o->if_contains("entry"); entries != nullptr && entries->is_array()) {
        for (auto const& entry : entries->get_array()) check(entry);
    }
}

template <typename T>
void require_unique_ids(std::vector<T> const& items, char const* what) {
    std::set<std::string> seen;
    for (auto const& item : items) {
        if (item.id.empty()) continue;
        CDS_FUZZ_REQUIRE(harness, seen.insert(item.id).second, std::string{what} + "/" + item.id);
    }
}

}  // namespace

CDS_FUZZ_JSON_MUTATOR()

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size > 1024 * 1024) return -1;
    auto value = cds::fuzz::parse_json(cds::fuzz::as_text(data, size));
    if (!value) return 0;

    cds::fhir::snapshot_builder builder;
    std::vector<cds::fhir::medication_order> drafts;
    std::size_t taken = 0;
    auto add = [&](boost::json::value const& v, std::string const& path) {
        taken += builder.add(v, path);
        parse_single(v, path, drafts);
        check_entry_texts(v);
    };

    if (auto const* o = value->if_object()) {
        if (o->contains("resourceType")) {
            add(*value, "resource");
        } else {
            // A CDS Hooks request, or an object of prefetch keys.
            auto const* prefetch = o->if_contains("prefetch");
            auto const* members =
                (prefetch != nullptr && prefetch->is_object()) ? &prefetch->get_object() : o;
            for (auto const& member : *members)
                add(member.value(), "prefetch." + std::string{member.key()});
            if (auto const* context = o->if_contains("context");
                context != nullptr && context->is_object()) {
                if (auto const* d = context->get_object().if_contains("draftOrders"))
                    read_drafts(*d, drafts);
            }
        }
    } else if (auto const* a = value->if_array()) {
        for (std::size_t i = 0; i < a->size(); ++i)
            add((*a)[i], "resources[" + std::to_string(i) + "]");
    } else {
        add(*value, "resource");
    }

    auto snapshot = std::move(builder).build();
    std::size_t const held = snapshot.observations.size() + snapshot.medication_orders.size() +
                             snapshot.medications.size() + snapshot.conditions.size() +
                             snapshot.service_requests.size() + (snapshot.patient_record ? 1U : 0U);
    CDS_FUZZ_REQUIRE(harness, taken <= held, std::to_string(taken) + " > " + std::to_string(held));

    require_unique_ids(snapshot.observations, "Observation");
    require_unique_ids(snapshot.medications, "Medication");
    require_unique_ids(snapshot.service_requests, "ServiceRequest");
    require_unique_ids(snapshot.conditions, "Condition");
    std::set<std::pair<std::string, std::string>> order_keys;
    for (auto const& order : snapshot.medication_orders) {
        if (order.id.empty()) continue;
        CDS_FUZZ_REQUIRE(harness, order_keys.emplace(order.resource_type, order.id).second,
                         order.id);
    }
    for (auto const& med : snapshot.medications) {
        if (med.id.empty()) continue;
        auto const* found = snapshot.find_medication(med.id);
        CDS_FUZZ_REQUIRE(harness, found != nullptr && found->id == med.id, med.id);
    }
    for (auto const& obs : snapshot.observations) (void)obs.result_time();

    // Draft orders are resolved against the record, as the service does for order hooks.
    for (auto& order : drafts) {
        cds::fhir::resolve_medication(order, snapshot, snapshot.issues);
        if (order.medication_concept && !order.medication_concept->empty()) {
            CDS_FUZZ_REQUIRE(harness, order.medication_known, order.id);
        }
    }
    for (auto const& issue : snapshot.issues) {
        CDS_FUZZ_REQUIRE(harness, !issue.path.empty() && !issue.message.empty(), issue.message);
    }
    return 0;
}
