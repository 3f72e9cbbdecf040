#include "cds/fhir/snapshot.hpp"

#include <algorithm>
#include <functional>
#include <utility>

#include "cds/fhir/read_members.hpp"
#include "json_read.hpp"

namespace cds::fhir {

namespace {

using boost::json::object;
using boost::json::value;
using detail::json_path;

// A Bundle inside a Bundle entry is legal (e.g. a searchset of collections) but deeper
// nesting is not something a real server sends; bounding it bounds the recursion.
constexpr int max_bundle_depth = 4;

template <class Object>
std::optional<std::string_view> string_of(Object const& o, std::string_view key) {
    if (auto const* v = detail::present(o, key)) {
        if (auto const* s = v->if_string()) return detail::view(*s);
    }
    return std::nullopt;
}

template <class Object>
bool is_outcome_entry(Object const& entry) {
    auto const* search = detail::present(entry, "search");
    if (search == nullptr || !search->is_object()) return false;
    auto const mode = string_of(search->get_object(), "mode");
    return mode && *mode == "outcome";
}

// Hash of the pair (resourceType, id) for de-duplication; the two parts are hashed apart so
// that no separator can make two pairs collide by construction.
std::size_t type_and_id_hash(std::string_view type, std::string_view id) {
    std::size_t const h = std::hash<std::string_view>{}(id);
    return h ^ (std::hash<std::string_view>{}(type) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

// What copy_medication copies, in codings (a concept without any counts as one).
std::size_t coding_count(medication const& med) {
    auto const of = [](codeable_concept const& c) {
        return std::max<std::size_t>(1, c.codings.size());
    };
    std::size_t n = of(med.code) + of(med.form);
    for (auto const& i : med.ingredients) n += of(i);
    return n;
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
    auto const it =
        std::lower_bound(medications_by_id.begin(), medications_by_id.end(), id,
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

medication const* patient_snapshot::find_medication_by_full_url(std::string_view full_url) const {
    if (full_url.empty()) return nullptr;
    // Positions past the last indexed one were appended after indexing: searched linearly.
    std::size_t scan_from = 0;
    bool const stale = medications_by_id.size() > medications.size();  // medications were removed
    if (!stale) {
        auto const it =
            std::lower_bound(medications_by_full_url.begin(), medications_by_full_url.end(),
                             full_url, [&](std::size_t pos, std::string_view key) {
                                 return pos < medications.size() && medications[pos].full_url < key;
                             });
        if (it != medications_by_full_url.end() && *it < medications.size() &&
            medications[*it].full_url == full_url) {
            return &medications[*it];
        }
        scan_from = std::min(medications_by_id.size(), medications.size());
    }
    for (std::size_t i = scan_from; i < medications.size(); ++i) {
        if (medications[i].full_url == full_url) return &medications[i];
    }
    return nullptr;
}

void patient_snapshot::index_medications() {
    medications_by_id.resize(medications.size());
    for (std::size_t i = 0; i < medications.size(); ++i) medications_by_id[i] = i;
    std::stable_sort(
        medications_by_id.begin(), medications_by_id.end(),
        [&](std::size_t a, std::size_t b) { return medications[a].id < medications[b].id; });
    medications_by_full_url.clear();
    for (std::size_t i = 0; i < medications.size(); ++i) {
        if (!medications[i].full_url.empty()) medications_by_full_url.push_back(i);
    }
    std::stable_sort(medications_by_full_url.begin(), medications_by_full_url.end(),
                     [&](std::size_t a, std::size_t b) {
                         return medications[a].full_url < medications[b].full_url;
                     });
}

std::size_t snapshot_builder::add(value const& resource_or_bundle, std::string const& path) {
    return add_value(resource_or_bundle, json_path{path}, 0, nullptr, {});
}

std::size_t snapshot_builder::add(value const& resource_or_bundle,
                                  std::string const& path,
                                  std::string_view full_url) {
    return add_value(resource_or_bundle, json_path{path}, 0, nullptr, full_url);
}

template <class Value>
std::size_t snapshot_builder::add_value(
    Value const& v,
    json_path const& root,
    int bundle_depth,
    typename detail::json_object_of<Value>::type const* bundle_entry,
    std::string_view full_url) {
    if (v.is_null()) return 0;
    auto const* o = v.if_object();
    if (o == nullptr) {
        detail::report_wrong_type(snapshot_.issues, root, "a FHIR resource or Bundle object", v);
        return 0;
    }
    auto const type = string_of(*o, "resourceType");
    if (!type) {
        detail::add_issue(snapshot_.issues, issue_severity::error, root,
                          detail::is_present(*o, "resourceType")
                              ? "resourceType is not a string; resource skipped"
                              : "resource without resourceType; skipped");
        return 0;
    }
    if (*type != "Bundle") {
        std::size_t const before = taken_;
        add_resource(*o, root, bundle_entry, full_url);
        return taken_ - before;
    }
    if (bundle_depth >= max_bundle_depth) {
        detail::add_issue(snapshot_.issues, issue_severity::error, root,
                          "Bundle nested too deeply; skipped");
        return 0;
    }
    auto const* entries = detail::present(*o, "entry");
    if (entries == nullptr) return 0;
    return add_entries(*entries, root.member("entry"), bundle_depth);
}

template <class Value>
std::size_t snapshot_builder::add_entries(Value const& entries,
                                          json_path const& path,
                                          int bundle_depth) {
    std::size_t taken = 0;
    detail::for_each_item(entries, path, [&](auto const& item, json_path const& entry_path) {
        taken += add_entry(item, entry_path, bundle_depth);
    });
    return taken;
}

template <class Value>
std::size_t snapshot_builder::add_entry(Value const& item,
                                        json_path const& entry_path,
                                        int bundle_depth) {
    auto const* entry = item.if_object();
    if (entry == nullptr) {
        detail::report_wrong_type(snapshot_.issues, entry_path, "a Bundle.entry object", item);
        return 0;
    }
    // search.mode "outcome" entries are OperationOutcomes about the search, not data.
    if (is_outcome_entry(*entry)) return 0;
    auto const* resource = detail::present(*entry, "resource");
    if (resource == nullptr || resource->is_null()) return 0;
    return add_value(*resource, entry_path.member("resource"), bundle_depth + 1, entry, {});
}

std::size_t snapshot_builder::add_bundle_entry(value const& entry,
                                               std::string const& bundle_path,
                                               std::size_t index) {
    json_path const bundle{bundle_path};
    return add_entry(entry, bundle.member("entry").index(index), 0);
}

std::size_t snapshot_builder::add_bundle_entry(tape_node const& entry,
                                               std::string const& bundle_path,
                                               std::size_t index) {
    json_path const bundle{bundle_path};
    return add_entry(entry, bundle.member("entry").index(index), 0);
}

std::size_t snapshot_builder::add_bundle_entries(value const& entries,
                                                 std::string const& bundle_path) {
    if (entries.is_null()) return 0;
    json_path const bundle{bundle_path};
    return add_entries(entries, bundle.member("entry"), 0);
}

template <class Object>
void snapshot_builder::add_resource(Object const& resource,
                                    json_path const& root,
                                    Object const* bundle_entry,
                                    std::string_view full_url) {
    auto const type = string_of(resource, "resourceType").value_or(std::string_view{});
    // OperationOutcome and the types the rules do not read are left out.
    if (!is_snapshot_resource_type(type)) return;

    std::string_view const id = string_of(resource, "id").value_or(std::string_view{});
    std::size_t id_hash = 0;
    if (is_later_copy(type, id, id_hash)) return;

    auto& issues = snapshot_.issues;
    resource_list list = resource_list::none;
    if (type == "Observation") {
        list = add_observation(resource, root, id, id_hash);
    } else if (type == "Medication") {
        if (auto med = detail::read_medication(resource, root, issues)) {
            // The entry's fullUrl names it for references inside the Bundle (urn:uuid); a
            // non-string one is not usable and is ignored (the Medication itself still counts).
            if (bundle_entry != nullptr)
                full_url = string_of(*bundle_entry, "fullUrl").value_or(std::string_view{});
            med->full_url.assign(full_url.data(), full_url.size());
            snapshot_.medications.push_back(std::move(*med));
            list = resource_list::medications;
        }
    } else if (type == "Condition") {
        if (auto c = detail::read_condition(resource, root, issues)) {
            snapshot_.conditions.push_back(std::move(*c));
            list = resource_list::conditions;
        }
    } else if (type == "ServiceRequest") {
        if (auto r = detail::read_service_request(resource, root, issues)) {
            snapshot_.service_requests.push_back(std::move(*r));
            list = resource_list::service_requests;
        }
    } else if (type == "Patient") {
        if (auto p = detail::read_patient(resource, root, issues)) {
            if (!snapshot_.patient_record) {
                snapshot_.patient_record = std::move(*p);
                list = resource_list::patient;
            } else {
                detail::add_issue(issues, issue_severity::warning, root,
                                  "more than one Patient in the request; the first one is used");
            }
        }
    } else {
        auto& orders = snapshot_.medication_orders;
        if (detail::read_medication_order(orders.emplace_back(), resource, root, issues)) {
            list = resource_list::medication_orders;
        } else {
            orders.pop_back();
        }
    }
    if (list == resource_list::none) return;
    ++taken_;
    if (!id.empty()) remember_taken(list, id_hash);
}

template <class Object>
snapshot_builder::resource_list snapshot_builder::add_observation(Object const& resource,
                                                                  json_path const& root,
                                                                  std::string_view id,
                                                                  std::size_t id_hash) {
    bool refused = false;
    auto& observations = snapshot_.observations;
    if (detail::read_observation(observations.emplace_back(), resource, root, snapshot_.issues,
                                 observation_filter(), &refused)) {
        return resource_list::observations;
    }
    observations.pop_back();
    if (refused && !id.empty()) leave_out_observation(std::string{id}, id_hash);
    return resource_list::none;
}

void snapshot_builder::leave_out_observation(std::string id, std::size_t id_hash) {
    left_out_observation_ids_.push_back(std::move(id));
    remember_taken(resource_list::left_out_observations, id_hash);
}

void snapshot_builder::finish_observation(bool kept) {
    // add_resource's de-duplication, then add_observation's two outcomes.
    auto& observations = snapshot_.observations;
    std::string& id = observations.back().id;
    std::size_t id_hash = 0;
    if (is_later_copy("Observation", id, id_hash)) {
        observations.pop_back();
        return;
    }
    bool const has_id = !id.empty();
    if (!kept) {
        if (has_id) leave_out_observation(std::move(id), id_hash);
        observations.pop_back();
        return;
    }
    ++taken_;
    if (has_id) remember_taken(resource_list::observations, id_hash);
}

void snapshot_builder::finish_medication_order(std::string const& bundle_path, std::size_t index) {
    // add_resource's de-duplication, then read_medication_order's path.
    auto& orders = snapshot_.medication_orders;
    auto& order = orders.back();
    std::size_t id_hash = 0;
    if (is_later_copy(order.resource_type, order.id, id_hash)) {
        orders.pop_back();
        return;
    }
    order.source_path =
        json_path{bundle_path}.member("entry").index(index).member("resource").str();
    ++taken_;
    if (!order.id.empty()) remember_taken(resource_list::medication_orders, id_hash);
}

bool snapshot_builder::slot_holds(taken_slot const& slot,
                                  std::string_view type,
                                  std::string_view id) const {
    auto const& s = snapshot_;
    switch (slot.list) {
        case resource_list::none:
            return false;
        case resource_list::patient:
            return type == "Patient" && s.patient_record->id == id;
        case resource_list::observations:
            return type == "Observation" && s.observations[slot.position].id == id;
        case resource_list::medications:
            return type == "Medication" && s.medications[slot.position].id == id;
        case resource_list::conditions:
            return type == "Condition" && s.conditions[slot.position].id == id;
        case resource_list::service_requests:
            return type == "ServiceRequest" && s.service_requests[slot.position].id == id;
        case resource_list::medication_orders: {
            auto const& order = s.medication_orders[slot.position];
            return order.resource_type == type && order.id == id;
        }
        case resource_list::left_out_observations:
            return type == "Observation" && left_out_observation_ids_[slot.position] == id;
    }
    return false;
}

bool snapshot_builder::is_later_copy(std::string_view type,
                                     std::string_view id,
                                     std::size_t& id_hash) const {
    id_hash = 0;
    if (id.empty()) return false;
    id_hash = type_and_id_hash(type, id);
    return is_taken(type, id, id_hash);
}

bool snapshot_builder::is_taken(std::string_view type,
                                std::string_view id,
                                std::size_t hash) const {
    if (taken_slots_.empty()) return false;
    std::size_t const mask = taken_slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
        auto const& slot = taken_slots_[i];
        if (slot.list == resource_list::none) return false;
        if (slot.hash == hash && slot_holds(slot, type, id)) return true;
    }
}

void snapshot_builder::remember_taken(resource_list list, std::size_t hash) {
    // Grow at half full, so that probe sequences stay short and always end at an empty slot.
    if (2 * (taken_with_id_ + 1) > taken_slots_.size()) {
        std::vector<taken_slot> old(std::max<std::size_t>(64, 2 * taken_slots_.size()));
        old.swap(taken_slots_);
        taken_with_id_ = 0;
        for (auto const& slot : old) {
            if (slot.list != resource_list::none) place_slot(slot);
        }
    }
    auto const position = [&]() -> std::size_t {
        switch (list) {
            case resource_list::observations:
                return snapshot_.observations.size() - 1;
            case resource_list::medications:
                return snapshot_.medications.size() - 1;
            case resource_list::conditions:
                return snapshot_.conditions.size() - 1;
            case resource_list::service_requests:
                return snapshot_.service_requests.size() - 1;
            case resource_list::medication_orders:
                return snapshot_.medication_orders.size() - 1;
            case resource_list::left_out_observations:
                return left_out_observation_ids_.size() - 1;
            case resource_list::patient:
            case resource_list::none:
                break;
        }
        return 0;
    }();
    place_slot(taken_slot{hash, static_cast<std::uint32_t>(position), list});
}

void snapshot_builder::place_slot(taken_slot const& slot) {
    std::size_t const mask = taken_slots_.size() - 1;
    std::size_t i = slot.hash & mask;
    while (taken_slots_[i].list != resource_list::none) i = (i + 1) & mask;
    taken_slots_[i] = slot;
    ++taken_with_id_;
}

patient_snapshot snapshot_builder::build() && {
    snapshot_.index_medications();
    std::size_t codings_left = max_resolved_codings;
    for (auto& order : snapshot_.medication_orders)
        resolve_medication(order, snapshot_, snapshot_.issues, codings_left);
    taken_slots_.clear();
    taken_with_id_ = 0;
    left_out_observation_ids_.clear();
    return std::move(snapshot_);
}

void resolve_medication(medication_order& order,
                        patient_snapshot const& snapshot,
                        issue_list& issues,
                        std::size_t& codings_left) {
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
        auto const it =
            std::find_if(order.contained_medications.begin(), order.contained_medications.end(),
                         [&](medication const& m) { return m.id == ref.id; });
        if (it != order.contained_medications.end()) found = &*it;
    } else if (ref.kind == reference_kind::urn) {
        // urn:uuid / urn:oid identify a Bundle entry by its fullUrl, nothing else.
        found = snapshot.find_medication_by_full_url(ref.reference);
    } else if (ref.kind == reference_kind::relative && ref.type == "Medication") {
        // An absolute URL names an entry's fullUrl exactly; failing that (another base, a
        // version suffix, no fullUrl) it is matched by type and id like a relative one.
        if (ref.reference.find("://") != std::string::npos)
            found = snapshot.find_medication_by_full_url(ref.reference);
        if (found == nullptr) found = snapshot.find_medication(ref.id);
    }

    bool over_bound = false;
    if (found != nullptr) {
        std::size_t const codings = coding_count(*found);
        over_bound = codings > codings_left;
        if (over_bound)
            found = nullptr;
        else
            codings_left -= codings;
    }
    if (found != nullptr) {
        copy_medication(order, *found);
        // The reference's display names the drug when the Medication itself has no text
        // (useful for text matching when codes are missing).
        if (order.resolved_code.text.empty()) order.resolved_code.text = ref.display;
        order.medication_known =
            !order.resolved_code.empty() || !order.resolved_ingredients.empty();
        return;
    }

    if (ref.kind != reference_kind::none || !ref.reference.empty()) {
        std::string message = "medicationReference '";
        message += ref.reference;
        message += over_bound ? "' not resolved: the Medications this request's orders name "
                                "hold more than " +
                                    std::to_string(max_resolved_codings) + " codings in all"
                   : ref.kind == reference_kind::contained
                       ? "' not found among the contained resources"
                       : "' could not be resolved: no such Medication in the request's data";
        if (!ref.display.empty()) message += "; its display text is used";
        issues.push_back(issue{issue_severity::warning, order.source_path + ".medicationReference",
                               std::move(message)});
    }
    if (!ref.display.empty()) {
        // Display text still names the drug; the rules may match it by ingredient name.
        order.resolved_code.text = ref.display;
        order.medication_known = true;
    }
}

}  // namespace cds::fhir
