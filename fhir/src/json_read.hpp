#pragma once
// Private helpers for reading FHIR JSON leniently but safely. Element paths are built lazily
// (a chain of stack nodes) so that the common case — well-formed data, no issue — allocates
// nothing for paths.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include "cds/fhir/json_tape.hpp"
#include "cds/fhir/resources.hpp"
#include "cds/fhir/snapshot.hpp"
#include "cds/fhir/types.hpp"

namespace cds::fhir {

// The member and element ranges of a Boost.JSON tree, spelled as for a tape (json_tape.hpp).
inline boost::json::object const& members(boost::json::object const& object) { return object; }
inline boost::json::array const& elements(boost::json::array const& array) { return array; }

}  // namespace cds::fhir

// Every reader below is a template over the JSON it reads: a Boost.JSON tree
// (boost::json::value, boost::json::object) or a tape (tape_node for both). The two are read
// by the same code, so they give the same values and the same issues. The definitions are
// instantiated for both in types.cpp and resources.cpp.
namespace cds::fhir::detail {

// An element path such as `prefetch.mg.entry[2].resource.valueQuantity.value`, kept as a
// chain of nodes that live on the caller's stack; rendered only when an issue needs it.
class json_path {
public:
    explicit json_path(std::string_view root) : name_(root) {}

    [[nodiscard]] json_path member(std::string_view name) const {
        return json_path{this, name, no_index};
    }
    [[nodiscard]] json_path index(std::size_t i) const { return json_path{this, {}, i}; }
    [[nodiscard]] std::string str() const;

private:
    static constexpr std::size_t no_index = static_cast<std::size_t>(-1);
    json_path(json_path const* parent, std::string_view name, std::size_t i)
        : parent_(parent), name_(name), index_(i) {}
    void append_to(std::string& out) const;

    json_path const* parent_ = nullptr;
    std::string_view name_;
    std::size_t index_ = no_index;
};

// The most issues one snapshot records; past it, one more says the rest were left out. A
// Bundle of millions of non-resource entries would otherwise record an issue each.
inline constexpr std::size_t max_issues = 256;

void add_issue(issue_list& issues,
               issue_severity severity,
               json_path const& path,
               std::string message);

// Objects up to this many members are searched by an inline scan. The reader asks one object
// for many members, one at a time, and FHIR objects are small (a Coding has three members, an
// Observation a dozen): comparing lengths first and then bytes, inline, costs a fraction of a
// library call to object::if_contains, which scans such objects linearly too (Boost.JSON
// hashes only objects of more than 18 members). Larger tree objects use the hashed look-up, so a
// hostile object with thousands of members does not make each look-up a scan; a tape scans
// (tape_node::if_contains), at a cost bounded by the entry's size.
//
// The inline scan takes the first member of a name, if_contains the last (as a tree keeps
// it). They agree because a tape with a repeated member is never read: its entry is read as
// a tree (json_tape.hpp, has_repeated_member).
inline constexpr std::size_t inline_scan_max_members = 18;

template <>
struct json_object_of<boost::json::value> {
    using type = boost::json::object;
};
template <>
struct json_object_of<tape_node> {
    using type = tape_node;
};

// Whether two runs of `n` bytes are equal. Member names are short: up to 16 bytes they are
// compared by two overlapping word loads each, within the runs, instead of a call to memcmp
// (which perf put at 5 % of reading an order-sign request, mostly from look-ups here).
inline bool same_bytes(char const* a, char const* b, std::size_t n) {
    auto const word = [](char const* p) {
        std::uint64_t w;
        std::memcpy(&w, p, sizeof w);
        return w;
    };
    auto const half = [](char const* p) {
        std::uint32_t h;
        std::memcpy(&h, p, sizeof h);
        return h;
    };
    if (n > 16) return std::memcmp(a, b, n) == 0;
    if (n >= 8) return word(a) == word(b) && word(a + n - 8) == word(b + n - 8);
    if (n >= 4) return half(a) == half(b) && half(a + n - 4) == half(b + n - 4);
    for (std::size_t i = 0; i < n; ++i) {
        if (a[i] != b[i]) return false;
    }
    return true;
}

// The member `key` of `o`, or nullptr.
template <class Object>
inline auto find_member(Object const& o, std::string_view key) -> decltype(o.if_contains(key)) {
    if (o.size() > inline_scan_max_members) return o.if_contains(key);
    for (auto const& member : members(o)) {
        auto const name = member.key();
        if (name.size() == key.size() && same_bytes(name.data(), key.data(), key.size())) {
            return &member.value();
        }
    }
    return nullptr;
}

// A member that is there with a value. JSON null is read as absent: FHIR JSON never uses
// null for a member, but some serializers write it for "no value", and nothing is lost.
template <class Object>
inline auto present(Object const& o, std::string_view key) -> decltype(o.if_contains(key)) {
    auto const* v = find_member(o, key);
    return v != nullptr && !v->is_null() ? v : nullptr;
}
template <class Object>
inline bool is_present(Object const& o, std::string_view key) {
    return present(o, key) != nullptr;
}

inline std::string_view view(boost::json::string const& s) { return {s.data(), s.size()}; }
inline std::string_view view(tape_node const& s) { return s.get_string(); }

// Reports "expected <what>, found <kind>" as an error (the element is dropped).
void report_wrong_kind(issue_list& issues,
                       json_path const& path,
                       std::string_view expected,
                       boost::json::kind found);
template <class Value>
inline void report_wrong_type(issue_list& issues,
                              json_path const& path,
                              std::string_view expected,
                              Value const& found) {
    report_wrong_kind(issues, path, expected, found.kind());
}

// Member readers: absent members give nothing silently; present members of the wrong type
// give nothing and an error issue naming the member.
template <class Object>
std::optional<std::string_view> string_member(Object const& o,
                                              std::string_view key,
                                              json_path const& path,
                                              issue_list& issues);
template <class Object>
std::optional<double> number_member(Object const& o,
                                    std::string_view key,
                                    json_path const& path,
                                    issue_list& issues);
template <class Object>
std::optional<bool> bool_member(Object const& o,
                                std::string_view key,
                                json_path const& path,
                                issue_list& issues);
template <class Object>
std::optional<date_time> date_time_member(Object const& o,
                                          std::string_view key,
                                          json_path const& path,
                                          issue_list& issues);

// Converts a JSON number (integer or double) to double; nullopt for non-numbers and
// non-finite values.
template <class Value>
inline std::optional<double> number_value(Value const& v) {
    if (auto const* d = v.if_double()) {
        if (!std::isfinite(*d)) return std::nullopt;
        return *d;
    }
    if (auto const* i = v.if_int64()) return static_cast<double>(*i);
    if (auto const* u = v.if_uint64()) return static_cast<double>(*u);
    return std::nullopt;
}

// A string member copied into `out` (left empty when absent or wrongly typed).
template <class Object>
inline void copy_string_member(std::string& out,
                               Object const& o,
                               std::string_view key,
                               json_path const& path,
                               issue_list& issues) {
    if (auto s = string_member(o, key, path, issues)) out.assign(s->data(), s->size());
}

// Calls f(element, element_path) for each element of an array, or once for a value that is
// not an array (an array-typed element sent as a single object, as the CDS Hooks sandbox
// does for MedicationRequest.category and reasonCode).
template <class Value, class F>
inline void for_each_item(Value const& v, json_path const& path, F&& f) {
    if (auto const* a = v.if_array()) {
        std::size_t i = 0;
        for (auto const& item : elements(*a)) f(item, path.index(i++));
    } else {
        f(v, path);
    }
}

// The most elements read from one array inside a resource (codings, dosages, components,
// contained resources, reasons, ...). Real resources have a handful; without a bound, a body
// of empty objects would grow hundreds of times in the model (a Dosage is 900 bytes, `{},`
// three): a 4 MB request reached 1.9 GB.
inline constexpr std::size_t max_list_elements = 64;

// The room to reserve for an array's elements.
template <class Value>
inline std::size_t list_room(Value const& v) {
    auto const* a = v.if_array();
    return a == nullptr ? 1 : std::min<std::size_t>(a->size(), max_list_elements);
}

// for_each_item for an array inside a resource: elements past max_list_elements are not
// read, with one warning naming the array.
template <class Value, class F>
inline void for_each_element(Value const& v, json_path const& path, issue_list& issues, F&& f) {
    auto const* a = v.if_array();
    if (a == nullptr) {
        f(v, path);
        return;
    }
    std::size_t i = 0;
    for (auto const& item : elements(*a)) {
        if (i == max_list_elements) {
            add_issue(issues, issue_severity::warning, path,
                      "more than " + std::to_string(max_list_elements) +
                          " elements; only the first " + std::to_string(max_list_elements) +
                          " are read");
            return;
        }
        f(item, path.index(i++));
    }
}

template <class Value>
std::optional<coding> read_coding(Value const& v, json_path const& path, issue_list& issues);
// nullopt when the value is not an object (with an issue).
template <class Value>
std::optional<codeable_concept> read_codeable_concept(Value const& v,
                                                      json_path const& path,
                                                      issue_list& issues);
template <class Value>
std::optional<quantity> read_quantity(Value const& v, json_path const& path, issue_list& issues);
template <class Value>
std::optional<reference> read_reference(Value const& v, json_path const& path, issue_list& issues);
template <class Value>
std::optional<period> read_period(Value const& v, json_path const& path, issue_list& issues);

// Member forms: nothing when absent.
template <class Object>
std::optional<codeable_concept> codeable_concept_member(Object const& o,
                                                        std::string_view key,
                                                        json_path const& path,
                                                        issue_list& issues);
template <class Object>
std::optional<quantity> quantity_member(Object const& o,
                                        std::string_view key,
                                        json_path const& path,
                                        issue_list& issues);
template <class Object>
std::optional<reference> reference_member(Object const& o,
                                          std::string_view key,
                                          json_path const& path,
                                          issue_list& issues);
template <class Object>
std::optional<period> period_member(Object const& o,
                                    std::string_view key,
                                    json_path const& path,
                                    issue_list& issues);
// Appends every CodeableConcept of an array member (or a single object sent instead).
template <class Object>
void codeable_concept_list_member(std::vector<codeable_concept>& out,
                                  Object const& o,
                                  std::string_view key,
                                  json_path const& path,
                                  issue_list& issues);

// Resource readers behind the public parse_* functions (which take any JSON value and the
// path as a string); each checks resourceType.
template <class Object>
std::optional<patient> read_patient(Object const& v, json_path const& path, issue_list& issues);
// Observations and orders are many: these two read into an object the caller gives (a new
// element of the snapshot's vector), so that it is not moved there afterwards. False when
// the resource is not usable, or (for an Observation) when `keep`, given, refuses its code
// (snapshot_builder::keep_observations_if): then it is read no further, with no issue, and
// `*refused` (when given) is set. `out` is default-constructed on entry.
template <class Object>
bool read_observation(observation& out,
                      Object const& v,
                      json_path const& path,
                      issue_list& issues,
                      observation_code_filter const* keep = nullptr,
                      bool* refused = nullptr);
template <class Object>
std::optional<medication> read_medication(Object const& v,
                                          json_path const& path,
                                          issue_list& issues);
template <class Object>
bool read_medication_order(medication_order& out,
                           Object const& v,
                           json_path const& path,
                           issue_list& issues);
template <class Object>
std::optional<condition> read_condition(Object const& v, json_path const& path, issue_list& issues);
template <class Object>
std::optional<service_request> read_service_request(Object const& v,
                                                    json_path const& path,
                                                    issue_list& issues);

}  // namespace cds::fhir::detail
