#include "cds/service/cds/hook_context.hpp"

#include <string>
#include <string_view>
#include <utility>

#include <boost/json.hpp>

#include "cds/fhir/resources.hpp"
#include "cds/json_members.hpp"
#include "cds/service/cds/json_schema.hpp"

namespace cds::service {

namespace {

// Where the draft orders go while they are read.
struct draft_reader {
    rules::hook_context& context;
    fhir::snapshot_builder& builder;
    fhir::issue_list issues;
    std::size_t skipped = 0;
};

// Reads one draft order resource: MedicationRequest (R4) and MedicationOrder (DSTU2) become
// draft orders; a ServiceRequest is a level or test ordered with them (a recheck already
// drafted is not suggested again, CLINICAL-BASIS.md §3.3); a Medication goes into the snapshot
// so references to it resolve; other order types (NutritionOrder, ...) are not what these
// rules look at.
void read_draft_resource(boost::json::value const& resource,
                         std::string const& path,
                         draft_reader& reader,
                         std::string_view full_url = {}) {
    if (is_resource_of_type(resource, "MedicationRequest") ||
        is_resource_of_type(resource, "MedicationOrder")) {
        auto order = fhir::parse_medication_order(resource, path, reader.issues);
        if (!order) return;
        // The sandbox's first order-select call carries a bare draft with no medication yet
        // (interop/cds-hooks-sandbox/README.md): nothing to judge, and not an error.
        if (!order->has_medication()) {
            ++reader.skipped;
            return;
        }
        // Copied into memory of its own, which the copy keeps alive: the request's tree lives
        // in an arena that ends with prepare_cds_call, and the update actions are built from
        // this copy later. A monotonic resource takes a few blocks for the whole copy instead
        // of an allocation per member and string.
        order->source_json = std::make_shared<boost::json::object const>(
            resource.get_object(),
            boost::json::make_shared_resource<boost::json::monotonic_resource>());
        reader.context.draft_orders.push_back(std::move(*order));
    } else if (is_resource_of_type(resource, "ServiceRequest")) {
        if (auto request = fhir::parse_service_request(resource, path, reader.issues))
            reader.context.draft_service_requests.push_back(std::move(*request));
    } else if (is_resource_of_type(resource, "Medication")) {
        // A draft Bundle may name it by its entry's fullUrl (urn:uuid:...), FHIR R4 §Bundle
        // "Resolving references in Bundles".
        reader.builder.add(resource, path, full_url);
    }
}

void read_draft_orders(boost::json::value const& draft_orders, draft_reader& reader) {
    std::string const base = "context.draftOrders";
    auto read_entry = [&](boost::json::value const& entry, std::string const& entry_path) {
        if (!entry.is_object()) return;
        auto const& o = entry.get_object();
        if (o.contains("resourceType")) {
            read_draft_resource(entry, entry_path, reader);
        } else if (auto const* resource = o.if_contains("resource")) {
            std::string_view full_url;
            if (auto const* url = o.if_contains("fullUrl"); url != nullptr && url->is_string())
                full_url = url->get_string();
            read_draft_resource(*resource, append_member(entry_path, "resource"), reader, full_url);
        }
    };
    if (draft_orders.is_array()) {
        auto const& a = draft_orders.get_array();
        for (std::size_t i = 0; i < a.size(); ++i) read_entry(a[i], append_index(base, i));
        return;
    }
    if (!draft_orders.is_object()) return;
    auto const* entries = draft_orders.get_object().if_contains("entry");
    if (entries == nullptr) return;
    std::string const entry_base = append_member(base, "entry");
    if (entries->is_array()) {
        auto const& a = entries->get_array();
        for (std::size_t i = 0; i < a.size(); ++i) read_entry(a[i], append_index(entry_base, i));
    } else {
        // An array-typed element sent as a single object, as some clients do.
        read_entry(*entries, append_index(entry_base, 0));
    }
}

// The members of `context` that the hooks define (CDS Hooks 2.0 patient-view, order-select,
// order-sign).
void read_context_members(boost::json::object const& context, rules::hook_context& ctx) {
    ctx.patient_id = string_member(context, "patientId");
    ctx.user_id = string_member(context, "userId");
    ctx.encounter_id = string_member(context, "encounterId");
    if (auto const* selections = context.if_contains("selections");
        selections != nullptr && selections->is_array()) {
        for (auto const& s : selections->get_array()) {
            if (s.is_string()) ctx.selections.emplace_back(s.get_string());
        }
    }
}

}  // namespace

void begin_hook_context(rules::service_definition const& service,
                        fhir::instant now,
                        rules::hook_context& context) {
    context.hook = service.hook;
    context.service_id = service.id;
    context.now = now;
}

std::size_t read_context_member(boost::json::value const& context_value,
                                rules::hook_context& context,
                                fhir::snapshot_builder& builder) {
    auto const* members = context_value.if_object();
    if (members == nullptr) return 0;
    draft_reader reader{context, builder, {}, 0};
    read_context_members(*members, context);
    if (auto const* drafts = members->if_contains("draftOrders"))
        read_draft_orders(*drafts, reader);
    return reader.skipped;
}

void read_prefetch_member(std::string_view key,
                          boost::json::value const& value,
                          fhir::snapshot_builder& builder) {
    // Prefetch (CDS Hooks 2.0 "Prefetch"): every key with data is used, including keys the
    // service did not declare, since resources are classified by their own type and code.
    if (value.is_object() && !is_resource_of_type(value, "OperationOutcome"))
        builder.add(value, "prefetch." + std::string{key});
}

std::size_t read_hook_context(boost::json::object const& request,
                              rules::service_definition const& service,
                              fhir::instant now,
                              rules::hook_context& context,
                              fhir::snapshot_builder& builder) {
    begin_hook_context(service, now, context);
    std::size_t skipped = 0;
    if (auto const* c = request.if_contains("context"))
        skipped = read_context_member(*c, context, builder);
    if (auto const* p = request.if_contains("prefetch"); p != nullptr && p->is_object()) {
        for (auto const& member : p->get_object()) {
            read_prefetch_member({member.key().data(), member.key().size()}, member.value(),
                                 builder);
        }
    }
    return skipped;
}

}  // namespace cds::service
