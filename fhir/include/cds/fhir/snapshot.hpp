#pragma once
// The patient snapshot: every resource the request carried (prefetch, fetched data, context
// draft orders), typed, deduplicated by (resourceType, id), and classified by its own
// resourceType — never by the prefetch key it arrived under (clinical-rules.md §1).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <boost/json/fwd.hpp>

#include "cds/fhir/resources.hpp"

namespace cds::fhir {

namespace detail {
class json_path;  // fhir/src/json_read.hpp: an element path rendered only when needed
}

struct patient_snapshot {
    std::optional<patient> patient_record;
    std::vector<observation> observations;
    std::vector<medication_order> medication_orders;  // MedicationRequest/Statement from the record
    std::vector<medication> medications;              // standalone Medication resources
    std::vector<condition> conditions;
    issue_list issues;

    // Positions in `medications` ordered by id, so that find_medication() is O(log n)
    // (one lookup per order keeps snapshot building linearithmic even for hostile input).
    // Built by index_medications() (snapshot_builder::build() calls it); medications appended
    // later are still found, by a linear search of the part that is not indexed.
    std::vector<std::size_t> medications_by_id;

    [[nodiscard]] medication const* find_medication(std::string_view id) const;
    // (Re)builds medications_by_id; call after changing `medications` other than by appending.
    void index_medications();
};

class snapshot_builder {
public:
    // Adds a resource or a Bundle (searchset, collection, ...) found at `path`. Bundle entries
    // with search.mode "outcome" and OperationOutcome resources are not patient data and are
    // skipped (the service decides what an OperationOutcome prefetch value means). Resources
    // of other types are ignored silently. Returns the number of resources taken.
    std::size_t add(boost::json::value const& resource_or_bundle, std::string const& path);

    // Resolves medicationReference of every order and returns the snapshot.
    [[nodiscard]] patient_snapshot build() &&;

private:
    // Paths stay unrendered chains here: each resource renders its own once (source_path).
    void add_resource(boost::json::object const& resource, detail::json_path const& path);
    std::size_t add_value(boost::json::value const& v, detail::json_path const& path, int bundle_depth);
    patient_snapshot snapshot_;
    std::size_t taken_ = 0;  // resources taken by add_resource, for add()'s result
    std::unordered_set<std::string> seen_;  // "Type/id"
};

// Fills order.resolved_* from medicationCodeableConcept, or from the referenced Medication:
// contained ("#id"), or by id among snapshot.medications (relative "Medication/id", or
// absolute URL ending in Medication/id). Adds a warning issue when a reference cannot be
// resolved; its display text, if any, then stands for the medication (resolved_code.text).
// A resolved Medication without code text takes the reference's display as text. Used for
// record orders and for draft orders from the hook context.
void resolve_medication(medication_order& order, patient_snapshot const& snapshot, issue_list& issues);

}  // namespace cds::fhir
