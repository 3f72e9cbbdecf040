#pragma once
// Findings: typed facts read from the snapshot once per request (CLINICAL-BASIS.md §1–§2),
// each with the evidence it used, so every rule is a small function over them.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cds/fhir/snapshot.hpp"
#include "cds/rules/evaluate.hpp"
#include "rule_set_data.hpp"
#include "trace/recorder.hpp"

namespace cds::rules {

enum class mg_level { severe, mild_moderate, normal, high };

// One numeric result converted to the unit the rules compare in.
struct lab_result {
    fhir::observation const* obs = nullptr;
    double value = 0;  // converted (mg/dL for Mg, mmol/L for K, mL/min for renal, ...)
    double reported_value = 0;
    std::string reported_unit;
    fhir::quantity_comparator comparator = fhir::quantity_comparator::none;
    fhir::instant time{};
    fhir::instant issued{};
    double age_hours = 0;
    bool preliminary = false;
    std::string reference;  // "Observation/<id>"
};

// Classifies a (converted) serum Mg value, honouring the comparator: "<1.2" is severe,
// "<=1.2" is taken as 1.2, ">2.5" is hypermagnesemia (CLINICAL-BASIS.md §1).
[[nodiscard]] mg_level classify_magnesium(double mg_dl,
                                          fhir::quantity_comparator cmp,
                                          rule_set_data const& d);
// False for a bound that says neither "low" nor "normal" (CLINICAL-BASIS.md §7): ">"/">=" below
// the hypermagnesemia threshold, "<"/"<=" above the low threshold. Such a result never counts.
[[nodiscard]] bool magnesium_comparator_classifies(double mg_dl,
                                                   fhir::quantity_comparator cmp,
                                                   rule_set_data const& d);
// Band for an estimate in mL/min (CLINICAL-BASIS.md §1: 59.5 impaired, 20.0 severely impaired),
// compared as a decimal (§7), so an estimate of exactly 20.0, 30.0 or 60.0 starts its band.
[[nodiscard]] renal_band band_for(double ml_min, rule_set_data const& d);
// Cockcroft-Gault creatinine clearance in mL/min.
[[nodiscard]] double cockcroft_gault(double age_years,
                                     double weight_kg,
                                     double creatinine_mg_dl,
                                     double sex_factor,
                                     rule_set_data const& d);
// Completed years between a birth date and the evaluation time.
[[nodiscard]] std::optional<int> age_in_years(fhir::date_time const& birth, fhir::instant now);

struct magnesium_status {
    std::optional<lab_result> latest;  // newest counted total-Mg result with a known unit
    mg_level level = mg_level::normal;
    bool current = false;    // at most the current window old
    bool stale_low = false;  // low, older than current, within the stale-low window
    std::vector<fhir::instant> result_times;  // every counted total-Mg result
    std::vector<std::string> skipped;         // why a Mg result was not used

    [[nodiscard]] bool low() const {
        return latest && (level == mg_level::severe || level == mg_level::mild_moderate);
    }
    [[nodiscard]] bool current_low() const { return current && low(); }
    [[nodiscard]] bool any_within_days(fhir::instant now, double days) const;
};

enum class renal_source { creatinine_clearance, egfr, cockcroft_gault };

struct renal_estimate {
    renal_source source = renal_source::egfr;
    double ml_min = 0;
    fhir::instant time{};
    double age_days = 0;
    std::string reference;
    std::string inputs;  // plain-words inputs for the card
};

struct renal_function {
    renal_band band = renal_band::unknown;
    std::optional<renal_estimate> used;
    std::vector<renal_estimate> candidates;
    fhir::condition const* ckd5 = nullptr;
    std::string ckd5_label;
};

enum class route_kind { unknown, intravenous, intramuscular, oral, rectal };
enum class mg_product { none, parenteral, oral_repletion, laxative };

enum drug_class : std::uint32_t {
    dc_loop = 1u << 0,
    dc_thiazide = 1u << 1,
    dc_ppi = 1u << 2,
    dc_high_risk = 1u << 3,
    dc_calcineurin = 1u << 4,
    dc_digoxin = 1u << 5,
    dc_fluoroquinolone = 1u << 6,
    dc_tetracycline = 1u << 7,
    dc_mg_sulfate = 1u << 8,
    dc_mg_oral_salt = 1u << 9,
    dc_mg_laxative = 1u << 10,
    dc_potassium = 1u << 11,
    dc_famotidine = 1u << 12,
};
inline constexpr std::uint32_t dc_wasting =
    dc_loop | dc_thiazide | dc_ppi | dc_high_risk | dc_calcineurin;
// The magnesium products: their route and dose form decide what kind they are.
inline constexpr std::uint32_t dc_magnesium_product =
    dc_mg_sulfate | dc_mg_oral_salt | dc_mg_laxative;

struct medication_exposure {
    fhir::medication_order const* order = nullptr;
    bool from_context = false;  // a draft order of this hook
    bool trigger = false;       // order-select: in selections; order-sign: every draft
    std::uint32_t classes = 0;
    route_kind route = route_kind::unknown;
    mg_product magnesium = mg_product::none;
    std::string name;       // readable medication name
    std::string reference;  // "MedicationRequest/<id>"

    [[nodiscard]] bool is(std::uint32_t c) const { return (classes & c) != 0; }
    [[nodiscard]] bool oral() const { return route == route_kind::oral; }
};

// The laboratory levels the rules suggest, as recognised in a ServiceRequest's code.
enum class level_kind { magnesium, creatinine, digoxin };

// A level already ordered: an active or drafted ServiceRequest of the patient. A level the rules
// would suggest is not suggested again when one is ordered for the time it is wanted
// (CLINICAL-BASIS.md §3.3: no suggestion duplicates an active or drafted order).
struct level_order {
    fhir::service_request const* request = nullptr;
    level_kind kind = level_kind::magnesium;
    bool from_context = false;  // drafted with this hook's orders
    // When it is to be done: its occurrence, else (none given) when it was authored, or the
    // hook's time for a draft without either.
    fhir::date_time time{};
    std::string reference;  // "ServiceRequest/<id>"
};

struct symptom {
    fhir::condition const* condition = nullptr;
    std::string label;
    bool torsades_or_ventricular = false;
};

struct patient_findings {
    fhir::instant now{};
    std::string patient_id;
    std::optional<int> age_years;
    fhir::administrative_gender gender = fhir::administrative_gender::unknown;
    bool gender_present = false;

    magnesium_status magnesium;
    renal_function renal;

    std::optional<lab_result> potassium, calcium_total, calcium_ionized, qtc, weight;
    bool hypokalemia = false;   // current K below threshold
    bool hypocalcemia = false;  // current total or ionized Ca below threshold

    std::vector<symptom>
        symptoms;  // recent tetany, seizure, ventricular arrhythmia, prolonged QT (incl. QTc)
    bool symptomatic = false;
    bool recent_torsades_or_ventricular = false;
    bool recent_torsades = false;
    std::vector<std::string> supporting;  // cramps, tremor, edema (never escalate)

    bool pregnant = false;
    std::string pregnancy_evidence;
    bool preeclampsia = false;
    bool acute_asthma = false;
    // An active Condition of torsades or ventricular arrhythmia, whatever its onset: it exempts
    // magnesium orders (CLINICAL-BASIS.md §7 Exemptions), unlike the recent ones that escalate.
    bool torsades_or_ventricular = false;
    // Every Condition in the data, active or not: an order's reasonReference may name any.
    std::vector<fhir::condition const*> conditions;

    std::vector<medication_exposure> exposures;
    std::vector<level_order> level_orders;
    std::vector<std::string>
        unavailable;  // sentences about optional data that could not be obtained
    std::vector<std::string> renal_unavailable;  // the same, for the renal prefetch keys
};

[[nodiscard]] patient_findings build_findings(fhir::patient_snapshot const& snapshot,
                                              hook_context const& context,
                                              rule_set_data const& d,
                                              trace_recorder trace);

// The first level of `kind` ordered to be done between `from` and `to` (a date without a time
// counts when any part of its day, month or year is), or nullptr.
[[nodiscard]] level_order const* level_ordered_between(patient_findings const& f,
                                                       level_kind kind,
                                                       fhir::instant from,
                                                       fhir::instant to);
// A level of `kind` still to be drawn now: ordered for a time from the configured pending
// window before the hook's time up to the late window after it.
[[nodiscard]] level_order const* level_ordered_now(patient_findings const& f,
                                                   level_kind kind,
                                                   rule_set_data const& d);
// A recheck due at `due` is ordered: a level of `kind` to be done no earlier than `due` (an
// earlier one does not show the dose's effect) and at most the late window after it, or after
// the hook's time when the recheck is overdue.
[[nodiscard]] level_order const* recheck_ordered(patient_findings const& f,
                                                 level_kind kind,
                                                 fhir::instant due,
                                                 rule_set_data const& d);

// Classification of one medication order, also used by tests.
void classify_medication(medication_exposure& e, rule_set_data const& d);

// Compiles the look-ups build_findings uses per resource (rule_set_data's observation and
// drug-class code look-ups, named value sets) from d.value_sets. Called once by the loader;
// throws std::logic_error when a value set the logic needs is missing.
void compile_lookups(rule_set_data& d);

}  // namespace cds::rules
