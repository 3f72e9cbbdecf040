#include "cds/fhir/medication_request_text.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "entry_text.hpp"

namespace cds::fhir {
namespace {

using entry_text::seen_members;

// The MedicationRequest members read_medication_order reads, and those it reads only in
// place of others (declined unless null); each doubles as a bit position in seen_members.
enum class request_member : unsigned {
    resource_type,
    id,
    status,
    intent,
    medication_codeable_concept,
    medication_reference,
    authored_on,
    dosage_instruction,
    dispense_request,
    reason_code,
    reason_reference,
    category,
    subject,
    medication,               // R5 CodeableReference
    reason_codeable_concept,  // DSTU2
    patient,                  // DSTU2
    contained,
    other,
};

// Which member `name` is: one comparison or two after a switch on its length.
request_member request_member_named(std::string_view name) {
    using enum request_member;
    auto const is = [name](std::string_view known) { return name == known; };
    switch (name.size()) {
        case 2:
            return is("id") ? id : other;
        case 6:
            return is("status") ? status : is("intent") ? intent : other;
        case 7:
            return is("subject") ? subject : is("patient") ? patient : other;
        case 8:
            return is("category") ? category : other;
        case 9:
            return is("contained") ? contained : other;
        case 10:
            return is("authoredOn")   ? authored_on
                   : is("reasonCode") ? reason_code
                   : is("medication") ? medication
                                      : other;
        case 12:
            return is("resourceType") ? resource_type : other;
        case 15:
            return is("dispenseRequest")   ? dispense_request
                   : is("reasonReference") ? reason_reference
                                           : other;
        case 17:
            return is("dosageInstruction") ? dosage_instruction : other;
        case 19:
            return is("medicationReference") ? medication_reference : other;
        case 21:
            return is("reasonCodeableConcept") ? reason_codeable_concept : other;
        case 25:
            return is("medicationCodeableConcept") ? medication_codeable_concept : other;
        default:
            return other;
    }
}

// dose[x] and rate[x] as one object states them (a doseAndRate element, or the Dosage itself).
struct dose_and_rate {
    std::optional<quantity> dose;
    std::optional<quantity> rate;
    std::optional<quantity> rate_numerator;
    std::optional<quantity> rate_denominator;
};

// A MedicationRequest entry, read as snapshot_builder::add_bundle_entry reads its tape.
class medication_request_reader : public entry_text::text_reader {
public:
    using text_reader::text_reader;

    bool read(medication_order& order) {
        return entry([&](bool& found) { return resource(order, found); });
    }

private:
    bool resource(medication_order& order, bool& found);
    bool resource_member(request_member member, medication_order& order, bool& found);
    bool request_type(medication_order& order, bool& found);
    bool only_null() { return at_null() && null(); }
    bool dispense(medication_order& order);
    bool codeable_concepts(std::vector<codeable_concept>& out);
    bool references(std::vector<reference>& out);
    bool dosage_value(dosage& d);
    bool dose_and_rate_element(dosage& d);
    bool dose_and_rate_member(std::string_view name, dose_and_rate& read, seen_members& seen);
    bool rate_ratio(dose_and_rate& read);
    bool timing(std::optional<timing_repeat>& out);
    bool repeat(timing_repeat& r);
};

bool medication_request_reader::resource(medication_order& order, bool& found) {
    seen_members seen;
    return resource_object([&](std::string_view name) {
        auto const member = request_member_named(name);
        if (member == request_member::other) return skip_value();
        return seen.first(static_cast<unsigned>(member)) && resource_member(member, order, found);
    });
}

// read_medication_order's reading of one member, for a MedicationRequest.
bool medication_request_reader::resource_member(request_member member,
                                                medication_order& order,
                                                bool& found) {
    using enum request_member;
    switch (member) {
        case resource_type:
            return request_type(order, found);
        case id:
            return string(order.id);
        case status:
            return string(order.status);
        case intent:
            return string(order.intent);
        case medication_codeable_concept:
            return optional_codeable_concept(order.medication_concept);
        case medication_reference:
            return reference_value(order.medication_reference);
        case authored_on:
            return date_time_value(order.authored_on);
        case dosage_instruction:
            if (at_null()) return null();
            return items([&] { return dosage_value(order.dosages.emplace_back()); });
        case dispense_request:
            return dispense(order);
        case reason_code:
            return codeable_concepts(order.reason_codes);
        case reason_reference:
            return references(order.reason_references);
        case category:
            return codeable_concepts(order.categories);
        case subject:
            return subject_value(order.subject);
        case medication:
        case reason_codeable_concept:
        case patient:
        case contained:
            return only_null();
        case other:
            break;
    }
    return false;
}

bool medication_request_reader::request_type(medication_order& order, bool& found) {
    std::optional<std::string_view> type;
    if (!string_view_value(type) || type != "MedicationRequest") return false;
    order.kind = medication_resource_kind::medication_request;
    order.resource_type = "MedicationRequest";
    found = true;
    return true;
}

bool medication_request_reader::dispense(medication_order& order) {
    if (at_null()) return null();
    seen_members seen;
    return object([&](std::string_view name) {
        if (name == "expectedSupplyDuration")
            return seen.first(0) && quantity_value(order.expected_supply_duration);
        if (name == "validityPeriod") return seen.first(1) && period_value(order.validity_period);
        return skip_value();
    });
}

// codeable_concept_list_member: an array of CodeableConcepts, or one sent instead (as the CDS
// Hooks sandbox sends category and reasonCode).
bool medication_request_reader::codeable_concepts(std::vector<codeable_concept>& out) {
    if (at_null()) return null();
    return items([&] { return codeable_concept_value(out.emplace_back()); });
}

bool medication_request_reader::references(std::vector<reference>& out) {
    if (at_null()) return null();
    return items([&] {
        std::optional<reference> r;
        if (at_null() || !reference_value(r)) return false;
        out.push_back(std::move(*r));
        return true;
    });
}

// read_dosage. The Dosage's own dose and rate count only where its doseAndRate elements gave
// none, whichever the text writes first.
bool medication_request_reader::dosage_value(dosage& d) {
    dose_and_rate own;
    std::optional<bool> as_needed;
    bool as_needed_for = false;  // asNeededCodeableConcept: a reason implies "as needed"
    seen_members seen;
    bool const read = object([&](std::string_view name) {
        if (name == "text") return seen.first(0) && string(d.text);
        if (name == "route")
            return seen.first(1) && (at_null() ? null() : codeable_concept_value(d.route));
        if (name == "asNeededBoolean") return seen.first(2) && boolean(as_needed);
        if (name == "asNeededCodeableConcept") {
            if (!seen.first(3)) return false;
            as_needed_for = !at_null();
            return skip_value();
        }
        if (name == "doseAndRate") {
            if (!seen.first(4)) return false;
            if (at_null()) return null();
            return items([&] { return dose_and_rate_element(d); });
        }
        if (name == "timing") return seen.first(5) && timing(d.repeat);
        return dose_and_rate_member(name, own, seen);
    });
    if (!read) return false;
    d.as_needed = as_needed.value_or(false) || as_needed_for;
    if (!d.dose) d.dose = std::move(own.dose);
    if (!d.has_rate()) {
        d.rate = std::move(own.rate);
        d.rate_numerator = std::move(own.rate_numerator);
        d.rate_denominator = std::move(own.rate_denominator);
    }
    return true;
}

// One doseAndRate element: read_dose_and_rate takes its dose when no earlier element gave
// one, and its rate when none gave a rate; what it does not take it never reads.
bool medication_request_reader::dose_and_rate_element(dosage& d) {
    bool const takes_dose = !d.dose;
    bool const takes_rate = !d.has_rate();
    dose_and_rate read;
    seen_members seen;
    if (!object([&](std::string_view name) { return dose_and_rate_member(name, read, seen); }))
        return false;
    if (takes_dose) d.dose = std::move(read.dose);
    if (takes_rate) {
        d.rate = std::move(read.rate);
        d.rate_numerator = std::move(read.rate_numerator);
        d.rate_denominator = std::move(read.rate_denominator);
    }
    return true;
}

// doseQuantity, rateQuantity and rateRatio (bits 16 to 18 of the object's seen_members);
// any other name is skipped.
bool medication_request_reader::dose_and_rate_member(std::string_view name,
                                                     dose_and_rate& read,
                                                     seen_members& seen) {
    if (name == "doseQuantity") return seen.first(16) && quantity_value(read.dose);
    if (name == "rateQuantity") return seen.first(17) && quantity_value(read.rate);
    if (name == "rateRatio") return seen.first(18) && rate_ratio(read);
    return skip_value();
}

bool medication_request_reader::rate_ratio(dose_and_rate& read) {
    if (at_null()) return null();
    seen_members seen;
    return object([&](std::string_view name) {
        if (name == "numerator") return seen.first(0) && quantity_value(read.rate_numerator);
        if (name == "denominator") return seen.first(1) && quantity_value(read.rate_denominator);
        return skip_value();
    });
}

bool medication_request_reader::timing(std::optional<timing_repeat>& out) {
    if (at_null()) return null();
    seen_members seen;
    return object([&](std::string_view name) {
        if (name != "repeat") return skip_value();
        if (!seen.first(0)) return false;
        if (at_null()) return null();
        return repeat(out.emplace());
    });
}

// read_repeat; DSTU2's periodUnits, durationUnits and boundsQuantity count where the R4 name
// gave nothing.
bool medication_request_reader::repeat(timing_repeat& r) {
    std::optional<std::string> period_units;
    std::optional<std::string> duration_units;
    std::optional<quantity> bounds_quantity;
    seen_members seen;
    bool const read = object([&](std::string_view name) {
        if (name == "frequency") return seen.first(0) && number(r.frequency);
        if (name == "period") return seen.first(1) && number(r.period);
        if (name == "periodUnit") return seen.first(2) && string(r.period_unit);
        if (name == "duration") return seen.first(3) && number(r.duration);
        if (name == "durationUnit") return seen.first(4) && string(r.duration_unit);
        if (name == "boundsPeriod") return seen.first(5) && period_value(r.bounds_period);
        if (name == "boundsDuration") return seen.first(6) && quantity_value(r.bounds_duration);
        if (name == "boundsQuantity") return seen.first(7) && quantity_value(bounds_quantity);
        if (name == "periodUnits") return seen.first(8) && optional_string(period_units);
        if (name == "durationUnits") return seen.first(9) && optional_string(duration_units);
        return skip_value();
    });
    if (!read) return false;
    if (r.period_unit.empty() && period_units) r.period_unit = std::move(*period_units);
    if (r.duration_unit.empty() && duration_units) r.duration_unit = std::move(*duration_units);
    if (!r.bounds_duration) r.bounds_duration = std::move(bounds_quantity);
    return true;
}

}  // namespace

std::optional<medication_request_entry> read_medication_request_entry(char const*& at,
                                                                      char const* end,
                                                                      std::size_t max_open,
                                                                      medication_order& out) {
    medication_request_reader reader{at, end, max_open};
    if (!reader.read(out)) return std::nullopt;
    at = reader.position();
    return medication_request_entry{reader.resource_count()};
}

}  // namespace cds::fhir
