#pragma once
// Private helpers for reading FHIR JSON leniently but safely. Element paths are built lazily
// (a chain of stack nodes) so that the common case — well-formed data, no issue — allocates
// nothing for paths.

#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include "cds/fhir/resources.hpp"
#include "cds/fhir/types.hpp"

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

void add_issue(issue_list& issues,
               issue_severity severity,
               json_path const& path,
               std::string message);

// Objects up to this many members are searched by an inline scan. The reader asks one object
// for many members, one at a time, and FHIR objects are small (a Coding has three members, an
// Observation a dozen): comparing lengths first and then bytes, inline, costs a fraction of a
// library call to object::if_contains, which scans such objects linearly too (Boost.JSON
// hashes only objects of more than 18 members). Larger objects keep the hashed look-up, so a
// hostile object with thousands of members costs no more than before.
inline constexpr std::size_t inline_scan_max_members = 18;

// The member `key` of `o`, or nullptr.
inline boost::json::value const* find_member(boost::json::object const& o, std::string_view key) {
    if (o.size() > inline_scan_max_members) return o.if_contains(key);
    for (auto const& member : o) {
        auto const name = member.key();
        // The first byte tells most same-length keys apart ("code"/"text") without a call.
        if (name.size() == key.size() &&
            (key.empty() ||
             (name[0] == key[0] && std::memcmp(name.data(), key.data(), key.size()) == 0))) {
            return &member.value();
        }
    }
    return nullptr;
}

// A member that is there with a value. JSON null is read as absent: FHIR JSON never uses
// null for a member, but some serializers write it for "no value", and nothing is lost.
inline boost::json::value const* present(boost::json::object const& o, std::string_view key) {
    auto const* v = find_member(o, key);
    return v != nullptr && !v->is_null() ? v : nullptr;
}
inline bool is_present(boost::json::object const& o, std::string_view key) {
    return present(o, key) != nullptr;
}

inline std::string_view view(boost::json::string const& s) { return {s.data(), s.size()}; }

// Reports "expected <what>, found <kind>" as an error (the element is dropped).
void report_wrong_type(issue_list& issues,
                       json_path const& path,
                       std::string_view expected,
                       boost::json::value const& found);

// Member readers: absent members give nothing silently; present members of the wrong type
// give nothing and an error issue naming the member.
std::optional<std::string_view> string_member(boost::json::object const& o,
                                              std::string_view key,
                                              json_path const& path,
                                              issue_list& issues);
std::optional<double> number_member(boost::json::object const& o,
                                    std::string_view key,
                                    json_path const& path,
                                    issue_list& issues);
std::optional<bool> bool_member(boost::json::object const& o,
                                std::string_view key,
                                json_path const& path,
                                issue_list& issues);
std::optional<date_time> date_time_member(boost::json::object const& o,
                                          std::string_view key,
                                          json_path const& path,
                                          issue_list& issues);

// Converts a JSON number (integer or double) to double; nullopt for non-numbers and
// non-finite values.
std::optional<double> number_value(boost::json::value const& v);

// A string member copied into `out` (left empty when absent or wrongly typed).
inline void copy_string_member(std::string& out,
                               boost::json::object const& o,
                               std::string_view key,
                               json_path const& path,
                               issue_list& issues) {
    if (auto s = string_member(o, key, path, issues)) out.assign(s->data(), s->size());
}

// Calls f(element, element_path) for each element of an array, or once for a value that is
// not an array (an array-typed element sent as a single object, as the CDS Hooks sandbox
// does for MedicationRequest.category and reasonCode).
template <class F>
void for_each_item(boost::json::value const& v, json_path const& path, F&& f) {
    if (auto const* a = v.if_array()) {
        for (std::size_t i = 0; i < a->size(); ++i) f((*a)[i], path.index(i));
    } else {
        f(v, path);
    }
}

std::optional<coding> read_coding(boost::json::value const& v,
                                  json_path const& path,
                                  issue_list& issues);
// nullopt when the value is not an object (with an issue).
std::optional<codeable_concept> read_codeable_concept(boost::json::value const& v,
                                                      json_path const& path,
                                                      issue_list& issues);
std::optional<quantity> read_quantity(boost::json::value const& v,
                                      json_path const& path,
                                      issue_list& issues);
std::optional<reference> read_reference(boost::json::value const& v,
                                        json_path const& path,
                                        issue_list& issues);
std::optional<period> read_period(boost::json::value const& v,
                                  json_path const& path,
                                  issue_list& issues);

// Member forms: nothing when absent.
std::optional<codeable_concept> codeable_concept_member(boost::json::object const& o,
                                                        std::string_view key,
                                                        json_path const& path,
                                                        issue_list& issues);
std::optional<quantity> quantity_member(boost::json::object const& o,
                                        std::string_view key,
                                        json_path const& path,
                                        issue_list& issues);
std::optional<reference> reference_member(boost::json::object const& o,
                                          std::string_view key,
                                          json_path const& path,
                                          issue_list& issues);
std::optional<period> period_member(boost::json::object const& o,
                                    std::string_view key,
                                    json_path const& path,
                                    issue_list& issues);
// Appends every CodeableConcept of an array member (or a single object sent instead).
void codeable_concept_list_member(std::vector<codeable_concept>& out,
                                  boost::json::object const& o,
                                  std::string_view key,
                                  json_path const& path,
                                  issue_list& issues);

// Resource readers behind the public parse_* functions (which take any JSON value and the
// path as a string); each checks resourceType.
std::optional<patient> read_patient(boost::json::object const& v,
                                    json_path const& path,
                                    issue_list& issues);
std::optional<observation> read_observation(boost::json::object const& v,
                                            json_path const& path,
                                            issue_list& issues);
std::optional<medication> read_medication(boost::json::object const& v,
                                          json_path const& path,
                                          issue_list& issues);
std::optional<medication_order> read_medication_order(boost::json::object const& v,
                                                      json_path const& path,
                                                      issue_list& issues);
std::optional<condition> read_condition(boost::json::object const& v,
                                        json_path const& path,
                                        issue_list& issues);
std::optional<service_request> read_service_request(boost::json::object const& v,
                                                    json_path const& path,
                                                    issue_list& issues);

}  // namespace cds::fhir::detail
