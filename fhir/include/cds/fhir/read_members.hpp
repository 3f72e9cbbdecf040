#pragma once
// What the typed readers (resources.hpp) read of a resource, at its top level: the one-pass
// request reader keeps these members of a resource that is a prefetch value of its own (a
// Patient, say) and skips every other one without building it, so the list must name every
// member a reader looks at (the equivalence test over all fixtures fails when it does not).
// Bundle entries are laid out whole as tapes (json_tape.hpp) and need no list.

#include <string_view>

namespace cds::fhir {

// The resource types the snapshot takes (snapshot_builder::add); other types are ignored.
[[nodiscard]] bool is_snapshot_resource_type(std::string_view resource_type);
// The same type name in static storage (so a reader may keep it), or empty for another type.
[[nodiscard]] std::string_view snapshot_resource_type(std::string_view resource_type);

// True when the reader of `resource_type` reads the top-level member `member`. For a type the
// snapshot does not take, only resourceType and id are read.
[[nodiscard]] bool is_read_member(std::string_view resource_type, std::string_view member);

}  // namespace cds::fhir
