#pragma once
// The patient snapshot: every resource the request carried (prefetch, fetched data, context
// draft orders), typed, deduplicated by (resourceType, id), and classified by its own
// resourceType — never by the prefetch key it arrived under (CLINICAL-BASIS.md §1). A builder
// may be told to leave out the Observations its caller's rules do not read
// (snapshot_builder::keep_observations_if).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>  // kept for includers that rely on it
#include <vector>

#include <boost/json/fwd.hpp>

#include "cds/fhir/resources.hpp"

namespace cds::fhir {

class tape_node;  // json_tape.hpp

namespace detail {
class json_path;  // fhir/src/json_read.hpp: an element path rendered only when needed
template <class Value>
struct json_object_of;  // json_read.hpp: the object type of a JSON value type
}  // namespace detail

struct patient_snapshot {
    // Member-wise (C++20 defaulted): what the equivalence of the two request readers is checked by.
    friend bool operator==(patient_snapshot const&, patient_snapshot const&) = default;

    std::optional<patient> patient_record;
    std::vector<observation> observations;
    std::vector<medication_order> medication_orders;  // MedicationRequest/Statement from the record
    std::vector<medication> medications;              // standalone Medication resources
    std::vector<condition> conditions;
    std::vector<service_request> service_requests;  // laboratory and other orders in the record
    issue_list issues;

    // Positions in `medications` ordered by id, so that find_medication() is O(log n)
    // (one lookup per order keeps snapshot building linearithmic even for hostile input).
    // Built by index_medications() (snapshot_builder::build() calls it); medications appended
    // later are still found, by a linear search of the part that is not indexed.
    std::vector<std::size_t> medications_by_id;
    // Positions in `medications` of those with a full_url, ordered by it (built with
    // medications_by_id; later additions are searched linearly like there).
    std::vector<std::size_t> medications_by_full_url;

    [[nodiscard]] medication const* find_medication(std::string_view id) const;
    // The Medication whose Bundle entry fullUrl is exactly `full_url` ("urn:uuid:...",
    // "https://ehr/fhir/Medication/123"); nullptr when none (or `full_url` is empty).
    [[nodiscard]] medication const* find_medication_by_full_url(std::string_view full_url) const;
    // (Re)builds medications_by_id and medications_by_full_url; call after changing
    // `medications` other than by appending.
    void index_medications();
};

// Which Observations a snapshot keeps, decided on the Observation's `code` alone: the
// caller's rules classify results by their code (CLINICAL-BASIS.md §1) and pass over every
// one they do not classify, so such a result need not be read past its code.
using observation_code_filter = std::function<bool(codeable_concept const&)>;

class snapshot_builder {
public:
    // Observations whose code `keep` refuses are left out as soon as their code is read: not
    // in the snapshot, and nothing read of them after the code (no issue about the rest).
    // They still count for de-duplication: a later resource of the same type and id is
    // dropped, as it would be after a kept one. Set before the first add; empty keeps all.
    void keep_observations_if(observation_code_filter keep) { keep_observation_ = std::move(keep); }
    // That filter, or nullptr when every Observation is kept.
    [[nodiscard]] observation_code_filter const* observation_filter() const {
        return keep_observation_ ? &keep_observation_ : nullptr;
    }

    // Adds a resource or a Bundle (searchset, collection, ...) found at `path`. Bundle entries
    // with search.mode "outcome" and OperationOutcome resources are not patient data and are
    // skipped (the service decides what an OperationOutcome prefetch value means). Resources
    // of other types are ignored silently. Returns the number of resources taken (an
    // Observation left out by keep_observations_if is not taken).
    std::size_t add(boost::json::value const& resource_or_bundle, std::string const& path);
    // The same for a resource taken out of a Bundle entry by the caller (e.g. one draft order
    // entry of context.draftOrders): `full_url` is that entry's fullUrl, so that references
    // naming it ("urn:uuid:...") resolve. For a Bundle, each entry's own fullUrl is used.
    std::size_t add(boost::json::value const& resource_or_bundle,
                    std::string const& path,
                    std::string_view full_url);

    // One entry of a Bundle that sits at `bundle_path` at the top of the request (a prefetch
    // value), read exactly as add() reads that Bundle's entry[index]: for a reader that meets
    // the entries one at a time and never holds the whole Bundle.
    std::size_t add_bundle_entry(boost::json::value const& entry,
                                 std::string const& bundle_path,
                                 std::size_t index);
    // The same for an entry laid out as a tape (json_tape.hpp) by a streaming reader. The
    // tape must not repeat a member name (tape_builder::has_repeated_member): the readers
    // take the first of a name where a tree keeps the last.
    std::size_t add_bundle_entry(tape_node const& entry,
                                 std::string const& bundle_path,
                                 std::size_t index);
    // The same for an entry holding an Observation that the caller reads straight from the
    // entry's text (observation_text.hpp), without an issue: it reads into the new
    // Observation start_observation() gives, then either finishes it (`kept`: what
    // observation_filter() said of its code) or drops it (it could not read the entry).
    observation& start_observation() { return snapshot_.observations.emplace_back(); }
    void finish_observation(bool kept);
    void drop_observation() { snapshot_.observations.pop_back(); }
    // The same for a MedicationRequest read straight from the text of entry `index` of the
    // Bundle at `bundle_path` (medication_request_text.hpp).
    medication_order& start_medication_order() {
        return snapshot_.medication_orders.emplace_back();
    }
    void finish_medication_order(std::string const& bundle_path, std::size_t index);
    void drop_medication_order() { snapshot_.medication_orders.pop_back(); }
    // The same for the Bundle's whole `entry` member when it is not an array (a single
    // object sent instead, or a value of the wrong type).
    std::size_t add_bundle_entries(boost::json::value const& entries,
                                   std::string const& bundle_path);

    // Resolves medicationReference of every order and returns the snapshot.
    [[nodiscard]] patient_snapshot build() &&;

private:
    // Paths stay unrendered chains here: rendered only for an issue, and once for each order
    // (medication_order::source_path).
    // `bundle_entry`: the Bundle entry the resource is in (its fullUrl is read only for the
    // resources that keep one, Medications); without an entry, `full_url` is the caller's.
    // Each reads a Boost.JSON tree or a tape alike (json_read.hpp).
    template <class Object>
    void add_resource(Object const& resource,
                      detail::json_path const& path,
                      Object const* bundle_entry,
                      std::string_view full_url);
    template <class Value>
    std::size_t add_value(Value const& v,
                          detail::json_path const& path,
                          int bundle_depth,
                          typename detail::json_object_of<Value>::type const* bundle_entry,
                          std::string_view full_url);
    template <class Value>
    std::size_t add_entries(Value const& entries, detail::json_path const& path, int bundle_depth);
    template <class Value>
    std::size_t add_entry(Value const& item, detail::json_path const& entry_path, int bundle_depth);
    // De-duplication by (resourceType, id) without building a "Type/id" string per resource:
    // an open-addressing table of where each taken resource with an id sits in snapshot_; on
    // a hash match the resource's own type and id strings there are compared.
    enum class resource_list : std::uint8_t {
        none,
        patient,
        observations,
        medications,
        medication_orders,
        conditions,
        service_requests,
        left_out_observations  // ids in left_out_observation_ids_
    };
    struct taken_slot {
        std::size_t hash = 0;
        std::uint32_t position = 0;                // index in the list (0 for the patient)
        resource_list list = resource_list::none;  // none: an empty slot
    };
    [[nodiscard]] bool is_taken(std::string_view type, std::string_view id, std::size_t hash) const;
    // Count each resource once (CLINICAL-BASIS.md §1): true when a resource of this type and
    // (non-empty) id was taken before, so this copy is not. Sets `id_hash` for
    // remember_taken (0 when there is no id).
    [[nodiscard]] bool is_later_copy(std::string_view type,
                                     std::string_view id,
                                     std::size_t& id_hash) const;
    [[nodiscard]] bool slot_holds(taken_slot const& slot,
                                  std::string_view type,
                                  std::string_view id) const;
    void remember_taken(resource_list list, std::size_t hash);
    void place_slot(taken_slot const& slot);
    // An Observation of add_resource, read in place; one the filter refuses is remembered
    // (when it has an id) for de-duplication. Returns the list it went into, or none.
    template <class Object>
    resource_list add_observation(Object const& resource,
                                  detail::json_path const& root,
                                  std::string_view id,
                                  std::size_t id_hash);
    // An Observation the filter refused: its id still counts for de-duplication.
    void leave_out_observation(std::string id, std::size_t id_hash);

    patient_snapshot snapshot_;
    observation_code_filter keep_observation_;
    std::vector<std::string> left_out_observation_ids_;  // of those with an id
    std::size_t taken_ = 0;                // resources taken by add_resource, for add()'s result
    std::vector<taken_slot> taken_slots_;  // size 0 or a power of two, at most half full
    std::size_t taken_with_id_ = 0;        // used slots
};

// Fills order.resolved_* from medicationCodeableConcept, or from the referenced Medication:
// contained ("#id"); a "urn:uuid:"/"urn:oid:" reference by the fullUrl of the Bundle entry
// the Medication came in (FHIR R4 Bundle, "Resolving references in Bundles"); an absolute
// URL by fullUrl first, then like a relative one; relative "Medication/id" by id among
// snapshot.medications. Adds a warning issue when a reference cannot be
// resolved; its display text, if any, then stands for the medication (resolved_code.text).
// A resolved Medication without code text takes the reference's display as text. Used for
// record orders and for draft orders from the hook context.
//
// Each resolved order gets its own copy of the Medication's code, form and ingredients, so
// the codings copied are bounded per snapshot (`codings_left`, counted down): one Medication
// of a few thousand codings named by thousands of orders would otherwise copy it thousands of
// times (a 250 KB request reached 200 MB). An order past the bound stays unresolved, with a
// warning, as if its Medication were missing. The three-argument form gives the order a
// bound of its own.
inline constexpr std::size_t max_resolved_codings = 16384;
void resolve_medication(medication_order& order,
                        patient_snapshot const& snapshot,
                        issue_list& issues,
                        std::size_t& codings_left);
inline void resolve_medication(medication_order& order,
                               patient_snapshot const& snapshot,
                               issue_list& issues) {
    std::size_t codings_left = max_resolved_codings;
    resolve_medication(order, snapshot, issues, codings_left);
}

}  // namespace cds::fhir
