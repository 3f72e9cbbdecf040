#pragma once
// The parts build_findings is made of, one concern per file (CLINICAL-BASIS.md §1–§2). Each
// part reads the snapshot or what an earlier part kept, fills its fields of patient_findings,
// and says what it decided in the trace (trace/record.hpp).

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "findings.hpp"

namespace cds::rules::findings {

using fhir::instant;

[[nodiscard]] inline double hours_between(instant from, instant to) {
    return std::chrono::duration<double, std::ratio<3600>>(to - from).count();
}

// True when `subject` names a Patient other than the context patient: such a resource never
// counts (CLINICAL-BASIS.md §1 "Which resources"). A resource without a subject, or whose
// subject is not a Patient reference (contained, urn:uuid, identifier only), is taken as the
// context patient's.
[[nodiscard]] bool names_other_patient(std::string_view subject, std::string_view patient_id);

inline constexpr char const* other_patient_note =
    "subject names a patient other than context.patientId: not counted";

enum class obs_kind {
    magnesium_total,
    magnesium_ionized,
    creatinine,
    egfr,
    creatinine_clearance,
    potassium,
    calcium_total,
    calcium_ionized,
    body_weight,
    qtc,
    pregnancy_status,
    other
};
inline constexpr std::size_t obs_kind_count = static_cast<std::size_t>(obs_kind::other);

// The newest usable result of each kind, and of the pregnancy status.
struct newest_results {
    std::array<std::optional<lab_result>, obs_kind_count> by_kind;
    std::optional<lab_result> pregnancy_status;
    bool pregnancy_status_pregnant = false;

    [[nodiscard]] std::optional<lab_result> const& of(obs_kind k) const {
        return by_kind[static_cast<std::size_t>(k)];
    }
};

// Conditions (conditions.cpp).
[[nodiscard]] bool condition_counts(fhir::condition const& c, rule_set_data const& d);
[[nodiscard]] bool condition_in(fhir::condition const& c, value_set const& vs);
[[nodiscard]] bool condition_recent(fhir::condition const& c, instant now, double days);
[[nodiscard]] std::string condition_label(fhir::condition const& c, rule_set_data const& d);

// patient.cpp
void read_demographics(patient_findings& f,
                       fhir::patient_snapshot const& snapshot,
                       hook_context const& context,
                       trace_recorder trace);
// observations.cpp
void compile_observation_kinds(rule_set_data& d);
[[nodiscard]] newest_results read_observations(patient_findings& f,
                                               fhir::patient_snapshot const& snapshot,
                                               hook_context const& context,
                                               rule_set_data const& d,
                                               trace_recorder trace);
[[nodiscard]] bool reads_observation(fhir::codeable_concept const& code, rule_set_data const& d);
// magnesium.cpp
void assess_magnesium(patient_findings& f,
                      newest_results const& newest,
                      rule_set_data const& d,
                      trace_recorder trace);
// coexisting.cpp
void read_coexisting(patient_findings& f, newest_results const& newest, rule_set_data const& d);
// conditions.cpp: every Condition of the patient, each read by the parts below.
void read_conditions(patient_findings& f,
                     fhir::patient_snapshot const& snapshot,
                     hook_context const& context,
                     rule_set_data const& d,
                     trace_recorder trace);
void read_exemption_condition(patient_findings& f,
                              fhir::condition const& c,
                              rule_set_data const& d);
// renal.cpp
void read_ckd5_condition(patient_findings& f, fhir::condition const& c, rule_set_data const& d);
void assess_renal(patient_findings& f,
                  newest_results const& newest,
                  rule_set_data const& d,
                  trace_recorder trace);
// pregnancy.cpp
void read_pregnancy_condition(patient_findings& f,
                              fhir::condition const& c,
                              rule_set_data const& d);
void apply_pregnancy_status(patient_findings& f,
                            newest_results const& newest,
                            rule_set_data const& d);
// symptoms.cpp
void read_symptom_condition(patient_findings& f,
                            fhir::condition const& c,
                            rule_set_data const& d,
                            trace_recorder trace);
void add_qtc_symptom(patient_findings& f, rule_set_data const& d, trace_recorder trace);
// unavailable.cpp
void note_unavailable_data(patient_findings& f,
                           hook_context const& context,
                           rule_set_data const& d,
                           trace_recorder trace);
// level_orders.cpp
void read_level_orders(patient_findings& f,
                       fhir::patient_snapshot const& snapshot,
                       hook_context const& context,
                       rule_set_data const& d,
                       trace_recorder trace);
// exposures.cpp
void compile_drug_classes(rule_set_data& d);
void read_exposures(patient_findings& f,
                    fhir::patient_snapshot const& snapshot,
                    hook_context const& context,
                    rule_set_data const& d,
                    trace_recorder trace);

}  // namespace cds::rules::findings
