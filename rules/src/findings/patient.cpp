#include "findings/parts.hpp"
#include "trace/record.hpp"

namespace cds::rules {

std::optional<int> age_in_years(fhir::date_time const& birth, fhir::instant now) {
    auto const b = date::year_month_day{date::floor<date::days>(birth.start)};
    auto const n = date::year_month_day{date::floor<date::days>(now)};
    if (!b.ok() || !n.ok()) return std::nullopt;
    int years = static_cast<int>(n.year()) - static_cast<int>(b.year());
    if (n.month() < b.month() || (n.month() == b.month() && n.day() < b.day())) --years;
    if (years < 0) return std::nullopt;
    return years;
}

namespace findings {

bool names_other_patient(std::string_view subject, std::string_view patient_id) {
    if (subject.empty() || patient_id.empty()) return false;
    // The usual case, "Patient/<context id>", without taking the reference apart (a FHIR id
    // has no '/', so such a subject can only be read as that patient).
    constexpr std::string_view patient_prefix = "Patient/";
    if (subject.size() == patient_prefix.size() + patient_id.size() &&
        subject.starts_with(patient_prefix) && subject.ends_with(patient_id) &&
        patient_id.find('/') == std::string_view::npos) {
        return false;
    }
    fhir::reference const r = fhir::make_reference(subject);
    return r.kind == fhir::reference_kind::relative && r.type == "Patient" && r.id != patient_id;
}

void read_demographics(patient_findings& f,
                       fhir::patient_snapshot const& snapshot,
                       hook_context const& context,
                       trace_recorder trace) {
    fhir::patient const* patient_record =
        snapshot.patient_record ? &*snapshot.patient_record : nullptr;
    if (patient_record && !patient_record->id.empty() && !context.patient_id.empty() &&
        patient_record->id != context.patient_id) {
        if (trace)
            trace::about_resource(trace, trace_section::patient, trace_decision::skipped,
                                  trace_reason::other_patient, "Patient", patient_record->id,
                                  "Patient resource is not context.patientId: not used");
        patient_record = nullptr;
    }
    if (!patient_record) {
        if (trace)
            trace::about_value(trace, trace_section::patient, trace_decision::noted, "Patient",
                               "no Patient resource: age and sex unknown");
        return;
    }
    auto const& p = *patient_record;
    if (p.birth_date) f.age_years = age_in_years(*p.birth_date, f.now);
    f.gender = p.gender;
    f.gender_present = p.gender_present;
    if (!trace) return;
    auto& e = trace::about_resource(trace, trace_section::patient, trace_decision::counted,
                                    trace_reason::none, "Patient", p.id,
                                    f.age_years ? "age " + std::to_string(*f.age_years) + " years"
                                                : "age unknown (no birthDate)");
    if (f.age_years) e.values.push_back(trace::number("age", *f.age_years, "years"));
    static constexpr char const* gender_names[] = {"unknown", "male", "female", "other"};
    e.values.push_back(trace::text("sex", gender_names[static_cast<int>(f.gender)]));
}

}  // namespace findings
}  // namespace cds::rules
