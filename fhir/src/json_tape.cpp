#include "cds/fhir/json_tape.hpp"

#include <algorithm>
#include <cstring>

#include "cds/fhir/json_text.hpp"

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

std::string_view copy_into(boost::json::memory_resource& store, std::string_view text) {
    if (text.empty()) return {};
    auto* const copy = static_cast<char*>(store.allocate(text.size(), 1));
    std::memcpy(copy, text.data(), text.size());
    return {copy, text.size()};
}

void tape_builder::release_memory() {
    std::vector<tape_node>{}.swap(nodes_);
    std::vector<open_container>{}.swap(open_);
    std::string{}.swap(unescaped_);
    clear();
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
void tape_builder::check_members(tape_node const& object, bool maybe_repeated) {
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
    if (repeated_member_ || !maybe_repeated) return;
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

std::string_view tape_builder::kept_string(std::string_view value,
                                           bool unescaped,
                                           boost::json::memory_resource& store) {
    return unescaped ? copy_into(store, value) : value;
}

// A member name and its colon, at `at`, counted in `object`; the value's whitespace skipped.
bool tape_builder::read_member_name(open_container& object,
                                    char const*& at,
                                    char const* end,
                                    boost::json::memory_resource& store) {
    std::string_view name;
    auto const kind = json_text::read_member_name(at, end, name, unescaped_);
    if (kind == json_text::string_kind::declined) return false;
    add_name(object, kept_string(name, kind == json_text::string_kind::unescaped, store));
    return true;
}

// A string, number or literal at `at`, as a node (its container counts it).
bool tape_builder::read_scalar(char const*& at,
                               char const* end,
                               boost::json::memory_resource& store) {
    switch (*at) {
        case '"': {
            ++at;
            std::string_view value;
            auto const kind = json_text::read_string(at, end, value, unescaped_);
            if (kind == json_text::string_kind::declined) return false;
            set_string(emit(boost::json::kind::string),
                       kept_string(value, kind == json_text::string_kind::unescaped, store));
            return true;
        }
        case 't':
            if (!json_text::read_literal(at, end, "true")) return false;
            emit(boost::json::kind::bool_).scalar_.boolean = true;
            return true;
        case 'f':
            if (!json_text::read_literal(at, end, "false")) return false;
            emit(boost::json::kind::bool_).scalar_.boolean = false;
            return true;
        case 'n':
            if (!json_text::read_literal(at, end, "null")) return false;
            (void)emit(boost::json::kind::null);
            return true;
        default:
            break;
    }
    auto const n = json_text::read_number(at, end);
    if (!n) return false;
    if (n->is_integer) {
        emit(boost::json::kind::int64).scalar_.signed_integer = n->integer;
    } else {
        emit(boost::json::kind::double_).scalar_.real = n->real;
    }
    return true;
}

// The innermost open container is `top` (the back of open_), kept in a register: counting an
// element and finding what closes a container need no look-up of open_'s end, as an event
// method needs for each value.
bool tape_builder::read_text(char const*& at,
                             char const* end,
                             std::size_t max_open,
                             boost::json::memory_resource& store) {
    clear();
    open_container* top = nullptr;
    std::size_t depth = 0;  // containers open: open_.size(), kept in a register
    char const* p = json_text::skip_whitespace(at, end);
    for (;;) {
        // A value starts at p.
        if (p == end) return false;
        if (top != nullptr && !top->object) ++top->count;
        char const c = *p;
        if (c == '{' || c == '[') {
            if (depth == max_open) return false;
            ++depth;
            bool const object = c == '{';
            top = &open_node(object ? boost::json::kind::object : boost::json::kind::array);
            p = json_text::skip_whitespace(p + 1, end);
            if (p == end) return false;
            if (*p != (object ? '}' : ']')) {
                if (object && !read_member_name(*top, p, end, store)) return false;
                continue;
            }
            ++p;
            --depth;
            top = close_container();
        } else if (!read_scalar(p, end, store)) {
            return false;
        }
        // After a value: the next member or element, or the end of containers.
        for (;;) {
            if (top == nullptr) {
                at = p;
                return true;
            }
            p = json_text::skip_whitespace(p, end);
            if (p == end) return false;
            bool const object = top->object;
            if (*p == ',') {
                p = json_text::skip_whitespace(p + 1, end);
                if (object && !read_member_name(*top, p, end, store)) return false;
                break;
            }
            if (*p != (object ? '}' : ']')) return false;
            ++p;
            --depth;
            top = close_container();
        }
    }
}

}  // namespace cds::fhir
