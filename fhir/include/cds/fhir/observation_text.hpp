#pragma once
// A Bundle entry that holds an Observation, read from its JSON text straight into the typed
// observation: no tape, no tree. Lab results are most of what a large request carries (an
// order-sign prefetch of 500 results is four fifths Observations), and for them writing a
// tape and then reading it back cost more than the rest of the call.
//
// The reader takes only the entries it reads exactly as snapshot_builder::add_bundle_entry
// reads the same entry's tape: the same observation, field for field, and no issue. It
// declines every other entry, leaving it untouched for the caller's general path, which then
// gives the answer (issues included). It declines:
//  - text outside the json_text.hpp subset, or nesting past `max_open` open containers (the
//    tape path declines those too);
//  - an entry that is not an object with one `resource` object of resourceType Observation
//    (written as its first member: nothing is kept before the type is known), or whose
//    search.mode is "outcome";
//  - any value of a member read_observation reads that would raise an issue there (a wrong
//    JSON type, an unreadable date, a dateTime without an offset, a non-finite number);
//  - a Quantity comparator, Observation.component, and a member name repeated where a
//    member is read (the general path reads such an entry as a tree, which keeps the last);
//  - more than eight value[x] names besides valueQuantity and valueCodeableConcept (so that
//    looking for a repeated one stays a short search);
//  - an array of more than 64 elements where one is read (the general path reads the
//    first 64 and reports the rest).
// Members no reader looks at are read only as JSON: validated, and counted where they hold
// resources (the request's resource limit). So is every member but id and status after the
// code of an Observation the code filter refuses, as read_observation reads no more of it.

#include <cstddef>
#include <optional>

#include "cds/fhir/resources.hpp"
#include "cds/fhir/snapshot.hpp"

namespace cds::fhir {

// What read_observation_entry found besides the Observation itself.
struct observation_entry {
    bool kept = true;  // false: the code filter refused it
    // Objects in the entry whose last resourceType member is a string, as
    // tape_builder::resource_count counts them.
    std::size_t resource_count = 0;
};

// The entry whose '{' is at `at` (after any whitespace), read into `out` (a default
// observation: snapshot_builder::start_observation) as read_observation fills it. On success
// `at` is just past its closing brace; nullopt leaves `at` where it was and `out` partly
// read. `keep` (null: keep all) is the snapshot builder's observation filter
// (snapshot_builder::observation_filter), asked at most once per call: also for an entry then
// declined (the tape path asks again) or dropped as a duplicate; it is a function of the code.
[[nodiscard]] std::optional<observation_entry> read_observation_entry(
    char const*& at,
    char const* end,
    std::size_t max_open,
    observation_code_filter const* keep,
    observation& out);

}  // namespace cds::fhir
