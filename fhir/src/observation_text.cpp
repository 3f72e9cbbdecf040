#include "cds/fhir/observation_text.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "entry_text.hpp"

namespace cds::fhir {
namespace {

using entry_text::seen_members;

// An Observation entry, read as snapshot_builder::add_bundle_entry reads its tape.
class observation_reader : public entry_text::text_reader {
public:
    observation_reader(char const* at,
                       char const* end,
                       std::size_t max_open,
                       observation_code_filter const* keep)
        : text_reader(at, end, max_open), keep_(keep) {}

    bool read(observation& obs) {
        return entry([&](bool& found) { return resource(obs, found); });
    }
    // The code filter's verdict, asked once: as soon as the code is read, or at the end.
    bool kept(observation const& obs) {
        if (!kept_) kept_ = keep_ == nullptr || (*keep_)(obs.code);
        return *kept_;
    }

private:
    bool resource(observation& obs, bool& found);
    bool resource_member(std::string_view name, observation& obs, seen_members& seen, bool& found);
    bool observation_type(bool& found);
    bool value_member(std::string_view name, observation& obs);

    observation_code_filter const* keep_;
    std::optional<bool> kept_;
    std::vector<std::string> other_value_names_;  // value[x] members other than those read
};

bool observation_reader::resource(observation& obs, bool& found) {
    seen_members seen;
    return resource_object(
        [&](std::string_view name) { return resource_member(name, obs, seen, found); });
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
bool observation_reader::resource_member(std::string_view name,
                                         observation& obs,
                                         seen_members& seen,
                                         bool& found) {
    using enum observation_member;
    auto const member = observation_member_named(name);
    if (member == other) return skip_value();
    if (member == other_value) return value_member(name, obs);
    if (!seen.first(static_cast<unsigned>(member))) return false;
    bool const identity = member == resource_type || member == id || member == status;
    if (!identity && kept_ == false) return skip_value();
    switch (member) {
        case resource_type:
            return observation_type(found);
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
            return optional_codeable_concept(obs.value_concept);
        case other_value:
        case other:
            break;
    }
    return false;
}

bool observation_reader::observation_type(bool& found) {
    std::optional<std::string_view> type;
    if (!string_view_value(type) || type != "Observation") return false;
    found = true;
    return true;
}

// Another value[x] (valueString, valueBoolean, ...): only whether one is there is kept. An
// Observation has one value[x]: past a few names the entry is declined, so that looking for a
// repeated one stays a short search (a body of 100,000 names took half a minute without this
// bound; the tape path sorts the names).
bool observation_reader::value_member(std::string_view name, observation& obs) {
    constexpr std::size_t max_other_value_names = 8;
    if (other_value_names_.size() == max_other_value_names) return false;
    for (auto const& seen : other_value_names_) {
        if (seen == name) return false;
    }
    other_value_names_.emplace_back(name);
    if (!at_null()) obs.has_value_other = true;
    return skip_value();
}

}  // namespace

std::optional<observation_entry> read_observation_entry(char const*& at,
                                                        char const* end,
                                                        std::size_t max_open,
                                                        observation_code_filter const* keep,
                                                        observation& out) {
    observation_reader reader{at, end, max_open, keep};
    if (!reader.read(out)) return std::nullopt;
    observation_entry read;
    read.kept = reader.kept(out);
    read.resource_count = reader.resource_count();
    at = reader.position();
    return read;
}

}  // namespace cds::fhir
