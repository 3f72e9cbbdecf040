// Detail text shared by the rules (clinical-rules.md §5: the evidence with its date, the
// thresholds applied, the renal estimate and its inputs) and order helpers.

#include <chrono>

#include "cards.hpp"
#include "common/text.hpp"

namespace cds::rules {

std::string mg_value_text(lab_result const& r) { return comparator_text(r.comparator) + format_measurement(r.value); }

std::string reported_text(lab_result const& r, std::string_view compared_unit, int converted_decimals) {
    std::string s = comparator_text(r.comparator) + format_measurement(r.reported_value, 3) + " " + r.reported_unit;
    if (value_set::lower(r.reported_unit) != value_set::lower(compared_unit)) {
        s += " (= " + comparator_text(r.comparator) + format_measurement(r.value, converted_decimals) + " " + std::string(compared_unit) + ")";
    }
    return s;
}

std::string severity_text(rule_context const& rc) {
    auto const& f = rc.f;
    std::string s;
    switch (f.magnesium.level) {
        case mg_level::severe: s = rc.d.text("severity.severe"); break;
        case mg_level::mild_moderate: s = rc.d.text("severity.mild_moderate"); break;
        case mg_level::normal: s = rc.d.text("severity.normal"); break;
        case mg_level::high: s = rc.d.text("severity.high"); break;
    }
    if (f.symptomatic && f.magnesium.low()) s += ", symptomatic";
    return s;
}

std::string mg_evidence(rule_context const& rc) {
    auto const& m = rc.f.magnesium;
    if (!m.latest) return "No serum magnesium result was found.";
    auto const& r = *m.latest;
    std::string s = "**Serum magnesium " + mg_value_text(r) + " mg/dL** (reported " + comparator_text(r.comparator) +
                    format_measurement(r.reported_value, 3) + " " + r.reported_unit + ", " + fhir::format_instant(r.time) + ", " +
                    describe_age_hours(r.age_hours) + " old; " + r.reference + ")";
    if (r.preliminary) s += " — " + rc.d.text("preliminary") + ", to be confirmed";
    s += ".";
    return s;
}

std::string mg_thresholds(rule_set_data const& d) {
    return "Thresholds: severe < " + format_number(d.mg_severe_below) + " mg/dL; mild–moderate " + format_number(d.mg_severe_below) +
           " to < " + format_number(d.mg_low_below) + "; normal " + format_number(d.mg_low_below) + "–" +
           format_number(d.mg_high_above) + "; hypermagnesemia > " + format_number(d.mg_high_above) +
           ". A result is current for " + format_number(d.mg_current_hours) + " hours.";
}

namespace {
// An estimate as the card shows it: Cockcroft-Gault is computed (one decimal, §7); a reported
// eGFR or creatinine clearance keeps its digits.
std::string estimate_text(renal_estimate const& e) {
    return (e.source == renal_source::cockcroft_gault ? format_computed(e.ml_min) : format_number(e.ml_min, 3)) + " mL/min";
}
}  // namespace

std::string renal_short(rule_context const& rc) {
    auto const& r = rc.f.renal;
    if (r.ckd5) return "CKD stage 5 / dialysis";
    if (r.used) return estimate_text(*r.used);
    return "unknown";
}

std::string renal_text(rule_context const& rc) {
    auto const& r = rc.f.renal;
    auto const& d = rc.d;
    std::string s = "Renal function: **" + d.band_label[static_cast<std::size_t>(r.band)] + "**";
    if (r.ckd5) s += " — active " + r.ckd5_label + " puts the patient in the contraindicated band whatever the numbers say";
    if (r.used) {
        char const* what = r.used->source == renal_source::cockcroft_gault ? "estimated creatinine clearance"
                           : r.used->source == renal_source::egfr         ? "eGFR"
                                                                          : "creatinine clearance";
        s += std::string(r.ckd5 ? "; lowest estimate " : " — ") + estimate_text(*r.used) + " (" + what + "; " +
             r.used->inputs + ")";
        if (r.used->age_days > d.renal_current_days) {
            s += "; this result is " + format_number(r.used->age_days, 0) + " days old (older than " +
                 format_number(d.renal_current_days) + " days, still counted up to " + format_number(d.renal_max_age_days) + ")";
        }
        if (r.candidates.size() > 1) {
            s += ". Other estimates: ";
            bool first = true;
            for (auto const& c : r.candidates) {
                if (c.reference == r.used->reference && c.source == r.used->source) continue;
                if (!first) s += "; ";
                first = false;
                s += estimate_text(c) + " (" + c.inputs + ")";
            }
            s += ". The lowest is used";
        }
        s += ". " + d.renal_scale_note;
    } else if (!r.ckd5) {
        if (!rc.f.renal_unavailable.empty()) s += " — " + rc.f.renal_unavailable.front();
        else s += " — renal function unknown: no creatinine, eGFR or creatinine clearance within " + format_number(d.renal_max_age_days) + " days";
        s += "; a serum creatinine is suggested";
    }
    for (auto const& n : r.notes) s += ". " + n;
    if (!s.empty() && s.back() != '.') s += ".";
    return s;
}

std::vector<std::string> coexisting_text(rule_context const& rc) {
    auto const& f = rc.f;
    auto const& d = rc.d;
    std::vector<std::string> out;
    if (f.hypokalemia) {
        out.push_back("Coexisting " + fill(d.text("hypokalemia"), {{"threshold", format_number(d.potassium_low_below)}}) +
                      ": potassium " + reported_text(*f.potassium, "mmol/L", 2) + " on " + fhir::format_date(f.potassium->time) +
                      " (" + f.potassium->reference + ").");
    }
    if (f.hypocalcemia) {
        std::string s = "Coexisting " + fill(d.text("hypocalcemia"), {{"total", format_number(d.calcium_total_low_below)},
                                                                      {"ionized", format_number(d.calcium_ionized_low_below)}}) + ":";
        if (f.calcium_total && f.calcium_total->value < d.calcium_total_low_below) {
            s += " total calcium " + reported_text(*f.calcium_total, "mg/dL", 2) + " on " + fhir::format_date(f.calcium_total->time) +
                 " (" + f.calcium_total->reference + ")";
        }
        if (f.calcium_ionized && f.calcium_ionized->value < d.calcium_ionized_low_below) {
            s += " ionized calcium " + reported_text(*f.calcium_ionized, "mmol/L", 2) + " on " +
                 fhir::format_date(f.calcium_ionized->time) + " (" + f.calcium_ionized->reference + ")";
        }
        out.push_back(s + ".");
    }
    if (f.symptomatic) {
        std::string s = "Symptomatic (sends any hypomagnesemia down the severe path): ";
        for (std::size_t i = 0; i < f.symptoms.size(); ++i) s += (i ? "; " : "") + f.symptoms[i].label;
        out.push_back(s + ".");
    }
    if (!f.supporting.empty()) {
        std::string list;
        for (std::size_t i = 0; i < f.supporting.size(); ++i) list += (i ? "; " : "") + f.supporting[i];
        out.push_back(fill(d.text("supporting_findings"), {{"findings", list}}) + ".");
    }
    return out;
}

std::vector<std::string> missing_data_text(rule_context const& rc) {
    std::vector<std::string> out;
    for (auto const& u : rc.f.unavailable) out.push_back("Not available: " + u + ".");
    for (auto const& s : rc.f.magnesium.skipped) out.push_back("Magnesium result not used: " + s + ".");
    return out;
}

std::string drugs_text(std::vector<medication_exposure const*> const& drugs) {
    std::string s;
    for (std::size_t i = 0; i < drugs.size(); ++i) {
        if (i) s += "; ";
        s += drugs[i]->name + " (" + drugs[i]->reference + (drugs[i]->from_context ? ", draft" : "") + ")";
    }
    return s;
}

std::string drug_summary_name(std::vector<medication_exposure const*> const& drugs) {
    if (drugs.empty()) return "Order";
    std::string name = drugs.front()->name;
    if (name.size() > 48) {
        std::size_t cut = 45;
        while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
        name = name.substr(0, cut) + "...";
    }
    // Two drugs (e.g. furosemide and a PPI signed together) are both named when short enough
    // for the 140-character summary; more are counted.
    if (drugs.size() == 2 && name.size() + drugs[1]->name.size() <= 56) return name + " and " + drugs[1]->name;
    if (drugs.size() > 1) name += " and " + std::to_string(drugs.size() - 1) + " more";
    return name;
}

std::vector<medication_exposure const*> contributing_drugs(rule_context const& rc) {
    std::vector<medication_exposure const*> out;
    for (auto const& e : rc.f.exposures) {
        if (e.is(dc_wasting)) out.push_back(&e);
    }
    return out;
}

namespace {

fhir::condition const* find_condition(std::vector<fhir::condition const*> const& conditions, std::string_view id) {
    for (auto const* c : conditions) {
        if (c->id == id) return c;
    }
    return nullptr;
}

// The Condition a reasonReference names: contained in the order ("#id"), or in the data
// ("Condition/id"); nullptr when it is neither.
fhir::condition const* referenced_condition(fhir::medication_order const& o, fhir::reference const& ref,
                                            patient_findings const& f) {
    if (ref.kind == fhir::reference_kind::contained) {
        for (auto const& c : o.contained_conditions) {
            if (c.id == ref.id) return &c;
        }
        return nullptr;
    }
    if (ref.kind == fhir::reference_kind::relative && ref.type == "Condition") return find_condition(f.conditions, ref.id);
    return nullptr;
}

char const* concept_in(fhir::codeable_concept const& cc, std::initializer_list<char const*> value_sets, rule_set_data const& d) {
    std::string const words = concept_words(cc);
    for (char const* name : value_sets) {
        if (d.vs(name).matches_code(cc) || d.vs(name).matches_text(words)) return name;
    }
    return nullptr;
}

// The first of the value sets the order's own reason is in, or nullptr.
char const* order_reason_set(fhir::medication_order const& o, patient_findings const& f,
                             std::initializer_list<char const*> value_sets, rule_set_data const& d) {
    for (auto const& reason : o.reason_codes) {
        if (char const* name = concept_in(reason, value_sets, d)) return name;
    }
    for (auto const& ref : o.reason_references) {
        if (auto const* c = referenced_condition(o, ref, f)) {
            if (char const* name = concept_in(c->code, value_sets, d)) return name;
        } else if (!ref.display.empty()) {
            fhir::codeable_concept shown;
            shown.text = ref.display;
            if (char const* name = concept_in(shown, value_sets, d)) return name;
        }
    }
    return nullptr;
}

}  // namespace

bool order_reason_in(fhir::medication_order const& o, patient_findings const& f, std::initializer_list<char const*> value_sets,
                     rule_set_data const& d) {
    return order_reason_set(o, f, value_sets, d) != nullptr;
}

std::string exemption(rule_context const& rc, medication_exposure const& e, bool acute_asthma_counts) {
    auto const& d = rc.d;
    auto const& f = rc.f;
    // The order's own reason needs no date and no clinical status: the prescriber stated it,
    // and any coded asthma reason counts (clinical-rules.md §7 Exemptions).
    char const* const reason = acute_asthma_counts
                                   ? order_reason_set(*e.order, f, {"preeclampsia_eclampsia", "torsades", "ventricular_arrhythmia", "asthma"}, d)
                                   : order_reason_set(*e.order, f, {"preeclampsia_eclampsia", "torsades", "ventricular_arrhythmia"}, d);
    std::string const by_reason = " (" + d.text("exemptions.by_order_reason") + ")";
    std::string const by_condition = " (" + d.text("exemptions.by_condition") + ")";
    if (reason) {
        std::string_view const name = reason;
        if (name == "preeclampsia_eclampsia") return d.text("exemptions.preeclampsia") + by_reason;
        if (name == "asthma") return d.text("exemptions.asthma") + by_reason;
        return d.text("exemptions.torsades_or_ventricular") + by_reason;
    }
    if (f.preeclampsia) return d.text("exemptions.preeclampsia") + by_condition;
    if (f.torsades_or_ventricular) return d.text("exemptions.torsades_or_ventricular") + by_condition;
    if (acute_asthma_counts && f.acute_asthma) return d.text("exemptions.acute_asthma") + by_condition;
    return {};
}

std::vector<medication_exposure const*> triggering(rule_context const& rc, std::uint32_t classes) {
    std::vector<medication_exposure const*> out;
    for (auto const& e : rc.f.exposures) {
        if (e.trigger && e.is(classes)) out.push_back(&e);
    }
    return out;
}

std::vector<medication_exposure const*> triggering_repletion_orders(rule_context const& rc) {
    std::vector<medication_exposure const*> out;
    for (auto const& e : rc.f.exposures) {
        if (e.trigger && (e.magnesium == mg_product::parenteral || e.magnesium == mg_product::oral_repletion)) out.push_back(&e);
    }
    return out;
}

namespace {
std::optional<double> mass_mg(std::optional<fhir::quantity> const& q, rule_set_data const& d) {
    if (!q || !q->value) return std::nullopt;
    return d.dose_mg.convert(*q->value, q->unit_key());
}
std::optional<double> minutes(std::optional<double> value, std::string_view unit, rule_set_data const& d) {
    if (!value || *value <= 0) return std::nullopt;
    return d.duration_min.convert(*value, unit);
}
}  // namespace

std::optional<double> iv_rate_mg_per_min(fhir::medication_order const& o, rule_set_data const& d) {
    std::optional<double> worst;
    auto consider = [&](double r) { if (!worst || r > *worst) worst = r; };
    for (auto const& ds : o.dosages) {
        if (ds.rate && ds.rate->value) {
            if (auto r = d.rate_mg_per_min.convert(*ds.rate->value, ds.rate->unit_key())) consider(*r);
        }
        if (ds.rate_numerator && ds.rate_denominator) {
            auto const mg = mass_mg(ds.rate_numerator, d);
            auto const denom_value = ds.rate_denominator->value ? ds.rate_denominator->value : std::optional<double>(1.0);
            auto const min = minutes(denom_value, ds.rate_denominator->unit_key(), d);
            if (mg && min) consider(*mg / *min);
        }
        if (auto const mg = mass_mg(ds.dose, d); mg && ds.repeat) {
            if (auto const min = minutes(ds.repeat->duration, ds.repeat->duration_unit, d)) consider(*mg / *min);
        }
    }
    return worst;
}

namespace {
// Minutes one administration runs: its infusion duration, else its dose at its rate.
std::optional<double> administration_minutes(fhir::dosage const& ds, rule_set_data const& d) {
    if (ds.repeat) {
        if (auto const m = minutes(ds.repeat->duration, ds.repeat->duration_unit, d)) return m;
    }
    auto const mg = mass_mg(ds.dose, d);
    if (!mg) return std::nullopt;
    if (ds.rate && ds.rate->value) {
        if (auto const r = d.rate_mg_per_min.convert(*ds.rate->value, ds.rate->unit_key()); r && *r > 0) return *mg / *r;
    }
    if (ds.rate_numerator && ds.rate_denominator) {
        auto const rate_mg = mass_mg(ds.rate_numerator, d);
        auto const denom_value = ds.rate_denominator->value ? ds.rate_denominator->value : std::optional<double>(1.0);
        auto const per_min = minutes(denom_value, ds.rate_denominator->unit_key(), d);
        if (rate_mg && per_min && *rate_mg > 0) return *mg / (*rate_mg / *per_min);
    }
    return std::nullopt;
}
}  // namespace

bool runs_continuously(fhir::medication_order const& o, rule_set_data const& d) {
    for (auto const& ds : o.dosages) {
        if (ds.repeat && ds.repeat->frequency && *ds.repeat->frequency > 0) return true;  // repeated doses
        if (auto const m = administration_minutes(ds, d)) {
            if (*m > d.bolus_max_minutes) return true;
            continue;
        }
        // A rate with no dose to end it: an infusion that runs until it is stopped.
        if (!ds.dose && ((ds.rate && ds.rate->value) || ds.rate_numerator)) return true;
    }
    return false;
}

std::optional<double> daily_dose_mg(fhir::medication_order const& o, rule_set_data const& d) {
    std::optional<double> total;
    for (auto const& ds : o.dosages) {
        auto const mg = mass_mg(ds.dose, d);
        if (!mg) return std::nullopt;
        double per_day = 1;  // no frequency: one dose
        if (ds.repeat && ds.repeat->frequency && ds.repeat->period) {
            auto const days = d.time_days.convert(*ds.repeat->period, ds.repeat->period_unit);
            if (days && *days > 0) per_day = *ds.repeat->frequency / *days;
        }
        total = total.value_or(0) + *mg * per_day;
    }
    return total;
}

std::optional<double> order_duration_days(fhir::medication_order const& o, rule_set_data const& d) {
    std::optional<double> days;
    auto consider = [&](double v) { if (!days || v > *days) days = v; };
    for (auto const& ds : o.dosages) {
        if (!ds.repeat) continue;
        if (ds.repeat->bounds_duration && ds.repeat->bounds_duration->value) {
            if (auto v = d.time_days.convert(*ds.repeat->bounds_duration->value, ds.repeat->bounds_duration->unit_key())) consider(*v);
        }
        if (ds.repeat->bounds_period && ds.repeat->bounds_period->start && ds.repeat->bounds_period->end) {
            consider(std::chrono::duration<double, std::ratio<86400>>(ds.repeat->bounds_period->end->start -
                                                                      ds.repeat->bounds_period->start->start).count());
        }
    }
    if (o.expected_supply_duration && o.expected_supply_duration->value) {
        if (auto v = d.time_days.convert(*o.expected_supply_duration->value, o.expected_supply_duration->unit_key())) consider(*v);
    }
    return days;
}

}  // namespace cds::rules
