#include "cds/fhir/resources.hpp"

#include <initializer_list>
#include <utility>

#include "json_read.hpp"

namespace cds::fhir {

namespace {

using boost::json::object;
using boost::json::value;
using detail::json_path;

// The resource's JSON object when its resourceType is one of `types`; otherwise nullptr with
// an error issue (the resource is skipped).
template <class Object>
Object const* resource_object(Object const& resource,
                              json_path const& path,
                              std::initializer_list<std::string_view> types,
                              std::string_view& type_out,
                              issue_list& issues) {
    Object const* o = &resource;
    auto const* type_value = detail::present(*o, "resourceType");
    auto const* type = type_value != nullptr ? type_value->if_string() : nullptr;
    if (type == nullptr) {
        detail::add_issue(issues, issue_severity::error, path,
                          type_value == nullptr ? "resource without resourceType; skipped"
                                                : "resourceType is not a string; resource skipped");
        return nullptr;
    }
    type_out = detail::view(*type);
    for (auto const expected : types) {
        if (type_out == expected) return o;
    }
    std::string message = "unexpected resourceType '";
    message.append(type_out.data(), type_out.size());
    message += "' (expected ";
    bool first = true;
    for (auto const expected : types) {
        if (!first) message += " or ";
        message.append(expected.data(), expected.size());
        first = false;
    }
    message += "); resource skipped";
    detail::add_issue(issues, issue_severity::error, path, std::move(message));
    return nullptr;
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

// Observation.subject and friends keep only the reference text. Reads it with the same checks
// (and issues) as reference_member, without splitting it into kind, type and id.
template <class Object>
void read_subject(std::string& out,
                  Object const& o,
                  std::string_view key,
                  json_path const& path,
                  issue_list& issues) {
    auto const* v = detail::present(o, key);
    if (v == nullptr) return;
    auto const* r = v->if_object();
    if (r == nullptr) {
        detail::report_wrong_type(issues, path.member(key), "a Reference object", *v);
        return;
    }
    auto const text = detail::string_member(*r, "reference", path.member(key), issues);
    (void)detail::string_member(*r, "display", path.member(key), issues);  // for its issue only
    if (text) out.assign(text->data(), text->size());
}

// The first non-empty code of a CodeableConcept (Condition.clinicalStatus and friends).
std::string first_code(codeable_concept const& cc) {
    for (auto const& c : cc.codings) {
        if (!c.code.empty()) return c.code;
    }
    return {};
}

// Condition.clinicalStatus / verificationStatus: a CodeableConcept in R4, a code string in
// DSTU2 and STU3.
template <class Object>
void read_status_code(std::string& out,
                      Object const& o,
                      std::string_view key,
                      json_path const& path,
                      issue_list& issues) {
    auto const* v = detail::present(o, key);
    if (v == nullptr) return;
    if (auto const* s = v->if_string()) {
        out.assign(s->data(), s->size());
        return;
    }
    if (v->is_object()) {
        if (auto cc = detail::read_codeable_concept(*v, path.member(key), issues))
            out = first_code(*cc);
        return;
    }
    detail::report_wrong_type(issues, path.member(key), "a CodeableConcept or a code string", *v);
}

// Fills `r` (default-constructed); false when `v` is not a Timing.repeat object.
template <class Value>
bool read_repeat(timing_repeat& r, Value const& v, json_path const& path, issue_list& issues) {
    auto const* o = v.if_object();
    if (o == nullptr) {
        detail::report_wrong_type(issues, path, "a Timing.repeat object", v);
        return false;
    }
    r.frequency = detail::number_member(*o, "frequency", path, issues);
    r.period = detail::number_member(*o, "period", path, issues);
    detail::copy_string_member(r.period_unit, *o, "periodUnit", path, issues);
    r.duration = detail::number_member(*o, "duration", path, issues);
    detail::copy_string_member(r.duration_unit, *o, "durationUnit", path, issues);
    // DSTU2 spelled these periodUnits / durationUnits.
    if (r.period_unit.empty())
        detail::copy_string_member(r.period_unit, *o, "periodUnits", path, issues);
    if (r.duration_unit.empty())
        detail::copy_string_member(r.duration_unit, *o, "durationUnits", path, issues);
    r.bounds_period = detail::period_member(*o, "boundsPeriod", path, issues);
    r.bounds_duration = detail::quantity_member(*o, "boundsDuration", path, issues);
    if (!r.bounds_duration) {
        // DSTU2 Timing.repeat.boundsQuantity (a Duration).
        r.bounds_duration = detail::quantity_member(*o, "boundsQuantity", path, issues);
    }
    return true;
}

template <class Object>
void read_rate_ratio(dosage& d, Object const& o, json_path const& path, issue_list& issues) {
    auto const* v = detail::present(o, "rateRatio");
    if (v == nullptr) return;
    auto const* ratio = v->if_object();
    if (ratio == nullptr) {
        detail::report_wrong_type(issues, path.member("rateRatio"), "a Ratio object", *v);
        return;
    }
    d.rate_numerator =
        detail::quantity_member(*ratio, "numerator", path.member("rateRatio"), issues);
    d.rate_denominator =
        detail::quantity_member(*ratio, "denominator", path.member("rateRatio"), issues);
}

// dose[x] and rate[x] from one object: an R4 doseAndRate element, or a DSTU2/STU3 Dosage.
template <class Object>
void read_dose_and_rate(dosage& d, Object const& o, json_path const& path, issue_list& issues) {
    if (!d.dose) d.dose = detail::quantity_member(o, "doseQuantity", path, issues);
    if (!d.has_rate()) {
        d.rate = detail::quantity_member(o, "rateQuantity", path, issues);
        read_rate_ratio(d, o, path, issues);
    }
}

// Fills `d` (default-constructed, in its place in the order's vector: a dosage is 900 bytes);
// false when `v` is not a Dosage object.
template <class Value>
bool read_dosage(dosage& d, Value const& v, json_path const& path, issue_list& issues) {
    auto const* o = v.if_object();
    if (o == nullptr) {
        detail::report_wrong_type(issues, path, "a Dosage object", v);
        return false;
    }
    detail::copy_string_member(d.text, *o, "text", path, issues);
    if (auto route = detail::codeable_concept_member(*o, "route", path, issues))
        d.route = std::move(*route);
    if (auto as_needed = detail::bool_member(*o, "asNeededBoolean", path, issues))
        d.as_needed = *as_needed;
    // A reason for "as needed" implies as needed (R4 Dosage.asNeeded[x]).
    if (detail::is_present(*o, "asNeededCodeableConcept")) d.as_needed = true;
    if (auto const* dose_and_rate = detail::present(*o, "doseAndRate")) {
        detail::for_each_element(*dose_and_rate, path.member("doseAndRate"), issues,
                                 [&](auto const& item, json_path const& p) {
                                     auto const* entry = item.if_object();
                                     if (entry == nullptr) {
                                         detail::report_wrong_type(
                                             issues, p, "a Dosage.doseAndRate object", item);
                                         return;
                                     }
                                     read_dose_and_rate(d, *entry, p, issues);
                                 });
    }
    read_dose_and_rate(d, *o, path, issues);
    if (auto const* timing = detail::present(*o, "timing")) {
        if (auto const* t = timing->if_object()) {
            if (auto const* repeat = detail::present(*t, "repeat")) {
                // The path's parts are temporaries: they must stay in this one expression.
                if (!read_repeat(d.repeat.emplace(), *repeat,
                                 path.member("timing").member("repeat"), issues))
                    d.repeat.reset();
            }
        } else {
            detail::report_wrong_type(issues, path.member("timing"), "a Timing object", *timing);
        }
    }
    return true;
}

template <class Object>
void read_dosages(std::vector<dosage>& out,
                  Object const& o,
                  std::string_view key,
                  json_path const& path,
                  issue_list& issues) {
    auto const* v = detail::present(o, key);
    if (v == nullptr) return;
    out.reserve(detail::list_room(*v));
    detail::for_each_element(*v, path.member(key), issues,
                             [&](auto const& item, json_path const& p) {
                                 if (!read_dosage(out.emplace_back(), item, p, issues))
                                     out.pop_back();
                             });
}

template <class Object>
void read_reference_list(std::vector<reference>& out,
                         Object const& o,
                         std::string_view key,
                         json_path const& path,
                         issue_list& issues) {
    auto const* v = detail::present(o, key);
    if (v == nullptr) return;
    detail::for_each_element(*v, path.member(key), issues,
                             [&](auto const& item, json_path const& p) {
                                 if (auto r = detail::read_reference(item, p, issues))
                                     out.push_back(std::move(*r));
                             });
}

}  // namespace

namespace detail {

template <class Object>
std::optional<patient> read_patient(Object const& resource,
                                    json_path const& path,
                                    issue_list& issues) {
    std::string_view type;
    auto const* o = resource_object(resource, path, {"Patient"}, type, issues);
    if (o == nullptr) return std::nullopt;
    patient p;
    detail::copy_string_member(p.id, *o, "id", path, issues);
    p.birth_date = detail::date_time_member(*o, "birthDate", path, issues);
    if (auto gender = detail::string_member(*o, "gender", path, issues)) {
        p.gender_present = true;
        if (*gender == "male") {
            p.gender = administrative_gender::male;
        } else if (*gender == "female") {
            p.gender = administrative_gender::female;
        } else if (*gender == "other") {
            p.gender = administrative_gender::other;
        } else if (*gender == "unknown") {
            p.gender = administrative_gender::unknown;
        } else {
            // Not guessed (e.g. "M"): the rules treat it like an absent gender.
            p.gender_present = false;
            detail::add_issue(
                issues, issue_severity::error, path.member("gender"),
                "unknown administrative gender code (expected male, female, other or unknown); "
                "element ignored");
        }
    }
    return p;
}

template <class Object>
bool read_observation(observation& obs,
                      Object const& resource,
                      json_path const& path,
                      issue_list& issues,
                      observation_code_filter const* keep,
                      bool* refused) {
    std::string_view type;
    auto const* o = resource_object(resource, path, {"Observation"}, type, issues);
    if (o == nullptr) return false;
    detail::copy_string_member(obs.id, *o, "id", path, issues);
    detail::copy_string_member(obs.status, *o, "status", path, issues);
    if (auto code = detail::codeable_concept_member(*o, "code", path, issues))
        obs.code = std::move(*code);
    if (keep != nullptr && !(*keep)(obs.code)) {
        if (refused != nullptr) *refused = true;
        return false;
    }
    obs.value_quantity = detail::quantity_member(*o, "valueQuantity", path, issues);
    obs.value_concept = detail::codeable_concept_member(*o, "valueCodeableConcept", path, issues);
    for (auto const& member : members(*o)) {
        std::string_view const key{member.key().data(), member.key().size()};
        if (starts_with(key, "value") && key != "valueQuantity" && key != "valueCodeableConcept" &&
            !member.value().is_null()) {
            obs.has_value_other = true;
        }
    }
    obs.data_absent = detail::is_present(*o, "dataAbsentReason");
    obs.effective_date_time = detail::date_time_member(*o, "effectiveDateTime", path, issues);
    obs.effective_period = detail::period_member(*o, "effectivePeriod", path, issues);
    obs.effective_instant = detail::date_time_member(*o, "effectiveInstant", path, issues);
    obs.issued = detail::date_time_member(*o, "issued", path, issues);
    read_subject(obs.subject, *o, "subject", path, issues);
    if (auto const* components = detail::present(*o, "component")) {
        detail::for_each_element(
            *components, path.member("component"), issues,
            [&](auto const& item, json_path const& p) {
                auto const* c = item.if_object();
                if (c == nullptr) {
                    detail::report_wrong_type(issues, p, "an Observation.component object", item);
                    return;
                }
                observation_component component;
                if (auto code = detail::codeable_concept_member(*c, "code", p, issues))
                    component.code = std::move(*code);
                component.value_quantity = detail::quantity_member(*c, "valueQuantity", p, issues);
                component.data_absent = detail::is_present(*c, "dataAbsentReason");
                obs.components.push_back(std::move(component));
            });
    }
    return true;
}

namespace {

// The drug: a code, or a reference to a Medication.
template <class Object>
void read_medication_member(medication_order& order,
                            Object const& o,
                            json_path const& path,
                            issue_list& issues) {
    order.medication_concept =
        detail::codeable_concept_member(o, "medicationCodeableConcept", path, issues);
    order.medication_reference = detail::reference_member(o, "medicationReference", path, issues);
    if (!order.medication_concept && !order.medication_reference) {
        // R5 medication as a CodeableReference {concept, reference}; harmless to accept.
        if (auto const* m = detail::present(o, "medication"); m != nullptr && m->is_object()) {
            auto const& med = m->get_object();
            order.medication_concept =
                detail::codeable_concept_member(med, "concept", path.member("medication"), issues);
            order.medication_reference =
                detail::reference_member(med, "reference", path.member("medication"), issues);
        }
    }
}

// The order's date and dosages, named differently by each resource type.
template <class Object>
void read_dates_and_dosages(medication_order& order,
                            Object const& o,
                            json_path const& path,
                            issue_list& issues) {
    switch (order.kind) {
        case medication_resource_kind::medication_request:
            order.authored_on = detail::date_time_member(o, "authoredOn", path, issues);
            read_dosages(order.dosages, o, "dosageInstruction", path, issues);
            break;
        case medication_resource_kind::medication_order:
            order.authored_on = detail::date_time_member(o, "dateWritten", path, issues);
            read_dosages(order.dosages, o, "dosageInstruction", path, issues);
            break;
        case medication_resource_kind::medication_statement:
            order.effective_date_time =
                detail::date_time_member(o, "effectiveDateTime", path, issues);
            order.effective_period = detail::period_member(o, "effectivePeriod", path, issues);
            order.authored_on = detail::date_time_member(o, "dateAsserted", path, issues);
            if (!order.authored_on) order.authored_on = order.effective_date_time;
            if (!order.authored_on && order.effective_period)
                order.authored_on = order.effective_period->start;
            read_dosages(order.dosages, o, "dosage", path, issues);
            break;
    }
}

template <class Object>
void read_dispense_request(medication_order& order,
                           Object const& o,
                           json_path const& path,
                           issue_list& issues) {
    if (auto const* dispense = detail::present(o, "dispenseRequest")) {
        if (auto const* d = dispense->if_object()) {
            order.expected_supply_duration = detail::quantity_member(
                *d, "expectedSupplyDuration", path.member("dispenseRequest"), issues);
            order.validity_period =
                detail::period_member(*d, "validityPeriod", path.member("dispenseRequest"), issues);
        } else {
            detail::report_wrong_type(issues, path.member("dispenseRequest"),
                                      "a dispenseRequest object", *dispense);
        }
    }
}

// Contained Medications and Conditions, which the order's references may name.
template <class Object>
void read_contained_resources(medication_order& order,
                              Object const& o,
                              json_path const& path,
                              issue_list& issues) {
    if (auto const* contained = detail::present(o, "contained")) {
        detail::for_each_element(*contained, path.member("contained"), issues,
                                 [&](auto const& item, json_path const& p) {
                                     auto const* c = item.if_object();
                                     if (c == nullptr) {
                                         detail::report_wrong_type(
                                             issues, p, "a contained resource object", item);
                                         return;
                                     }
                                     auto const* t = detail::present(*c, "resourceType");
                                     if (t == nullptr || !t->is_string()) return;
                                     if (t->get_string() == "Medication") {
                                         if (auto med = detail::read_medication(*c, p, issues))
                                             order.contained_medications.push_back(std::move(*med));
                                     } else if (t->get_string() == "Condition") {
                                         if (auto cond = detail::read_condition(*c, p, issues))
                                             order.contained_conditions.push_back(std::move(*cond));
                                     }
                                 });
    }
}

}  // namespace

template <class Object>
bool read_medication_order(medication_order& order,
                           Object const& resource,
                           json_path const& path,
                           issue_list& issues) {
    std::string_view type;
    auto const* o = resource_object(resource, path,
                                    {"MedicationRequest", "MedicationOrder", "MedicationStatement"},
                                    type, issues);
    if (o == nullptr) return false;
    order.kind = type == "MedicationRequest" ? medication_resource_kind::medication_request
                 : type == "MedicationOrder" ? medication_resource_kind::medication_order
                                             : medication_resource_kind::medication_statement;
    order.resource_type.assign(type.data(), type.size());
    detail::copy_string_member(order.id, *o, "id", path, issues);
    detail::copy_string_member(order.status, *o, "status", path, issues);
    detail::copy_string_member(order.intent, *o, "intent", path, issues);
    read_medication_member(order, *o, path, issues);
    read_dates_and_dosages(order, *o, path, issues);
    read_dispense_request(order, *o, path, issues);
    detail::codeable_concept_list_member(order.reason_codes, *o, "reasonCode", path, issues);
    // DSTU2 MedicationOrder.reasonCodeableConcept (0..1).
    detail::codeable_concept_list_member(order.reason_codes, *o, "reasonCodeableConcept", path,
                                         issues);
    read_reference_list(order.reason_references, *o, "reasonReference", path, issues);
    detail::codeable_concept_list_member(order.categories, *o, "category", path, issues);
    read_contained_resources(order, *o, path, issues);

    read_subject(order.subject, *o, "subject", path, issues);
    if (order.subject.empty()) read_subject(order.subject, *o, "patient", path, issues);  // DSTU2
    order.source_path = path.str();
    return true;
}

template <class Object>
std::optional<condition> read_condition(Object const& resource,
                                        json_path const& path,
                                        issue_list& issues) {
    std::string_view type;
    auto const* o = resource_object(resource, path, {"Condition"}, type, issues);
    if (o == nullptr) return std::nullopt;
    condition c;
    detail::copy_string_member(c.id, *o, "id", path, issues);
    if (auto code = detail::codeable_concept_member(*o, "code", path, issues))
        c.code = std::move(*code);
    read_status_code(c.clinical_status, *o, "clinicalStatus", path, issues);
    read_status_code(c.verification_status, *o, "verificationStatus", path, issues);
    read_subject(c.subject, *o, "subject", path, issues);
    if (c.subject.empty()) read_subject(c.subject, *o, "patient", path, issues);  // DSTU2
    c.onset = detail::date_time_member(*o, "onsetDateTime", path, issues);
    if (!c.onset) {
        if (auto onset_period = detail::period_member(*o, "onsetPeriod", path, issues))
            c.onset = onset_period->start;
    }
    for (std::string_view const key :
         {"onsetDateTime", "onsetPeriod", "onsetAge", "onsetRange", "onsetString"}) {
        c.onset_given = c.onset_given || detail::is_present(*o, key);
    }
    // recordedDate (R4), dateRecorded (DSTU2), assertedDate (STU3).
    for (std::string_view const key : {"recordedDate", "dateRecorded", "assertedDate"}) {
        if (c.recorded_date) break;
        c.recorded_date = detail::date_time_member(*o, key, path, issues);
    }
    for (auto const& member : members(*o)) {
        std::string_view const key{member.key().data(), member.key().size()};
        if (!starts_with(key, "abatement") || member.value().is_null()) continue;
        if (key == "abatementBoolean") {
            // DSTU2: abatementBoolean false says the condition has not abated.
            if (auto const* b = member.value().if_bool()) {
                c.abated = c.abated || *b;
            } else {
                detail::report_wrong_type(issues, path.member("abatementBoolean"), "a boolean",
                                          member.value());
            }
        } else {
            c.abated = true;
        }
    }
    detail::codeable_concept_list_member(c.categories, *o, "category", path, issues);
    return c;
}

template <class Object>
std::optional<service_request> read_service_request(Object const& resource,
                                                    json_path const& path,
                                                    issue_list& issues) {
    std::string_view type;
    auto const* o = resource_object(resource, path, {"ServiceRequest"}, type, issues);
    if (o == nullptr) return std::nullopt;
    service_request r;
    detail::copy_string_member(r.id, *o, "id", path, issues);
    detail::copy_string_member(r.status, *o, "status", path, issues);
    detail::copy_string_member(r.intent, *o, "intent", path, issues);
    if (auto code = detail::codeable_concept_member(*o, "code", path, issues))
        r.code = std::move(*code);
    r.occurrence_date_time = detail::date_time_member(*o, "occurrenceDateTime", path, issues);
    r.occurrence_period = detail::period_member(*o, "occurrencePeriod", path, issues);
    for (std::string_view const key :
         {"occurrenceDateTime", "occurrencePeriod", "occurrenceTiming"}) {
        r.occurrence_given = r.occurrence_given || detail::is_present(*o, key);
    }
    r.authored_on = detail::date_time_member(*o, "authoredOn", path, issues);
    read_subject(r.subject, *o, "subject", path, issues);
    return r;
}

template <class Object>
std::optional<medication> read_medication(Object const& resource,
                                          json_path const& path,
                                          issue_list& issues) {
    std::string_view type;
    auto const* o = resource_object(resource, path, {"Medication"}, type, issues);
    if (o == nullptr) return std::nullopt;
    medication m;
    copy_string_member(m.id, *o, "id", path, issues);
    if (auto code = codeable_concept_member(*o, "code", path, issues)) m.code = std::move(*code);
    if (auto form = codeable_concept_member(*o, "form", path, issues)) m.form = std::move(*form);
    if (auto const* ingredients = detail::present(*o, "ingredient")) {
        for_each_element(
            *ingredients, path.member("ingredient"), issues,
            [&](auto const& item, json_path const& p) {
                auto const* ingredient = item.if_object();
                if (ingredient == nullptr) {
                    report_wrong_type(issues, p, "a Medication.ingredient object", item);
                    return;
                }
                if (auto cc =
                        codeable_concept_member(*ingredient, "itemCodeableConcept", p, issues)) {
                    m.ingredients.push_back(std::move(*cc));
                }
                if (auto r = reference_member(*ingredient, "itemReference", p, issues)) {
                    m.ingredient_references.push_back(std::move(r->reference));
                }
                // R5 ingredient.item is a CodeableReference {concept, reference}.
                if (auto const* item_value = detail::present(*ingredient, "item");
                    item_value != nullptr && item_value->is_object()) {
                    auto const& cr = item_value->get_object();
                    if (auto cc =
                            codeable_concept_member(cr, "concept", p.member("item"), issues)) {
                        m.ingredients.push_back(std::move(*cc));
                    }
                    if (auto r = reference_member(cr, "reference", p.member("item"), issues)) {
                        m.ingredient_references.push_back(std::move(r->reference));
                    }
                }
            });
    }
    return m;
}

// The resource readers for both kinds of JSON (json_read.hpp).
#define CDS_FHIR_INSTANTIATE_RESOURCE_READERS(Object)                                             \
    template std::optional<patient> read_patient(Object const&, json_path const&, issue_list&);   \
    template bool read_observation(observation&, Object const&, json_path const&, issue_list&,    \
                                   observation_code_filter const*, bool*);                        \
    template std::optional<medication> read_medication(Object const&, json_path const&,           \
                                                       issue_list&);                              \
    template bool read_medication_order(medication_order&, Object const&, json_path const&,       \
                                        issue_list&);                                             \
    template std::optional<condition> read_condition(Object const&, json_path const&,             \
                                                     issue_list&);                                \
    template std::optional<service_request> read_service_request(Object const&, json_path const&, \
                                                                 issue_list&);

CDS_FHIR_INSTANTIATE_RESOURCE_READERS(boost::json::object)
CDS_FHIR_INSTANTIATE_RESOURCE_READERS(tape_node)
#undef CDS_FHIR_INSTANTIATE_RESOURCE_READERS

}  // namespace detail

namespace {

template <class T>
std::optional<T> read_resource(value const& v,
                               std::string const& path,
                               issue_list& issues,
                               std::optional<T> (*reader)(object const&,
                                                          json_path const&,
                                                          issue_list&)) {
    json_path const root{path};
    if (auto const* o = v.if_object()) return reader(*o, root, issues);
    detail::report_wrong_type(issues, root, "a FHIR resource object", v);
    return std::nullopt;
}

// A reader that fills the object it is given (read_observation, read_medication_order), as
// one that returns it.
template <class T, bool (*fill)(T&, object const&, json_path const&, issue_list&)>
std::optional<T> read_returned(object const& o, json_path const& path, issue_list& issues) {
    std::optional<T> out{std::in_place};
    if (!fill(*out, o, path, issues)) out.reset();
    return out;
}

bool read_every_observation(observation& out,
                            object const& o,
                            json_path const& path,
                            issue_list& issues) {
    return detail::read_observation(out, o, path, issues);
}

}  // namespace

std::optional<date_time> observation::result_time() const {
    if (effective_date_time) return effective_date_time;
    if (effective_period) {
        if (effective_period->end) return effective_period->end;
        if (effective_period->start) return effective_period->start;
    }
    if (effective_instant) return effective_instant;
    return issued;
}

std::optional<date_time> service_request::occurrence_time() const {
    if (occurrence_date_time) return occurrence_date_time;
    if (occurrence_period) {
        if (occurrence_period->start) return occurrence_period->start;
        return occurrence_period->end;
    }
    return std::nullopt;
}

std::optional<patient> parse_patient(value const& v, std::string const& path, issue_list& issues) {
    return read_resource(v, path, issues, &detail::read_patient<object>);
}

std::optional<observation> parse_observation(value const& v,
                                             std::string const& path,
                                             issue_list& issues) {
    return read_resource(v, path, issues, &read_returned<observation, &read_every_observation>);
}

std::optional<medication> parse_medication(value const& v,
                                           std::string const& path,
                                           issue_list& issues) {
    return read_resource(v, path, issues, &detail::read_medication<object>);
}

std::optional<medication_order> parse_medication_order(value const& v,
                                                       std::string const& path,
                                                       issue_list& issues) {
    return read_resource(v, path, issues,
                         &read_returned<medication_order, &detail::read_medication_order<object>>);
}

std::optional<condition> parse_condition(value const& v,
                                         std::string const& path,
                                         issue_list& issues) {
    return read_resource(v, path, issues, &detail::read_condition<object>);
}

std::optional<service_request> parse_service_request(value const& v,
                                                     std::string const& path,
                                                     issue_list& issues) {
    return read_resource(v, path, issues, &detail::read_service_request<object>);
}

}  // namespace cds::fhir
