#pragma once
// A Bundle entry that holds a MedicationRequest, read from its JSON text straight into the
// typed medication_order: no tape, no tree. After lab results, medication orders are what a
// prefetch carries most of, and their dosages are the deepest part of it.
//
// As for Observations (observation_text.hpp), the reader takes only the entries it reads
// exactly as snapshot_builder::add_bundle_entry reads the same entry's tape: the same order,
// field for field, and no issue. It declines every other entry, leaving it untouched for the
// caller's general path, which then gives the answer (issues included). It declines:
//  - text outside the json_text.hpp subset, or nesting past `max_open` open containers;
//  - an entry that is not an object with one `resource` object of resourceType
//    MedicationRequest, written as its first member (nothing is kept before the type is
//    known; DSTU2 MedicationOrder and MedicationStatement are left to the general path), or
//    whose search.mode is "outcome";
//  - any value of a member read_medication_order reads that would raise an issue there (a
//    wrong JSON type, an unreadable date, a dateTime without an offset, a non-finite number);
//  - a Quantity comparator (the general path reads and reports those);
//  - a member name repeated where a member is read (the general path reads such an entry as
//    a tree, which keeps the last);
//  - the members that only stand in for others, or that hold other resources: `contained`,
//    R5's `medication`, DSTU2's `patient` and `reasonCodeableConcept` (unless null);
//  - an array of more than 64 elements where one is read (the general path reads the
//    first 64 and reports the rest).
// Where the general path reads one member only when another is missing (a dosage's own
// doseQuantity after its doseAndRate, periodUnits after periodUnit), this reads both and
// keeps what that path would keep. Members no reader looks at are read only as JSON:
// validated, and counted where they hold resources (the request's resource limit).

#include <cstddef>
#include <optional>

#include "cds/fhir/resources.hpp"

namespace cds::fhir {

// What read_medication_request_entry found besides the order itself.
struct medication_request_entry {
    // Objects in the entry whose last resourceType member is a string, as
    // tape_builder::resource_count counts them.
    std::size_t resource_count = 0;
};

// The entry whose '{' is at `at` (after any whitespace), read into `out` (a default
// medication_order: snapshot_builder::start_medication_order) as read_medication_order fills
// it, but for source_path, which snapshot_builder::finish_medication_order sets. On success
// `at` is just past its closing brace; nullopt leaves `at` where it was and `out` partly read.
[[nodiscard]] std::optional<medication_request_entry> read_medication_request_entry(
    char const*& at, char const* end, std::size_t max_open, medication_order& out);

}  // namespace cds::fhir
