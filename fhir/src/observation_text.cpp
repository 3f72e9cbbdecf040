#include "cds/fhir/observation_text.hpp"

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cds/fhir/date_time.hpp"
#include "cds/fhir/json_text.hpp"

namespace cds::fhir {
namespace {

namespace text = json_text;

// The names of an object's members that are read, a bit each: a second one declines.
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

// Every member function returns false to decline, wherever the text then stands.
class entry_reader {
public:
    entry_reader(char const* at,
                 char const* end,
                 std::size_t max_open,
                 observation_code_filter const* keep)
        : p_(text::skip_whitespace(at, end)), end_(end), max_open_(max_open), keep_(keep) {}

    bool entry(observation& obs);
    // The code filter's verdict, asked once: as soon as the code is read, or at the end.
    bool kept(observation const& obs) {
        if (!kept_) kept_ = keep_ == nullptr || (*keep_)(obs.code);
        return *kept_;
    }
    [[nodiscard]] char const* position() const { return p_; }
    [[nodiscard]] std::size_t resource_count() const { return resource_count_; }

private:
    template <class Member>
    bool object(Member&& member);
    template <class Element>
    bool array(Element&& element);
    bool skip_value();
    bool search();
    bool resource(observation& obs);
    bool resource_member(std::string_view name, observation& obs, seen_members& seen);
    bool observation_type();
    bool value_member(std::string_view name, observation& obs);
    bool string_view_value(std::optional<std::string_view>& out);
    bool string(std::string& out);
    bool date_time_value(std::optional<date_time>& out);
    bool period_value(std::optional<period>& out);
    bool codeable_concept_value(codeable_concept& out);
    bool coding_value(coding& out);
    bool quantity_value(std::optional<quantity>& out);
    bool subject_value(std::string& out);
    [[nodiscard]] bool at_null() const { return p_ != end_ && *p_ == 'n'; }
    bool null() { return text::read_literal(p_, end_, "null"); }
    void skip_whitespace() { p_ = text::skip_whitespace(p_, end_); }

    char const* p_;
    char const* end_;
    std::size_t max_open_;
    observation_code_filter const* keep_;
    std::optional<bool> kept_;
    std::size_t open_ = 0;  // containers open
    std::size_t resource_count_ = 0;
    bool is_observation_ = false;
    std::string name_buffer_;                     // a member name with escapes
    std::string value_buffer_;                    // a string value with escapes
    std::vector<std::string> other_value_names_;  // value[x] members other than those read
};

// The object whose '{' is at p_: `member(name)` reads each member's value (at p_). `name`
// may sit in name_buffer_, so it is used before the value is read. The object counts as a
// resource when its last resourceType member is a string (tape_builder::check_members).
template <class Member>
bool entry_reader::object(Member&& member) {
    if (p_ == end_ || *p_ != '{' || open_ == max_open_) return false;
    ++open_;
    p_ = text::skip_whitespace(p_ + 1, end_);
    if (p_ == end_) return false;
    bool typed = false;
    if (*p_ != '}') {
        for (;;) {
            std::string_view name;
            if (text::read_member_name(p_, end_, name, name_buffer_) == text::string_kind::declined)
                return false;
            if (p_ == end_) return false;
            if (name == "resourceType") typed = *p_ == '"';
            if (!member(name)) return false;
            skip_whitespace();
            if (p_ == end_) return false;
            if (*p_ == '}') break;
            if (*p_ != ',') return false;
            p_ = text::skip_whitespace(p_ + 1, end_);
        }
    }
    ++p_;
    --open_;
    if (typed) ++resource_count_;
    return true;
}

template <class Element>
bool entry_reader::array(Element&& element) {
    if (p_ == end_ || *p_ != '[' || open_ == max_open_) return false;
    ++open_;
    p_ = text::skip_whitespace(p_ + 1, end_);
    if (p_ == end_) return false;
    if (*p_ != ']') {
        for (;;) {
            if (!element()) return false;
            skip_whitespace();
            if (p_ == end_) return false;
            if (*p_ == ']') break;
            if (*p_ != ',') return false;
            p_ = text::skip_whitespace(p_ + 1, end_);
        }
    }
    ++p_;
    --open_;
    return true;
}

// A value no reader looks at: read as tape_builder::read_text reads it, and dropped.
bool entry_reader::skip_value() {
    if (p_ == end_) return false;
    switch (*p_) {
        case '{':
            return object([this](std::string_view) { return skip_value(); });
        case '[':
            return array([this] { return skip_value(); });
        case '"': {
            ++p_;
            std::string_view value;
            return text::read_string(p_, end_, value, value_buffer_) != text::string_kind::declined;
        }
        case 't':
            return text::read_literal(p_, end_, "true");
        case 'f':
            return text::read_literal(p_, end_, "false");
        case 'n':
            return null();
        default:
            return text::read_number(p_, end_).has_value();
    }
}

// Bundle.entry: add_entry reads its search.mode and its resource, nothing else.
bool entry_reader::entry(observation& obs) {
    seen_members seen;
    bool const read = object([&](std::string_view name) {
        if (name == "resource") return seen.first(0) && resource(obs);
        if (name == "search") return seen.first(1) && search();
        return skip_value();
    });
    return read && is_observation_;
}

// search.mode "outcome" marks an entry that is not patient data: the general path skips it.
bool entry_reader::search() {
    if (p_ == end_ || *p_ != '{') return skip_value();
    seen_members seen;
    return object([&](std::string_view name) {
        if (name != "mode") return skip_value();
        if (!seen.first(0)) return false;
        if (p_ == end_ || *p_ != '"') return skip_value();
        std::optional<std::string_view> mode;
        return string_view_value(mode) && mode != "outcome";
    });
}

bool entry_reader::resource(observation& obs) {
    seen_members seen;
    return object([&](std::string_view name) { return resource_member(name, obs, seen); });
}

// The Observation members read_observation reads; the first ones double as bit positions in
// seen_members.
enum class observation_member : unsigned {
    resource_type,
    id,
    status,
    code,
    effective_date_time,
    effective_period,
    effective_instant,
    issued,
    subject,
    data_absent_reason,
    component,
    value_quantity,
    value_codeable_concept,
    other_value,  // another value[x]
    other,
};

// Which member `name` is: one comparison after a switch on its length.
observation_member observation_member_named(std::string_view name) {
    using enum observation_member;
    auto const is = [name](std::string_view known) { return name == known; };
    observation_member found = other;
    switch (name.size()) {
        case 2:
            if (is("id")) found = id;
            break;
        case 4:
            if (is("code")) found = code;
            break;
        case 6:
            if (is("status")) found = status;
            if (is("issued")) found = issued;
            break;
        case 7:
            if (is("subject")) found = subject;
            break;
        case 9:
            if (is("component")) found = component;
            break;
        case 12:
            if (is("resourceType")) found = resource_type;
            break;
        case 13:
            if (is("valueQuantity")) found = value_quantity;
            break;
        case 15:
            if (is("effectivePeriod")) found = effective_period;
            break;
        case 16:
            if (is("effectiveInstant")) found = effective_instant;
            if (is("dataAbsentReason")) found = data_absent_reason;
            break;
        case 17:
            if (is("effectiveDateTime")) found = effective_date_time;
            break;
        case 20:
            if (is("valueCodeableConcept")) found = value_codeable_concept;
            break;
        default:
            break;
    }
    if (found == other && name.starts_with("value")) found = other_value;
    return found;
}

// One member of the Observation, read as read_observation reads it. Once the code filter has
// refused the Observation, read_observation reads nothing but id and status: this then only
// checks the other members as JSON (and still declines on a repeated name it reads).
bool entry_reader::resource_member(std::string_view name, observation& obs, seen_members& seen) {
    using enum observation_member;
    auto const member = observation_member_named(name);
    if (member == other) return skip_value();
    if (member == other_value) return value_member(name, obs);
    if (!seen.first(static_cast<unsigned>(member))) return false;
    bool const identity = member == resource_type || member == id || member == status;
    if (!identity && kept_ == false) return skip_value();
    switch (member) {
        case resource_type:
            return observation_type();
        case id:
            return string(obs.id);
        case status:
            return string(obs.status);
        case code:
            if (!(at_null() ? null() : codeable_concept_value(obs.code))) return false;
            (void)kept(obs);
            return true;
        case effective_date_time:
            return date_time_value(obs.effective_date_time);
        case effective_period:
            return period_value(obs.effective_period);
        case effective_instant:
            return date_time_value(obs.effective_instant);
        case issued:
            return date_time_value(obs.issued);
        case subject:
            return subject_value(obs.subject);
        case data_absent_reason:
            obs.data_absent = !at_null();
            return skip_value();
        case component:
            return at_null() && null();
        case value_quantity:
            return quantity_value(obs.value_quantity);
        case value_codeable_concept:
            return at_null() ? null() : codeable_concept_value(obs.value_concept.emplace());
        case other_value:
        case other:
            break;
    }
    return false;
}

bool entry_reader::observation_type() {
    std::optional<std::string_view> type;
    if (!string_view_value(type) || type != "Observation") return false;
    is_observation_ = true;
    return true;
}

// Another value[x] (valueString, valueBoolean, ...): only whether one is there is kept. An
// Observation has one value[x]: past a few names the entry is declined, so that looking for a
// repeated one stays a short search (a body of 100,000 names took half a minute without this
// bound; the tape path sorts the names).
bool entry_reader::value_member(std::string_view name, observation& obs) {
    constexpr std::size_t max_other_value_names = 8;
    if (other_value_names_.size() == max_other_value_names) return false;
    for (auto const& seen : other_value_names_) {
        if (seen == name) return false;
    }
    other_value_names_.emplace_back(name);
    if (!at_null()) obs.has_value_other = true;
    return skip_value();
}

// A string member's value: the text's bytes, or value_buffer_'s when it had escapes (good
// until the next string value is read); nullopt for null, as for an absent member.
bool entry_reader::string_view_value(std::optional<std::string_view>& out) {
    if (at_null()) return null();
    if (p_ == end_ || *p_ != '"') return false;
    ++p_;
    std::string_view value;
    if (text::read_string(p_, end_, value, value_buffer_) == text::string_kind::declined)
        return false;
    out = value;
    return true;
}

// A string member's value into `out`; null leaves `out` as it is.
bool entry_reader::string(std::string& out) {
    std::optional<std::string_view> value;
    if (!string_view_value(value)) return false;
    if (value) out.assign(value->data(), value->size());
    return true;
}

// date_time_member: a dateTime without an offset would be a warning there.
bool entry_reader::date_time_value(std::optional<date_time>& out) {
    std::optional<std::string_view> written;
    if (!string_view_value(written)) return false;
    if (!written) return true;
    auto parsed = parse_date_time(*written);
    if (!parsed.value) return false;
    if (parsed.value->time_without_offset()) return false;
    out = *parsed.value;
    return true;
}

bool entry_reader::period_value(std::optional<period>& out) {
    if (at_null()) return null();
    auto& p = out.emplace();
    seen_members seen;
    return object([&](std::string_view name) {
        if (name == "start") return seen.first(0) && date_time_value(p.start);
        if (name == "end") return seen.first(1) && date_time_value(p.end);
        return skip_value();
    });
}

// read_codeable_concept: `coding` is an array of Coding objects, or one Coding object.
bool entry_reader::codeable_concept_value(codeable_concept& out) {
    seen_members seen;
    return object([&](std::string_view name) {
        if (name == "text") return seen.first(0) && string(out.text);
        if (name != "coding") return skip_value();
        if (!seen.first(1)) return false;
        if (at_null()) return null();
        if (p_ != end_ && *p_ == '[')
            return array([&] { return coding_value(out.codings.emplace_back()); });
        return coding_value(out.codings.emplace_back());
    });
}

bool entry_reader::coding_value(coding& out) {
    seen_members seen;
    return object([&](std::string_view name) {
        if (name == "system") return seen.first(0) && string(out.system);
        if (name == "code") return seen.first(1) && string(out.code);
        if (name == "display") return seen.first(2) && string(out.display);
        return skip_value();
    });
}

// read_quantity, without a comparator (the general path reads and reports those).
bool entry_reader::quantity_value(std::optional<quantity>& out) {
    if (at_null()) return null();
    auto& q = out.emplace();
    seen_members seen;
    return object([&](std::string_view name) {
        if (name == "unit") return seen.first(0) && string(q.unit);
        if (name == "system") return seen.first(1) && string(q.system);
        if (name == "code") return seen.first(2) && string(q.code);
        if (name == "comparator") return seen.first(3) && at_null() && null();
        if (name != "value") return skip_value();
        if (!seen.first(4)) return false;
        if (at_null()) return null();
        auto const n = text::read_number(p_, end_);
        if (!n) return false;
        double const v = n->is_integer ? static_cast<double>(n->integer) : n->real;
        if (!std::isfinite(v)) return false;
        q.value = v;
        return true;
    });
}

// read_subject: the reference text; a display that is not a string would be an issue.
bool entry_reader::subject_value(std::string& out) {
    if (at_null()) return null();
    seen_members seen;
    std::optional<std::string_view> display;
    return object([&](std::string_view name) {
        if (name == "reference") return seen.first(0) && string(out);
        if (name == "display") return seen.first(1) && string_view_value(display);
        return skip_value();
    });
}

}  // namespace

std::optional<observation_entry> read_observation_entry(char const*& at,
                                                        char const* end,
                                                        std::size_t max_open,
                                                        observation_code_filter const* keep,
                                                        observation& out) {
    entry_reader reader{at, end, max_open, keep};
    if (!reader.entry(out)) return std::nullopt;
    observation_entry read;
    read.kept = reader.kept(out);
    read.resource_count = reader.resource_count();
    at = reader.position();
    return read;
}

}  // namespace cds::fhir
