#include "cds/fhir/json_tape.hpp"

#include <algorithm>

namespace cds::fhir {

namespace {

// Objects up to this size are checked for a repeated member pair by pair; larger ones (rare,
// and hostile when huge) by sorting their names.
constexpr std::size_t pairwise_check_max_members = 32;

}  // namespace

tape_node const* tape_node::if_contains(std::string_view key) const {
    tape_node const* found = nullptr;
    for (auto const member : members(*this)) {
        if (member.key() == key) found = &member.value();
    }
    return found;
}

void tape_builder::clear() {
    nodes_.clear();
    open_.clear();
    resource_count_ = 0;
    repeated_member_ = false;
    too_large_ = false;
}

// An object just closed: does it repeat a member, and is it a resource (its last resourceType
// member a string)?
void tape_builder::check_members(tape_node const& object) {
    if (too_large_) return;  // its spans are cut to 32 bits: not walked
    auto const range = members(object);
    if (object.tag() != 0) {
        tape_node const* type = nullptr;
        for (auto const member : range) {
            if (member.tag() == resource_type_tag && member.key() == "resourceType")
                type = &member.value();
        }
        if (type != nullptr && type->is_string()) ++resource_count_;
    }
    if (repeated_member_ || object.size() < 2) return;
    if (object.size() <= pairwise_check_max_members) {
        for (auto a = range.begin(); a != range.end(); ++a) {
            auto b = a;
            for (++b; b != range.end(); ++b) {
                if ((*a).tag() == (*b).tag() && (*a).key() == (*b).key()) {
                    repeated_member_ = true;
                    return;
                }
            }
        }
        return;
    }
    std::vector<std::string_view> names;
    names.reserve(object.size());
    for (auto const member : members(object)) names.push_back(member.key());
    std::sort(names.begin(), names.end());
    repeated_member_ = std::adjacent_find(names.begin(), names.end()) != names.end();
}

}  // namespace cds::fhir
