#include "cds/fhir/snapshot.hpp"

#include <algorithm>
#include <utility>

#include "json_read.hpp"

namespace cds::fhir {

namespace {

using boost::json::object;
using boost::json::value;
using detail::json_path;

// A Bundle inside a Bundle entry is legal (e.g. a searchset of collections) but deeper
// nesting is not something a real server sends; bounding it bounds the recursion.
constexpr int max_bundle_depth = 4;

std::optional<std::string_view> string_of(object const& o, std::string_view key) {
    if (auto const* v = detail::present(o, key)) {
        if (auto const* s = v->if_string()) return detail::view(*s);
    }
    return std::nullopt;
}

bool is_outcome_entry(object const& entry) {
    auto const* search = detail::present(entry, "search");
    if (search == nullptr || !search->is_object()) return false;
    auto const mode = string_of(search->get_object(), "mode");
    return mode && *mode == "outcome";
}

void copy_medication(medication_order& order, medication const& med) {
    order.resolved_code = med.code;
    order.resolved_form = med.form;
    order.resolved_ingredients = med.ingredients;
}

}  // namespace

medication const* patient_snapshot::find_medication(std::string_view id) const {
    if (id.empty()) return nullptr;
    std::size_t const indexed = medications_by_id.size();
    if (indexed > medications.size()) {
        // The index is stale (medications were removed): fall back to a full search.
        auto const it = std::find_if(medications.begin(), medications.end(),
                                     [&](medication const& m) { return m.id == id; });
        return it == medications.end() ? nullptr : &*it;
    }
    auto const it = std::lower_bound(medications_by_id.begin(), medications_by_id.end(), id,
                                     [&](std::size_t pos, std::string_view key) {
                                         return pos < medications.size() && medications[pos].id < key;
                                     });
    if (it != medications_by_id.end() && *it < medications.size() && medications[*it].id == id) {
        return &medications[*it];
    }
    for (std::size_t i = indexed; i < medications.size(); ++i) {
        if (medications[i].id == id) return &medications[i];
    }
    return nullptr;
}

void patient_snapshot::index_medications() {
    medications_by_id.resize(medications.size());
    for (std::size_t i = 0; i < medications.size(); ++i) medications_by_id[i] = i;
    std::stable_sort(medications_by_id.begin(), medications_by_id.end(),
                     [&](std::size_t a, std::size_t b) { return medications[a].id < medications[b].id; });
}

std::size_t snapshot_builder::add(value const& resource_or_bundle, std::string const& path) {
    return add_value(resource_or_bundle, json_path{path}, 0);
}

std::size_t snapshot_builder::add_value(value const& v, json_path const& root, int bundle_depth) {
    if (v.is_null()) return 0;
    auto const* o = v.if_object();
    if (o == nullptr) {
        detail::report_wrong_type(snapshot_.issues, root, "a FHIR resource or Bundle object", v);
        return 0;
    }
    auto const type = string_of(*o, "resourceType");
    if (!type) {
        detail::add_issue(snapshot_.issues, issue_severity::error, root,
                          detail::is_present(*o, "resourceType") ? "resourceType is not a string; resource skipped"
                                                      : "resource without resourceType; skipped");
        return 0;
    }
    if (*type != "Bundle") {
        std::size_t const before = taken_;
        add_resource(*o, root);
        return taken_ - before;
    }
    if (bundle_depth >= max_bundle_depth) {
        detail::add_issue(snapshot_.issues, issue_severity::error, root, "Bundle nested too deeply; skipped");
        return 0;
    }
    auto const* entries = detail::present(*o, "entry");
    if (entries == nullptr) return 0;
    std::size_t taken = 0;
    detail::for_each_item(*entries, root.member("entry"), [&](value const& item, json_path const& entry_path) {
        auto const* entry = item.if_object();
        if (entry == nullptr) {
            detail::report_wrong_type(snapshot_.issues, entry_path, "a Bundle.entry object", item);
            return;
        }
        // search.mode "outcome" entries are OperationOutcomes about the search, not data.
        if (is_outcome_entry(*entry)) return;
        auto const* resource = detail::present(*entry, "resource");
        if (resource == nullptr || resource->is_null()) return;
        taken += add_value(*resource, entry_path.member("resource"), bundle_depth + 1);
    });
    return taken;
}

void snapshot_builder::add_resource(object const& resource, json_path const& root) {
    auto const type = string_of(resource, "resourceType").value_or(std::string_view{});
    bool const known = type == "Patient" || type == "Observation" || type == "Medication" ||
                       type == "MedicationRequest" || type == "MedicationOrder" ||
                       type == "MedicationStatement" || type == "Condition";
    if (!known) return;  // OperationOutcome and types the rules do not read

    // Count each resource once (clinical-rules.md §1): the first copy of "Type/id" wins.
    std::string key;
    if (auto const id = string_of(resource, "id"); id && !id->empty()) {
        key.reserve(type.size() + 1 + id->size());
        key.append(type).append(1, '/').append(*id);
        if (seen_.contains(key)) return;
    }

    auto& issues = snapshot_.issues;
    bool taken = false;
    if (type == "Observation") {
        if (auto obs = detail::read_observation(resource, root, issues)) {
            snapshot_.observations.push_back(std::move(*obs));
            taken = true;
        }
    } else if (type == "Medication") {
        if (auto med = detail::read_medication(resource, root, issues)) {
            snapshot_.medications.push_back(std::move(*med));
            taken = true;
        }
    } else if (type == "Condition") {
        if (auto c = detail::read_condition(resource, root, issues)) {
            snapshot_.conditions.push_back(std::move(*c));
            taken = true;
        }
    } else if (type == "Patient") {
        if (auto p = detail::read_patient(resource, root, issues)) {
            if (!snapshot_.patient_record) {
                snapshot_.patient_record = std::move(*p);
                taken = true;
            } else {
                detail::add_issue(issues, issue_severity::warning, root,
                                  "more than one Patient in the request; the first one is used");
            }
        }
    } else {
        if (auto order = detail::read_medication_order(resource, root, issues)) {
            snapshot_.medication_orders.push_back(std::move(*order));
            taken = true;
        }
    }
    if (!taken) return;
    ++taken_;
    if (!key.empty()) seen_.insert(std::move(key));
}

patient_snapshot snapshot_builder::build() && {
    snapshot_.index_medications();
    for (auto& order : snapshot_.medication_orders) resolve_medication(order, snapshot_, snapshot_.issues);
    seen_.clear();
    return std::move(snapshot_);
}

void resolve_medication(medication_order& order, patient_snapshot const& snapshot, issue_list& issues) {
    order.resolved_code = {};
    order.resolved_form = {};
    order.resolved_ingredients.clear();
    order.medication_known = false;

    if (order.medication_concept && !order.medication_concept->empty()) {
        order.resolved_code = *order.medication_concept;
        order.medication_known = true;
        return;
    }
    if (!order.medication_reference) return;  // a bare draft: no medication chosen yet
    reference const& ref = *order.medication_reference;

    medication const* found = nullptr;
    if (ref.kind == reference_kind::contained) {
        auto const it = std::find_if(order.contained_medications.begin(), order.contained_medications.end(),
                                     [&](medication const& m) { return m.id == ref.id; });
        if (it != order.contained_medications.end()) found = &*it;
    } else if (ref.kind == reference_kind::relative && ref.type == "Medication") {
        found = snapshot.find_medication(ref.id);
    }

    if (found != nullptr) {
        copy_medication(order, *found);
        // The reference's display names the drug when the Medication itself has no text
        // (useful for text matching when codes are missing).
        if (order.resolved_code.text.empty()) order.resolved_code.text = ref.display;
        order.medication_known = !order.resolved_code.empty() || !order.resolved_ingredients.empty();
        return;
    }

    if (ref.kind != reference_kind::none || !ref.reference.empty()) {
        std::string message = "medicationReference '";
        message += ref.reference;
        message += ref.kind == reference_kind::contained
                       ? "' not found among the contained resources"
                       : "' could not be resolved: no such Medication in the request's data";
        if (!ref.display.empty()) message += "; its display text is used";
        issues.push_back(issue{issue_severity::warning, order.source_path + ".medicationReference", std::move(message)});
    }
    if (!ref.display.empty()) {
        // Display text still names the drug; the rules may match it by ingredient name.
        order.resolved_code.text = ref.display;
        order.medication_known = true;
    }
}

}  // namespace cds::fhir
