#pragma once
// What the readers of Bundle entries straight from their text share (observation_text.hpp,
// medication_request_text.hpp): JSON read as tape_builder::read_text reads it, and the FHIR
// data types read as the tape path's member readers (json_read.hpp) read them. Every member
// function returns false to decline, wherever the text then stands: on anything those readers
// would read differently or report as an issue. The caller then gives the entry to the tape
// path, which has the last word.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cds/fhir/date_time.hpp"
#include "cds/fhir/json_text.hpp"
#include "cds/fhir/types.hpp"
#include "json_read.hpp"

namespace cds::fhir::entry_text {

// The names of an object's members that are read, a bit each: a second one declines (a tree
// keeps the last of them, a tape the first).
class seen_members {
public:
    [[nodiscard]] bool first(unsigned bit) {
        std::uint32_t const mask = 1U << bit;
        if ((seen_ & mask) != 0) return false;
        seen_ |= mask;
        return true;
    }

private:
    std::uint32_t seen_ = 0;
};

class text_reader {
public:
    text_reader(char const* at, char const* end, std::size_t max_open)
        : p_(json_text::skip_whitespace(at, end)), end_(end), max_open_(max_open) {}

    [[nodiscard]] char const* position() const { return p_; }
    // Objects read whose last resourceType member is a string, as
    // tape_builder::resource_count counts them.
    [[nodiscard]] std::size_t resource_count() const { return resource_count_; }

    // Bundle.entry: add_entry reads its search.mode and its resource, nothing else.
    // `resource(found)` reads the resource object and sets `found` when it is of the type
    // the caller reads.
    template <class Resource>
    bool entry(Resource&& resource);

    // The object whose '{' is at the reader's position: `member(name)` reads each member's
    // value. `name` may sit in a buffer of the reader, so it is used before the value is read.
    template <class Member>
    bool object(Member&& member);
    template <class Element>
    bool array(Element&& element);
    // A resource: an object whose first member is resourceType. Nothing of an entry is kept
    // before its type is known: read before a late resourceType, an entry of another type
    // (a large array in it) would be built up only to be dropped. Resources that write
    // resourceType later are declined to the general path.
    template <class Member>
    bool resource_object(Member&& member) {
        bool first = true;
        return object([&](std::string_view name) {
            if (first && name != "resourceType") return false;
            first = false;
            return member(name);
        });
    }
    // An array's elements, or one value that is not an array (json_read.hpp
    // for_each_element); past detail::max_list_elements the entry is declined (the general
    // path reads the first ones and reports the rest).
    template <class Element>
    bool items(Element&& element) {
        if (p_ == end_ || *p_ != '[') return element();
        std::size_t count = 0;
        return array([&] { return ++count <= detail::max_list_elements && element(); });
    }
    // A value no reader looks at: read as tape_builder::read_text reads it, and dropped.
    bool skip_value();

    [[nodiscard]] bool at_null() const { return p_ != end_ && *p_ == 'n'; }
    bool null() { return json_text::read_literal(p_, end_, "null"); }

    // The data types, each as its member reader reads a present value; null (an absent
    // member there) leaves `out` as it is.
    bool string_view_value(std::optional<std::string_view>& out);
    bool string(std::string& out);
    bool optional_string(std::optional<std::string>& out);
    bool number(std::optional<double>& out);
    bool boolean(std::optional<bool>& out);
    bool date_time_value(std::optional<date_time>& out);
    bool period_value(std::optional<period>& out);
    bool codeable_concept_value(codeable_concept& out);
    bool optional_codeable_concept(std::optional<codeable_concept>& out) {
        return at_null() ? null() : codeable_concept_value(out.emplace());
    }
    bool coding_value(coding& out);
    bool quantity_value(std::optional<quantity>& out);
    bool reference_value(std::optional<reference>& out);
    bool subject_value(std::string& out);

private:
    void skip_whitespace() { p_ = json_text::skip_whitespace(p_, end_); }
    bool search();

    char const* p_;
    char const* end_;
    std::size_t max_open_;
    std::size_t open_ = 0;  // containers open
    std::size_t resource_count_ = 0;
    std::string name_buffer_;   // a member name with escapes
    std::string value_buffer_;  // a string value with escapes
};

template <class Resource>
bool text_reader::entry(Resource&& resource) {
    bool found = false;
    seen_members seen;
    bool const read = object([&](std::string_view name) {
        if (name == "resource") return seen.first(0) && resource(found);
        if (name == "search") return seen.first(1) && search();
        return skip_value();
    });
    return read && found;
}

// The object counts as a resource when its last resourceType member is a string
// (tape_builder::check_members).
template <class Member>
bool text_reader::object(Member&& member) {
    if (p_ == end_ || *p_ != '{' || open_ == max_open_) return false;
    ++open_;
    p_ = json_text::skip_whitespace(p_ + 1, end_);
    if (p_ == end_) return false;
    bool typed = false;
    if (*p_ != '}') {
        for (;;) {
            std::string_view name;
            if (json_text::read_member_name(p_, end_, name, name_buffer_) ==
                json_text::string_kind::declined)
                return false;
            if (p_ == end_) return false;
            if (name == "resourceType") typed = *p_ == '"';
            if (!member(name)) return false;
            skip_whitespace();
            if (p_ == end_) return false;
            if (*p_ == '}') break;
            if (*p_ != ',') return false;
            p_ = json_text::skip_whitespace(p_ + 1, end_);
        }
    }
    ++p_;
    --open_;
    if (typed) ++resource_count_;
    return true;
}

template <class Element>
bool text_reader::array(Element&& element) {
    if (p_ == end_ || *p_ != '[' || open_ == max_open_) return false;
    ++open_;
    p_ = json_text::skip_whitespace(p_ + 1, end_);
    if (p_ == end_) return false;
    if (*p_ != ']') {
        for (;;) {
            if (!element()) return false;
            skip_whitespace();
            if (p_ == end_) return false;
            if (*p_ == ']') break;
            if (*p_ != ',') return false;
            p_ = json_text::skip_whitespace(p_ + 1, end_);
        }
    }
    ++p_;
    --open_;
    return true;
}

}  // namespace cds::fhir::entry_text
