#include "cds/fhir/types.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "cds/fhir/json_kind.hpp"
#include "json_read.hpp"

namespace cds::fhir {

namespace detail {

void json_path::append_to(std::string& out) const {
    if (parent_ != nullptr) parent_->append_to(out);
    if (index_ != no_index) {
        out += '[';
        out += std::to_string(index_);
        out += ']';
        return;
    }
    if (!out.empty() && !name_.empty()) out += '.';
    out.append(name_.data(), name_.size());
}

std::string json_path::str() const {
    std::string out;
    out.reserve(64);
    append_to(out);
    return out;
}

void add_issue(issue_list& issues,
               issue_severity severity,
               json_path const& path,
               std::string message) {
    if (issues.size() > max_issues) return;
    if (issues.size() == max_issues) {
        issues.push_back(issue{issue_severity::warning, path.str(),
                               "more than " + std::to_string(max_issues) +
                                   " issues; this one and those after it are not recorded"});
        return;
    }
    issues.push_back(issue{severity, path.str(), std::move(message)});
}

void report_wrong_kind(issue_list& issues,
                       json_path const& path,
                       std::string_view expected,
                       boost::json::kind found) {
    std::string message = "expected ";
    message += expected;
    message += ", found ";
    message += json_kind_phrase(found);
    message += "; element ignored";
    add_issue(issues, issue_severity::error, path, std::move(message));
}

template <class Object>
std::optional<std::string_view> string_member(Object const& o,
                                              std::string_view key,
                                              json_path const& path,
                                              issue_list& issues) {
    auto const* v = present(o, key);
    if (v == nullptr) return std::nullopt;
    if (auto const* s = v->if_string()) return view(*s);
    report_wrong_type(issues, path.member(key), "a string", *v);
    return std::nullopt;
}

template <class Object>
std::optional<double> number_member(Object const& o,
                                    std::string_view key,
                                    json_path const& path,
                                    issue_list& issues) {
    auto const* v = present(o, key);
    if (v == nullptr) return std::nullopt;
    if (auto n = number_value(*v)) return n;
    report_wrong_type(issues, path.member(key), "a number", *v);
    return std::nullopt;
}

template <class Object>
std::optional<bool> bool_member(Object const& o,
                                std::string_view key,
                                json_path const& path,
                                issue_list& issues) {
    auto const* v = present(o, key);
    if (v == nullptr) return std::nullopt;
    if (auto const* b = v->if_bool()) return *b;
    report_wrong_type(issues, path.member(key), "a boolean", *v);
    return std::nullopt;
}

template <class Object>
std::optional<date_time> date_time_member(Object const& o,
                                          std::string_view key,
                                          json_path const& path,
                                          issue_list& issues) {
    auto const* v = present(o, key);
    if (v == nullptr) return std::nullopt;
    auto const* s = v->if_string();
    if (s == nullptr) {
        report_wrong_type(issues, path.member(key), "a date/dateTime string", *v);
        return std::nullopt;
    }
    auto parsed = parse_date_time(view(*s));
    if (!parsed.value) {
        // The value itself is not echoed: it may be patient data, and the path says where.
        add_issue(issues, issue_severity::error, path.member(key),
                  "invalid date/dateTime (" + parsed.error + "); element ignored");
        return std::nullopt;
    }
    if (parsed.value->time_without_offset()) {
        add_issue(issues, issue_severity::warning, path.member(key),
                  "dateTime without a time-zone offset; taken as UTC");
    }
    return parsed.value;
}

template <class Value>
std::optional<coding> read_coding(Value const& v, json_path const& path, issue_list& issues) {
    auto const* o = v.if_object();
    if (o == nullptr) {
        report_wrong_type(issues, path, "a Coding object", v);
        return std::nullopt;
    }
    coding c;
    copy_string_member(c.system, *o, "system", path, issues);
    copy_string_member(c.code, *o, "code", path, issues);
    copy_string_member(c.display, *o, "display", path, issues);
    return c;
}

template <class Value>
std::optional<codeable_concept> read_codeable_concept(Value const& v,
                                                      json_path const& path,
                                                      issue_list& issues) {
    auto const* o = v.if_object();
    if (o == nullptr) {
        report_wrong_type(issues, path, "a CodeableConcept object", v);
        return std::nullopt;
    }
    codeable_concept cc;
    if (auto const* codings = present(*o, "coding")) {
        cc.codings.reserve(list_room(*codings));
        for_each_element(*codings, path.member("coding"), issues,
                         [&](auto const& item, json_path const& p) {
                             if (auto c = read_coding(item, p, issues))
                                 cc.codings.push_back(std::move(*c));
                         });
    }
    copy_string_member(cc.text, *o, "text", path, issues);
    return cc;
}

template <class Value>
std::optional<quantity> read_quantity(Value const& v, json_path const& path, issue_list& issues) {
    auto const* o = v.if_object();
    if (o == nullptr) {
        report_wrong_type(issues, path, "a Quantity object", v);
        return std::nullopt;
    }
    quantity q;
    q.value = number_member(*o, "value", path, issues);
    if (auto const* comparator_value = present(*o, "comparator")) {
        auto const* s = comparator_value->if_string();
        std::string_view const comparator = s != nullptr ? view(*s) : std::string_view{};
        if (s == nullptr) {
            report_wrong_type(issues, path.member("comparator"), "a comparator string",
                              *comparator_value);
            add_issue(issues, issue_severity::error, path.member("value"),
                      "the comparator is unreadable, so the value is not used");
            q.value.reset();
        } else if (comparator == "<") {
            q.comparator = quantity_comparator::less;
        } else if (comparator == "<=") {
            q.comparator = quantity_comparator::less_or_equal;
        } else if (comparator == ">=") {
            q.comparator = quantity_comparator::greater_or_equal;
        } else if (comparator == ">") {
            q.comparator = quantity_comparator::greater;
        } else {
            // Reading "<x" as "x" would be a clinical error: without knowing what the comparator
            // means the number cannot be used.
            add_issue(issues, issue_severity::error, path.member("comparator"),
                      "unknown comparator (expected <, <=, >= or >); the value is not used");
            q.value.reset();
        }
    }
    copy_string_member(q.unit, *o, "unit", path, issues);
    copy_string_member(q.system, *o, "system", path, issues);
    copy_string_member(q.code, *o, "code", path, issues);
    return q;
}

template <class Value>
std::optional<reference> read_reference(Value const& v, json_path const& path, issue_list& issues) {
    auto const* o = v.if_object();
    if (o == nullptr) {
        report_wrong_type(issues, path, "a Reference object", v);
        return std::nullopt;
    }
    auto const text = string_member(*o, "reference", path, issues);
    auto const display = string_member(*o, "display", path, issues);
    return make_reference(text.value_or(std::string_view{}), display.value_or(std::string_view{}));
}

template <class Value>
std::optional<period> read_period(Value const& v, json_path const& path, issue_list& issues) {
    auto const* o = v.if_object();
    if (o == nullptr) {
        report_wrong_type(issues, path, "a Period object", v);
        return std::nullopt;
    }
    period p;
    p.start = date_time_member(*o, "start", path, issues);
    p.end = date_time_member(*o, "end", path, issues);
    return p;
}

template <class Object>
std::optional<codeable_concept> codeable_concept_member(Object const& o,
                                                        std::string_view key,
                                                        json_path const& path,
                                                        issue_list& issues) {
    auto const* v = present(o, key);
    if (v == nullptr) return std::nullopt;
    return read_codeable_concept(*v, path.member(key), issues);
}

template <class Object>
std::optional<quantity> quantity_member(Object const& o,
                                        std::string_view key,
                                        json_path const& path,
                                        issue_list& issues) {
    auto const* v = present(o, key);
    if (v == nullptr) return std::nullopt;
    return read_quantity(*v, path.member(key), issues);
}

template <class Object>
std::optional<reference> reference_member(Object const& o,
                                          std::string_view key,
                                          json_path const& path,
                                          issue_list& issues) {
    auto const* v = present(o, key);
    if (v == nullptr) return std::nullopt;
    return read_reference(*v, path.member(key), issues);
}

template <class Object>
std::optional<period> period_member(Object const& o,
                                    std::string_view key,
                                    json_path const& path,
                                    issue_list& issues) {
    auto const* v = present(o, key);
    if (v == nullptr) return std::nullopt;
    return read_period(*v, path.member(key), issues);
}

template <class Object>
void codeable_concept_list_member(std::vector<codeable_concept>& out,
                                  Object const& o,
                                  std::string_view key,
                                  json_path const& path,
                                  issue_list& issues) {
    auto const* v = present(o, key);
    if (v == nullptr) return;
    out.reserve(out.size() + list_room(*v));
    for_each_element(*v, path.member(key), issues, [&](auto const& item, json_path const& p) {
        if (auto cc = read_codeable_concept(item, p, issues)) out.push_back(std::move(*cc));
    });
}

// The readers for both kinds of JSON (json_read.hpp).
#define CDS_FHIR_INSTANTIATE_TYPE_READERS(Value, Object)                                           \
    template std::optional<std::string_view> string_member(Object const&, std::string_view,        \
                                                           json_path const&, issue_list&);         \
    template std::optional<double> number_member(Object const&, std::string_view,                  \
                                                 json_path const&, issue_list&);                   \
    template std::optional<bool> bool_member(Object const&, std::string_view, json_path const&,    \
                                             issue_list&);                                         \
    template std::optional<date_time> date_time_member(Object const&, std::string_view,            \
                                                       json_path const&, issue_list&);             \
    template std::optional<coding> read_coding(Value const&, json_path const&, issue_list&);       \
    template std::optional<codeable_concept> read_codeable_concept(Value const&, json_path const&, \
                                                                   issue_list&);                   \
    template std::optional<quantity> read_quantity(Value const&, json_path const&, issue_list&);   \
    template std::optional<reference> read_reference(Value const&, json_path const&, issue_list&); \
    template std::optional<period> read_period(Value const&, json_path const&, issue_list&);       \
    template std::optional<codeable_concept> codeable_concept_member(                              \
        Object const&, std::string_view, json_path const&, issue_list&);                           \
    template std::optional<quantity> quantity_member(Object const&, std::string_view,              \
                                                     json_path const&, issue_list&);               \
    template std::optional<reference> reference_member(Object const&, std::string_view,            \
                                                       json_path const&, issue_list&);             \
    template std::optional<period> period_member(Object const&, std::string_view,                  \
                                                 json_path const&, issue_list&);                   \
    template void codeable_concept_list_member(std::vector<codeable_concept>&, Object const&,      \
                                               std::string_view, json_path const&, issue_list&);

CDS_FHIR_INSTANTIATE_TYPE_READERS(boost::json::value, boost::json::object)
CDS_FHIR_INSTANTIATE_TYPE_READERS(tape_node, tape_node)
#undef CDS_FHIR_INSTANTIATE_TYPE_READERS

}  // namespace detail

std::string_view json_kind_phrase(boost::json::value const& v, integer_wording integers) {
    return json_kind_phrase(v.kind(), integers);
}

std::string_view json_kind_phrase(boost::json::kind kind, integer_wording integers) {
    switch (kind) {
        case boost::json::kind::null:
            return "null";
        case boost::json::kind::bool_:
            return "a boolean";
        case boost::json::kind::int64:
        case boost::json::kind::uint64:
            return integers == integer_wording::as_integer ? "an integer" : "a number";
        case boost::json::kind::double_:
            return "a number";
        case boost::json::kind::string:
            return "a string";
        case boost::json::kind::array:
            return "an array";
        case boost::json::kind::object:
            return "an object";
    }
    return "a value";
}

namespace {

bool is_id_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
}

// FHIR id: [A-Za-z0-9\-\.]{1,64}.
bool is_fhir_id(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), is_id_char);
}

// Resource type names are capitalised alphanumerics ("Medication", "MedicationRequest").
bool is_type_name(std::string_view s) {
    if (s.empty() || s.front() < 'A' || s.front() > 'Z') return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    });
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
    auto const is_space = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    };
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

// Whether `rest` starts with a micro prefix other than `u`: U+00B5 MICRO SIGN or U+03BC GREEK
// SMALL LETTER MU, two bytes each in UTF-8.
bool starts_with_micro_sign(std::string_view rest) {
    return rest.starts_with("\xC2\xB5") || rest.starts_with("\xCE\xBC");
}

// A unit as compared: trimmed, ASCII lower-cased, and the micro prefix written one way:
// `µ` (U+00B5 MICRO SIGN), `μ` (U+03BC GREEK SMALL LETTER MU) and `u` are the same prefix
// (CLINICAL-BASIS.md §7 "Micro sign"; UCUM writes it `u`).
std::string canonical_unit(std::string_view unit) {
    std::string_view const trimmed = trim(unit);
    std::string out;
    out.reserve(trimmed.size());
    for (std::size_t i = 0; i < trimmed.size(); ++i) {
        if (starts_with_micro_sign(trimmed.substr(i))) {
            out += 'u';
            ++i;  // the second byte of the two-byte sequence
            continue;
        }
        out += ascii_lower(trimmed[i]);
    }
    return out;
}

// Whether the trimmed unit `written` reads as `canonical` (one canonical_unit made) once
// lower-cased with the micro prefix written one way; compared in place, as every result's unit
// is looked up on every call.
bool same_canonical_unit(std::string_view written, std::string_view canonical) {
    std::size_t at = 0;
    for (char const c : canonical) {
        if (at == written.size()) return false;
        if (c == 'u' && starts_with_micro_sign(written.substr(at))) {
            at += 2;
            continue;
        }
        if (ascii_lower(written[at]) != c) return false;
        ++at;
    }
    return at == written.size();
}

}  // namespace

bool codeable_concept::has_code(std::string_view system, std::string_view code) const {
    return std::any_of(codings.begin(), codings.end(),
                       [&](coding const& c) { return c.system == system && c.code == code; });
}

reference make_reference(std::string_view text, std::string_view display) {
    reference r;
    r.reference.assign(text.data(), text.size());
    r.display.assign(display.data(), display.size());
    if (text.empty()) return r;
    if (text.front() == '#') {
        r.kind = reference_kind::contained;
        r.id.assign(text.substr(1));
        return r;
    }
    if (text.starts_with("urn:uuid:") || text.starts_with("urn:oid:")) {
        r.kind = reference_kind::urn;
        r.id.assign(text.data(), text.size());
        return r;
    }
    // Type/id, [base]/Type/id, or either with /_history/version (FHIR R4 §2.3.0 "Literal
    // references"); a version-specific reference still names the same resource.
    std::string_view rest = text;
    if (auto const history = rest.find("/_history/"); history != std::string_view::npos) {
        rest = rest.substr(0, history);
    }
    auto const id_slash = rest.rfind('/');
    if (id_slash == std::string_view::npos || id_slash == 0) return r;
    std::string_view const id = rest.substr(id_slash + 1);
    std::string_view const before = rest.substr(0, id_slash);
    auto const type_slash = before.rfind('/');
    std::string_view const type =
        type_slash == std::string_view::npos ? before : before.substr(type_slash + 1);
    if (!is_type_name(type) || !is_fhir_id(id)) return r;
    r.kind = reference_kind::relative;
    r.type.assign(type.data(), type.size());
    r.id.assign(id.data(), id.size());
    return r;
}

std::optional<coding> parse_coding(boost::json::value const& v,
                                   std::string const& path,
                                   issue_list& issues) {
    return detail::read_coding(v, detail::json_path{path}, issues);
}

codeable_concept parse_codeable_concept(boost::json::value const& v,
                                        std::string const& path,
                                        issue_list& issues) {
    return detail::read_codeable_concept(v, detail::json_path{path}, issues)
        .value_or(codeable_concept{});
}

std::optional<quantity> parse_quantity(boost::json::value const& v,
                                       std::string const& path,
                                       issue_list& issues) {
    return detail::read_quantity(v, detail::json_path{path}, issues);
}

std::optional<reference> parse_reference(boost::json::value const& v,
                                         std::string const& path,
                                         issue_list& issues) {
    return detail::read_reference(v, detail::json_path{path}, issues);
}

std::optional<period> parse_period(boost::json::value const& v,
                                   std::string const& path,
                                   issue_list& issues) {
    return detail::read_period(v, detail::json_path{path}, issues);
}

unit_table::unit_table(std::vector<unit_factor> factors) : factors_(std::move(factors)) {
    for (auto& f : factors_) f.unit = canonical_unit(f.unit);
}

std::optional<double> unit_table::factor_for(std::string_view unit_key) const {
    std::string_view const key = trim(unit_key);
    if (key.empty()) return std::nullopt;
    for (auto const& f : factors_) {
        if (same_canonical_unit(key, f.unit)) return f.factor;
    }
    return std::nullopt;
}

std::optional<double> unit_table::convert(double value, std::string_view unit_key) const {
    // A value that overflows in the target unit (1e308 g in mg) is no usable amount.
    auto const factor = factor_for(unit_key);
    if (!factor) return std::nullopt;
    double const converted = value * *factor;
    if (!std::isfinite(converted)) return std::nullopt;
    return converted;
}

}  // namespace cds::fhir
