// Detail text shared by the rules (CLINICAL-BASIS.md §5: the evidence with its date, the
// thresholds applied, the renal estimate and its inputs) and order helpers.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>

#include "cards.hpp"
#include "common/format.hpp"
#include "common/text.hpp"

namespace cds::rules {

std::string mg_value_text(lab_result const& r) {
    return comparator_text(r.comparator) + format_measurement(r.value);
}

std::string reported_text(lab_result const& r,
                          std::string_view compared_unit,
                          int converted_decimals) {
    std::string s = comparator_text(r.comparator) + format_measurement(r.reported_value, 3) + " " +
                    format_unit(r.reported_unit);
    if (value_set::lower(r.reported_unit) != value_set::lower(compared_unit)) {
        s += " (= " + comparator_text(r.comparator) +
             format_measurement(r.value, converted_decimals) + " " + std::string(compared_unit) +
             ")";
    }
    return s;
}

std::string mg_summary_text(rule_context const& rc) {
    auto const& r = *rc.f.magnesium.latest;
    std::string s = comparator_text(r.comparator) + format_measurement(r.reported_value, 3) + " " +
                    format_unit(r.reported_unit);
    if (value_set::lower(r.reported_unit) != "mg/dl") s += " (" + mg_value_text(r) + " mg/dL)";
    if (r.preliminary) s += ", " + rc.d.text("preliminary");
    return s;
}

std::string mg_evidence(rule_context const& rc) {
    auto const& m = rc.f.magnesium;
    if (!m.latest) return rc.d.text("no_magnesium");
    auto const& r = *m.latest;
    std::string value = comparator_text(r.comparator) + format_measurement(r.reported_value, 3) +
                        " " + format_unit(r.reported_unit);
    if (value_set::lower(r.reported_unit) != "mg/dl") value += " (" + mg_value_text(r) + " mg/dL)";
    return fill(rc.d.text(r.preliminary ? "evidence.mg_preliminary" : "evidence.mg"),
                {{"value", value}, {"when", card_when(r, rc.f.now, rc.d)}});
}

std::string mg_thresholds(rule_context const& rc) {
    auto const& d = rc.d;
    auto const& m = rc.f.magnesium;
    if (!m.latest) return {};
    // The band and the threshold crossed, not the whole table (CLINICAL-BASIS.md §5).
    switch (m.level) {
        case mg_level::severe:
            return fill(d.text("threshold.severe"), {{"below", format_number(d.mg_severe_below)}});
        case mg_level::mild_moderate:
            return fill(d.text("threshold.mild_moderate"),
                        {{"below", format_number(d.mg_low_below)}});
        case mg_level::high:
            return fill(d.text("threshold.high"), {{"above", format_number(d.mg_high_above)}});
        case mg_level::normal:
            break;
    }
    return fill(d.text("threshold.normal"),
                {{"low", format_number(d.mg_low_below)}, {"high", format_number(d.mg_high_above)}});
}

namespace {
// An estimate as the card shows it: Cockcroft-Gault is computed (one decimal, §7); a reported
// eGFR or creatinine clearance keeps its digits.
std::string estimate_text(renal_estimate const& e) {
    return (e.source == renal_source::cockcroft_gault ? format_computed(e.ml_min)
                                                      : format_number(e.ml_min, 3)) +
           " mL/min";
}
}  // namespace

std::string renal_short(rule_context const& rc) {
    auto const& r = rc.f.renal;
    if (r.ckd5) return rc.d.text("renal_short.ckd5");
    if (r.used) return estimate_text(*r.used);
    return rc.d.text("renal_short.unknown");
}

std::string renal_text(rule_context const& rc) {
    auto const& r = rc.f.renal;
    auto const& d = rc.d;
    std::string const band = d.band_label[static_cast<std::size_t>(r.band)];
    // A CKD stage 5 / dialysis Condition decides the band; an estimate beside it would contradict
    // it.
    if (r.ckd5) return fill(d.text("evidence.kidney"), {{"band", band}, {"how", r.ckd5_label}});
    if (r.used) {
        std::string how = r.used->inputs;
        if (r.used->age_days > d.renal_current_days) {
            how += " (" +
                   fill(d.text("renal_old"), {{"days", format_number(d.renal_current_days)}}) + ")";
        }
        std::string const s = fill(d.text("evidence.kidney"), {{"band", band}, {"how", how}});
        // Estimates on the two scales were compared: the card states the approximation (§1).
        return r.candidates.size() > 1 ? s + " " + d.renal_scale_note : s;
    }
    if (!rc.f.renal_unavailable.empty()) {
        return fill(d.text("evidence.kidney"),
                    {{"band", band}, {"how", rc.f.renal_unavailable.front()}});
    }
    return fill(d.text("evidence.kidney_band"), {{"band", band}});
}

std::vector<std::string> coexisting_text(rule_context const& rc) {
    auto const& f = rc.f;
    auto const& d = rc.d;
    std::vector<std::string> out;
    if (f.hypokalemia) {
        out.push_back(fill(
            d.text("evidence.potassium"),
            {{"finding",
              fill(d.text("hypokalemia"), {{"threshold", format_number(d.potassium_low_below)}})},
             {"value", reported_text(*f.potassium, "mmol/L", 2)},
             {"when", card_when(*f.potassium, f.now, d)}}));
    }
    if (f.hypocalcemia) {
        std::string values;
        if (f.calcium_total && f.calcium_total->value < d.calcium_total_low_below) {
            values = fill(d.text("evidence.calcium_total"),
                          {{"value", reported_text(*f.calcium_total, "mg/dL", 2)},
                           {"when", card_when(*f.calcium_total, f.now, d)}});
        }
        if (f.calcium_ionized && f.calcium_ionized->value < d.calcium_ionized_low_below) {
            values += (values.empty() ? "" : "; ") +
                      fill(d.text("evidence.calcium_ionized"),
                           {{"value", reported_text(*f.calcium_ionized, "mmol/L", 2)},
                            {"when", card_when(*f.calcium_ionized, f.now, d)}});
        }
        out.push_back(
            fill(d.text("evidence.calcium"),
                 {{"finding", fill(d.text("hypocalcemia"),
                                   {{"total", format_number(d.calcium_total_low_below)},
                                    {"ionized", format_number(d.calcium_ionized_low_below)}})},
                  {"values", values}}));
    }
    if (f.symptomatic) {
        std::string list;
        for (std::size_t i = 0; i < f.symptoms.size(); ++i)
            list += (i ? "; " : "") + f.symptoms[i].label;
        out.push_back(fill(d.text("evidence.symptomatic"), {{"symptoms", list}}));
    }
    if (!f.supporting.empty()) {
        std::string list;
        for (std::size_t i = 0; i < f.supporting.size(); ++i)
            list += (i ? "; " : "") + f.supporting[i];
        out.push_back(fill(d.text("supporting_findings"), {{"findings", list}}) + ".");
    }
    return out;
}

namespace {
// Findings note what they skipped with the resource's reference (for explain); a card says what
// and why without FHIR ids (CLINICAL-BASIS.md §5): "Observation/k-1: potassium skipped" →
// "potassium skipped", "of MedicationRequest/m-1 (Medication/x)" → "of an order" (the words of
// each kind are the configured texts "references.*").
std::string without_references(std::string const& text, rule_set_data const& d) {
    static constexpr std::pair<std::string_view, std::string_view> kinds[] = {
        {"MedicationRequest/", "references.order"},
        {"MedicationStatement/", "references.medication_statement"},
        {"Medication/", "references.medication"},
        {"Observation/", "references.result"},
        {"Condition/", "references.condition"}};
    std::string out = text;
    for (auto const& [prefix, key] : kinds) {
        std::size_t at = out.find(prefix);
        if (at == std::string::npos) continue;
        std::string const& words = d.text(key);
        for (; at != std::string::npos; at = out.find(prefix, at)) {
            std::size_t end = at + prefix.size();
            while (end < out.size() && out[end] != ' ' && out[end] != ')' && out[end] != ':' &&
                   out[end] != ',')
                ++end;
            bool const in_parens =
                at > 1 && out[at - 1] == '(' && end < out.size() && out[end] == ')';
            bool const leads = at == 0 && end + 1 < out.size() && out[end] == ':';
            if (in_parens)
                out.erase(at - 2, end - at + 3);
            else if (leads)
                out.erase(0, end + 2);
            else
                out.replace(at, end - at, words);
        }
    }
    return out;
}
}  // namespace

std::vector<std::string> missing_data_text(rule_context const& rc) {
    std::vector<std::string> out;
    for (auto const& u : rc.f.unavailable)
        out.push_back(fill(rc.d.text("not_available"), {{"what", without_references(u, rc.d)}}));
    for (auto const& s : rc.f.magnesium.skipped) {
        // A skipped result is written "Observation/<id>: why"; the card says why, not the id (§5).
        std::size_t const colon = s.find(": ");
        bool const names_reference =
            colon != std::string::npos && s.substr(0, colon).find('/') != std::string::npos;
        out.push_back(
            fill(rc.d.text("mg_not_used"), {{"why", names_reference ? s.substr(colon + 2) : s}}));
    }
    return out;
}

std::string drugs_text(rule_context const& rc,
                       std::vector<medication_exposure const*> const& drugs) {
    std::string s;
    for (std::size_t i = 0; i < drugs.size(); ++i) {
        if (i) s += "; ";
        s += drugs[i]->from_context ? fill(rc.d.text("draft_order"), {{"drug", drugs[i]->name}})
                                    : drugs[i]->name;
    }
    return s;
}

namespace {
// The drug as a summary names it: the words before the strength ("Furosemide 40 mg tablet"
// → "Furosemide"), at most 40 characters of whole words (CLINICAL-BASIS.md §5).
std::string ingredient_words(std::string const& name) {
    std::string out;
    std::size_t i = 0;
    while (i < name.size()) {
        std::size_t const end = std::min(name.find(' ', i), name.size());
        std::string const word = name.substr(i, end - i);
        i = end + 1;
        if (word.empty()) continue;
        if (!out.empty() && (std::isdigit(static_cast<unsigned char>(word.front())) ||
                             out.size() + 1 + word.size() > 40))
            break;
        if (out.empty() && word.size() > 40)
            return word.substr(0, word.find_first_of("-/,") == std::string::npos
                                      ? word.size()
                                      : word.find_first_of("-/,"));
        out += (out.empty() ? "" : " ") + word;
    }
    while (!out.empty() && (out.back() == ',' || out.back() == '(' || out.back() == '-'))
        out.pop_back();
    return out.empty() ? name : out;
}
}  // namespace

std::string drug_summary_name(rule_context const& rc,
                              std::vector<medication_exposure const*> const& drugs) {
    if (drugs.empty()) return rc.d.text("drug_names.none");
    std::string name = ingredient_words(drugs.front()->name);
    // Two drugs (e.g. furosemide and a PPI signed together) are both named when short enough
    // for the 140-character summary; more are counted.
    std::string const second = drugs.size() == 2 ? ingredient_words(drugs[1]->name) : std::string();
    if (drugs.size() == 2 && name.size() + second.size() <= 56)
        return fill(rc.d.text("drug_names.two"), {{"first", name}, {"second", second}});
    if (drugs.size() > 1) {
        return fill(rc.d.text("drug_names.more"),
                    {{"names", name}, {"count", std::to_string(drugs.size() - 1)}});
    }
    return name;
}

std::vector<std::string> evidence_references(rule_context const& rc,
                                             std::vector<medication_exposure const*> const& drugs) {
    auto const& f = rc.f;
    std::vector<std::string> out;
    auto add = [&](std::string const& ref) {
        if (!ref.empty() && std::find(out.begin(), out.end(), ref) == out.end()) out.push_back(ref);
    };
    for (auto const* e : drugs) add(e->reference);
    if (f.magnesium.latest) add(f.magnesium.latest->reference);
    if (f.renal.used) add(f.renal.used->reference);
    if (f.hypokalemia && f.potassium) add(f.potassium->reference);
    if (f.hypocalcemia && f.calcium_total) add(f.calcium_total->reference);
    if (f.hypocalcemia && f.calcium_ionized) add(f.calcium_ionized->reference);
    return out;
}

std::vector<medication_exposure const*> contributing_drugs(rule_context const& rc) {
    std::vector<medication_exposure const*> out;
    for (auto const& e : rc.f.exposures) {
        if (e.is(dc_wasting)) out.push_back(&e);
    }
    return out;
}

namespace {

fhir::condition const* find_condition(std::vector<fhir::condition const*> const& conditions,
                                      std::string_view id) {
    for (auto const* c : conditions) {
        if (c->id == id) return c;
    }
    return nullptr;
}

// The Condition a reasonReference names: contained in the order ("#id"), or in the data
// ("Condition/id"); nullptr when it is neither.
fhir::condition const* referenced_condition(fhir::medication_order const& o,
                                            fhir::reference const& ref,
                                            patient_findings const& f) {
    if (ref.kind == fhir::reference_kind::contained) {
        for (auto const& c : o.contained_conditions) {
            if (c.id == ref.id) return &c;
        }
        return nullptr;
    }
    if (ref.kind == fhir::reference_kind::relative && ref.type == "Condition")
        return find_condition(f.conditions, ref.id);
    return nullptr;
}

char const* concept_in(fhir::codeable_concept const& cc,
                       std::initializer_list<char const*> value_sets,
                       rule_set_data const& d) {
    std::string const words = concept_words(cc);
    for (char const* name : value_sets) {
        if (d.vs(name).matches_code(cc) || d.vs(name).matches_text(words)) return name;
    }
    return nullptr;
}

// The first of the value sets the order's own reason is in, or nullptr.
char const* order_reason_set(fhir::medication_order const& o,
                             patient_findings const& f,
                             std::initializer_list<char const*> value_sets,
                             rule_set_data const& d) {
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

bool order_reason_in(fhir::medication_order const& o,
                     patient_findings const& f,
                     std::initializer_list<char const*> value_sets,
                     rule_set_data const& d) {
    return order_reason_set(o, f, value_sets, d) != nullptr;
}

std::string exemption(rule_context const& rc,
                      medication_exposure const& e,
                      bool acute_asthma_counts) {
    auto const& d = rc.d;
    auto const& f = rc.f;
    // The order's own reason needs no date and no clinical status: the prescriber stated it,
    // and any coded asthma reason counts (CLINICAL-BASIS.md §7 Exemptions).
    char const* const reason =
        acute_asthma_counts
            ? order_reason_set(
                  *e.order, f,
                  {"preeclampsia_eclampsia", "torsades", "ventricular_arrhythmia", "asthma"}, d)
            : order_reason_set(*e.order, f,
                               {"preeclampsia_eclampsia", "torsades", "ventricular_arrhythmia"}, d);
    std::string const by_reason = " (" + d.text("exemptions.by_order_reason") + ")";
    std::string const by_condition = " (" + d.text("exemptions.by_condition") + ")";
    if (reason) {
        std::string_view const name = reason;
        if (name == "preeclampsia_eclampsia") return d.text("exemptions.preeclampsia") + by_reason;
        if (name == "asthma") return d.text("exemptions.asthma") + by_reason;
        return d.text("exemptions.torsades_or_ventricular") + by_reason;
    }
    if (f.preeclampsia) return d.text("exemptions.preeclampsia") + by_condition;
    if (f.torsades_or_ventricular)
        return d.text("exemptions.torsades_or_ventricular") + by_condition;
    if (acute_asthma_counts && f.acute_asthma)
        return d.text("exemptions.acute_asthma") + by_condition;
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
        if (e.trigger &&
            (e.magnesium == mg_product::parenteral || e.magnesium == mg_product::oral_repletion))
            out.push_back(&e);
    }
    return out;
}

namespace {
std::optional<double> mass_mg(std::optional<fhir::quantity> const& q, rule_set_data const& d) {
    if (!q || !q->value) return std::nullopt;
    return d.dose_mg.convert(*q->value, q->unit_key());
}
std::optional<double> minutes(std::optional<double> value,
                              std::string_view unit,
                              rule_set_data const& d) {
    if (!value || *value <= 0) return std::nullopt;
    return d.duration_min.convert(*value, unit);
}
}  // namespace

std::optional<double> iv_rate_mg_per_min(fhir::medication_order const& o, rule_set_data const& d) {
    std::optional<double> worst;
    auto consider = [&](double r) {
        // A rate that overflows (an absurd dose over a moment) is not computable, not a number
        // to print on a card or write into an order.
        if (!std::isfinite(r)) return;
        if (!worst || r > *worst) worst = r;
    };
    for (auto const& ds : o.dosages) {
        if (ds.rate && ds.rate->value) {
            if (auto r = d.rate_mg_per_min.convert(*ds.rate->value, ds.rate->unit_key()))
                consider(*r);
        }
        if (ds.rate_numerator && ds.rate_denominator) {
            auto const mg = mass_mg(ds.rate_numerator, d);
            auto const denom_value = ds.rate_denominator->value ? ds.rate_denominator->value
                                                                : std::optional<double>(1.0);
            auto const min = minutes(denom_value, ds.rate_denominator->unit_key(), d);
            if (mg && min) consider(*mg / *min);
        }
        if (auto const mg = mass_mg(ds.dose, d); mg && ds.repeat) {
            if (auto const min = minutes(ds.repeat->duration, ds.repeat->duration_unit, d))
                consider(*mg / *min);
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
        if (auto const r = d.rate_mg_per_min.convert(*ds.rate->value, ds.rate->unit_key());
            r && *r > 0)
            return *mg / *r;
    }
    if (ds.rate_numerator && ds.rate_denominator) {
        auto const rate_mg = mass_mg(ds.rate_numerator, d);
        auto const denom_value =
            ds.rate_denominator->value ? ds.rate_denominator->value : std::optional<double>(1.0);
        auto const per_min = minutes(denom_value, ds.rate_denominator->unit_key(), d);
        if (rate_mg && per_min && *rate_mg > 0) return *mg / (*rate_mg / *per_min);
    }
    return std::nullopt;
}
}  // namespace

bool runs_continuously(fhir::medication_order const& o, rule_set_data const& d) {
    for (auto const& ds : o.dosages) {
        if (ds.repeat && ds.repeat->frequency && *ds.repeat->frequency > 0)
            return true;  // repeated doses
        if (auto const m = administration_minutes(ds, d)) {
            if (*m > d.bolus_max_minutes) return true;
            continue;
        }
        // A rate with no dose to end it: an infusion that runs until it is stopped.
        if (!ds.dose && ((ds.rate && ds.rate->value) || ds.rate_numerator)) return true;
    }
    return false;
}

std::optional<double> first_dose_mg(medication_exposure const& e, rule_set_data const& d) {
    if (e.order->dosages.empty()) return std::nullopt;
    auto const& dose = e.order->dosages.front().dose;
    if (!dose || !dose->value) return std::nullopt;
    return d.dose_mg.convert(*dose->value, dose->unit_key());
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
    auto consider = [&](double v) {
        if (!days || v > *days) days = v;
    };
    for (auto const& ds : o.dosages) {
        if (!ds.repeat) continue;
        if (ds.repeat->bounds_duration && ds.repeat->bounds_duration->value) {
            if (auto v = d.time_days.convert(*ds.repeat->bounds_duration->value,
                                             ds.repeat->bounds_duration->unit_key()))
                consider(*v);
        }
        if (ds.repeat->bounds_period && ds.repeat->bounds_period->start &&
            ds.repeat->bounds_period->end) {
            consider(
                std::chrono::duration<double, std::ratio<86400>>(
                    ds.repeat->bounds_period->end->start - ds.repeat->bounds_period->start->start)
                    .count());
        }
    }
    if (o.expected_supply_duration && o.expected_supply_duration->value) {
        if (auto v = d.time_days.convert(*o.expected_supply_duration->value,
                                         o.expected_supply_duration->unit_key()))
            consider(*v);
    }
    return days;
}

}  // namespace cds::rules
