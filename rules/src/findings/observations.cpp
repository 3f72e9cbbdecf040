#include <algorithm>
#include <bit>
#include <stdexcept>

#include "common/decimal.hpp"
#include "common/format.hpp"
#include "common/text.hpp"
#include "findings/parts.hpp"
#include "trace/record.hpp"

namespace cds::rules::findings {

namespace {

std::string obs_ref(fhir::observation const& o) { return "Observation/" + o.id; }

struct kind_entry {
    obs_kind kind;
    char const* value_set;
};
// Ionized kinds first: an ionized result must never be taken for a total one.
constexpr kind_entry kind_order[] = {
    {obs_kind::magnesium_ionized, "magnesium_ionized"},
    {obs_kind::magnesium_total, "magnesium_total"},
    {obs_kind::calcium_ionized, "calcium_ionized"},
    {obs_kind::calcium_total, "calcium_total"},
    {obs_kind::creatinine_clearance, "creatinine_clearance"},
    {obs_kind::egfr, "egfr"},
    {obs_kind::creatinine, "creatinine"},
    {obs_kind::potassium, "potassium"},
    {obs_kind::body_weight, "body_weight"},
    {obs_kind::qtc, "qtc"},
    {obs_kind::pregnancy_status, "pregnancy_status"},
};
static_assert(std::size(kind_order) == obs_kind_count, "every kind but other is tested");

// Classified by the Observation's own code; the name in text is used only when the result
// carries no LOINC coding at all (CLINICAL-BASIS.md §1: codes first). Bit i of the compiled
// look-up is kind_order[i], so the lowest bit set is the first kind in that order.
obs_kind classify_observation(fhir::codeable_concept const& code, rule_set_data const& d) {
    if (std::uint64_t const bits = d.observation_kind_codes.match_any(code)) {
        return kind_order[static_cast<std::size_t>(std::countr_zero(bits))].kind;
    }
    bool const has_loinc =
        std::any_of(code.codings.begin(), code.codings.end(),
                    [](fhir::coding const& c) { return c.system == "http://loinc.org"; });
    if (has_loinc) return obs_kind::other;
    std::string const words = concept_words(code);
    for (std::size_t i = 0; i < obs_kind_count; ++i) {
        if (d.observation_kind_sets[i]->matches_text(words)) return kind_order[i].kind;
    }
    return obs_kind::other;
}

fhir::unit_table const* table_for(obs_kind k, rule_set_data const& d) {
    switch (k) {
        case obs_kind::magnesium_total:
            return &d.magnesium_mg_dl;
        case obs_kind::creatinine:
            return &d.creatinine_mg_dl;
        case obs_kind::egfr:
        case obs_kind::creatinine_clearance:
            return &d.renal_ml_min;
        case obs_kind::potassium:
            return &d.potassium_mmol_l;
        case obs_kind::calcium_total:
            return &d.calcium_total_mg_dl;
        case obs_kind::calcium_ionized:
            return &d.calcium_ionized_mmol_l;
        case obs_kind::body_weight:
            return &d.weight_kg;
        case obs_kind::qtc:
            return &d.qtc_ms;
        default:
            return nullptr;
    }
}

// The unit table_for converts to: the unit the rules compare in.
char const* compared_unit_of(obs_kind k) {
    switch (k) {
        case obs_kind::magnesium_total:
        case obs_kind::creatinine:
        case obs_kind::calcium_total:
            return "mg/dL";
        case obs_kind::egfr:
        case obs_kind::creatinine_clearance:
            return "mL/min";
        case obs_kind::potassium:
        case obs_kind::calcium_ionized:
            return "mmol/L";
        case obs_kind::body_weight:
            return "kg";
        case obs_kind::qtc:
            return "ms";
        default:
            return "";
    }
}

char const* kind_name(obs_kind k) {
    switch (k) {
        case obs_kind::magnesium_total:
            return "magnesium";
        case obs_kind::magnesium_ionized:
            return "ionized magnesium";
        case obs_kind::creatinine:
            return "creatinine";
        case obs_kind::egfr:
            return "eGFR";
        case obs_kind::creatinine_clearance:
            return "creatinine clearance";
        case obs_kind::potassium:
            return "potassium";
        case obs_kind::calcium_total:
            return "calcium";
        case obs_kind::calcium_ionized:
            return "ionized calcium";
        case obs_kind::body_weight:
            return "body weight";
        case obs_kind::qtc:
            return "QTc";
        case obs_kind::pregnancy_status:
            return "pregnancy status";
        case obs_kind::other:
            break;
    }
    return "other";
}

// The kind as a card names it: the text "results.<kind>" (the kind's value-set name).
// Only a classified result is skipped where a card says so.
std::string const& card_kind_name(obs_kind k, rule_set_data const& d) {
    for (auto const& entry : kind_order) {
        if (entry.kind == k) return d.text(std::string("results.") + entry.value_set);
    }
    throw std::logic_error("no card name for an unclassified result");
}

// Newer wins; a tie on the result time goes to the later `issued`.
bool newer(lab_result const& a, lab_result const& b) {
    if (a.time != b.time) return a.time > b.time;
    return a.issued > b.issued;
}

// Why a converted result cannot be right (CLINICAL-BASIS.md §1 "implausible values never
// count"), or nullopt. The bounds are configuration.
std::optional<std::string> implausible_reason(obs_kind kind, double value, rule_set_data const& d) {
    auto const& b = d.implausible;
    auto const implausible = [&](char const* unit, char const* range, double low, double high) {
        std::string const plausible =
            fill(d.text(range), {{"low", format_number(low)}, {"high", format_number(high)}});
        return fill(d.text("skipped.implausible"),
                    {{"value", format_number(value, 4) + " " + unit}, {"plausible", plausible}});
    };
    switch (kind) {
        case obs_kind::magnesium_total:
            if (compare_as_decimal(value, b.magnesium_below_mg_dl) < 0 ||
                compare_as_decimal(value, b.magnesium_above_mg_dl) > 0) {
                return implausible("mg/dL", "skipped.plausible_from_to", b.magnesium_below_mg_dl,
                                   b.magnesium_above_mg_dl);
            }
            break;
        case obs_kind::creatinine:
            if (compare_as_decimal(value, b.creatinine_at_or_below_mg_dl) <= 0) {
                return implausible("mg/dL", "skipped.plausible_above",
                                   b.creatinine_at_or_below_mg_dl, 0);
            }
            break;
        case obs_kind::body_weight:
            if (compare_as_decimal(value, b.weight_at_or_below_kg) <= 0 ||
                compare_as_decimal(value, b.weight_above_kg) > 0) {
                return implausible("kg", "skipped.plausible_above_up_to", b.weight_at_or_below_kg,
                                   b.weight_above_kg);
            }
            break;
        default:
            break;
    }
    return std::nullopt;
}

// One pass over the snapshot's Observations, keeping the newest usable result of each kind.
// "Observation/<id>" and the unit are built only where they are used: skipped results and
// kept ones.
struct observation_reader {
    patient_findings& f;
    rule_set_data const& d;
    trace_recorder trace;
    newest_results newest;

    // The trace entry of a result not counted: its kind, status and why.
    void trace_skip(fhir::observation const& o,
                    obs_kind kind,
                    trace_reason reason,
                    std::string_view why) {
        if (!trace) return;
        std::string message(kind_name(kind));
        message.append(" skipped: ").append(why);
        auto& e = trace::about_resource(trace, trace_section::observation, trace_decision::skipped,
                                        reason, "Observation", o.id, std::move(message));
        e.values.push_back(trace::text("kind", kind_name(kind)));
        e.values.push_back(trace::text("status", o.status));
    }

    // A result that never counts and is said: in the trace, and on the cards with the other
    // skipped magnesium results or the data that was not available.
    void skip_result(fhir::observation const& o,
                     obs_kind kind,
                     trace_reason reason,
                     std::string why) {
        trace_skip(o, kind, reason, why);
        std::string const ref = obs_ref(o);
        if (kind == obs_kind::magnesium_total)
            f.magnesium.skipped.push_back(ref + ": " + why);
        else
            f.unavailable.push_back(ref + ": " +
                                    fill(d.text("skipped.result"),
                                         {{"result", card_kind_name(kind, d)}, {"why", why}}));
    }

    // A result skipped in the trace; on the cards only when it is a magnesium result.
    void skip_quietly(fhir::observation const& o,
                      obs_kind kind,
                      trace_reason reason,
                      std::string const& why,
                      std::string const& card_why) {
        trace_skip(o, kind, reason, why);
        if (kind == obs_kind::magnesium_total)
            f.magnesium.skipped.push_back(obs_ref(o) + ": " + card_why);
    }

    void trace_counted(fhir::observation const& o, obs_kind kind, lab_result const& r);

    void read(fhir::observation const& o, std::string_view patient_id);
    void keep_pregnancy_status(fhir::observation const& o, lab_result r);
    void keep_quantity(fhir::observation const& o, obs_kind kind, lab_result r);
};

void observation_reader::read(fhir::observation const& o, std::string_view patient_id) {
    obs_kind const kind = classify_observation(o.code, d);
    if (kind == obs_kind::other) {
        trace_skip(o, kind, trace_reason::code, "its code is in no value set the rules read");
        return;
    }
    if (names_other_patient(o.subject, patient_id)) {
        trace_skip(o, kind, trace_reason::other_patient, other_patient_note);
        return;
    }
    if (kind == obs_kind::magnesium_ionized) {
        f.magnesium.skipped.push_back(obs_ref(o) + ": " + d.text("skipped.ionized_magnesium"));
        trace_skip(o, kind, trace_reason::ionized, "not compared with total-Mg thresholds");
        return;
    }
    bool const preliminary = d.observation_preliminary.contains(o.status);
    if (!d.observation_counted.contains(o.status) && !preliminary) {
        std::string const why = fill(d.text("skipped.status"), {{"status", o.status}});
        skip_quietly(o, kind, trace_reason::status, why, why);
        return;
    }
    auto const t = o.result_time();
    if (!t) {
        skip_quietly(o, kind, trace_reason::no_time, "no effective time or issued",
                     d.text("skipped.no_time"));
        return;
    }
    if (hours_between(f.now, t->start) > d.result_future_tolerance_hours) {
        skip_result(o, kind, trace_reason::future_date,
                    fill(d.text("skipped.future"),
                         {{"date", format_card_date(*t, d)},
                          {"hours", format_number(d.result_future_tolerance_hours)}}));
        return;
    }
    lab_result r;
    r.obs = &o;
    r.time = t->start;
    r.issued = o.issued ? o.issued->start : instant{};
    r.age_hours = std::max(0.0, hours_between(t->start, f.now));
    r.preliminary = preliminary;
    if (kind == obs_kind::pregnancy_status)
        keep_pregnancy_status(o, std::move(r));
    else
        keep_quantity(o, kind, std::move(r));
}

void observation_reader::keep_pregnancy_status(fhir::observation const& o, lab_result r) {
    if (o.data_absent || !o.value_concept) {
        trace_skip(o, obs_kind::pregnancy_status, trace_reason::no_value, "no coded answer");
        return;
    }
    if (r.age_hours > d.pregnancy_status_days * 24) {
        if (trace)
            trace_skip(o, obs_kind::pregnancy_status, trace_reason::too_old,
                       "older than " + format_number(d.pregnancy_status_days) + " days");
        return;
    }
    if (trace) {
        auto& e = trace::about_resource(
            trace, trace_section::observation, trace_decision::counted, trace_reason::none,
            "Observation", o.id,
            "pregnancy status counted: " + concept_name(*o.value_concept, "unnamed"));
        e.values.push_back(trace::text("kind", kind_name(obs_kind::pregnancy_status)));
        e.values.push_back(trace::number("ageHours", r.age_hours, "h"));
    }
    if (newest.pregnancy_status && !newer(r, *newest.pregnancy_status)) return;
    r.reference = obs_ref(o);
    newest.pregnancy_status = std::move(r);
    auto const& vs = *d.sets.pregnant_answer;
    newest.pregnancy_status_pregnant =
        vs.matches_code(*o.value_concept) || vs.matches_text(concept_words(*o.value_concept));
}

void observation_reader::keep_quantity(fhir::observation const& o, obs_kind kind, lab_result r) {
    if (o.data_absent || !o.value_quantity || !o.value_quantity->value) {
        skip_quietly(o, kind, trace_reason::no_value,
                     "no numeric value (dataAbsentReason or missing valueQuantity)",
                     d.text("skipped.no_value"));
        return;
    }
    auto const& q = *o.value_quantity;
    auto const converted = table_for(kind, d)->convert(*q.value, q.unit_key());
    if (!converted) {
        std::string const unknown_unit =
            fill(d.text("skipped.unknown_unit"), {{"unit", std::string(q.unit_key())}});
        skip_quietly(o, kind, trace_reason::unit, unknown_unit, unknown_unit);
        if (kind != obs_kind::magnesium_total) {
            f.unavailable.push_back(
                obs_ref(o) + ": " +
                fill(d.text("skipped.result_unit"),
                     {{"result", card_kind_name(kind, d)}, {"why", unknown_unit}}));
        }
        return;
    }
    if (auto why = implausible_reason(kind, *converted, d)) {
        skip_result(o, kind, trace_reason::implausible, std::move(*why));
        return;
    }
    if (kind == obs_kind::magnesium_total &&
        !magnesium_comparator_classifies(*converted, q.comparator, d)) {
        std::string value = comparator_text(q.comparator);
        value += format_number(*q.value, 4);
        value += ' ';
        value += q.unit_key();
        skip_result(o, kind, trace_reason::comparator,
                    fill(d.text("skipped.comparator"), {{"value", value}}));
        return;
    }
    r.value = *converted;
    r.reported_value = *q.value;
    r.comparator = q.comparator;
    r.reported_unit = q.unit.empty() ? q.code : q.unit;
    trace_counted(o, kind, r);
    if (kind == obs_kind::magnesium_total) f.magnesium.result_times.push_back(r.time);
    auto& kept = newest.by_kind[static_cast<std::size_t>(kind)];
    if (!kept || newer(r, *kept)) {
        r.reference = obs_ref(o);
        kept = std::move(r);
    }
}

// A counted result as reported and as compared, with its age: whether it is the one used is
// said where it is chosen (magnesium, renal function, coexisting results).
void observation_reader::trace_counted(fhir::observation const& o,
                                       obs_kind kind,
                                       lab_result const& r) {
    if (!trace) return;
    std::string const compared_unit = compared_unit_of(kind);
    std::string message = std::string(kind_name(kind)) +
                          " counted: " + comparator_text(r.comparator) +
                          format_number(r.reported_value, 4) + " " + r.reported_unit;
    if (r.reported_unit != compared_unit)
        message += " (= " + format_number(r.value, 4) + " " + compared_unit + ")";
    message +=
        ", " + describe_age_hours(r.age_hours, d) + " old" + (r.preliminary ? ", preliminary" : "");
    auto& e = trace::about_resource(trace, trace_section::observation, trace_decision::counted,
                                    trace_reason::none, "Observation", o.id, std::move(message));
    e.values.push_back(trace::text("kind", kind_name(kind)));
    e.values.push_back(trace::text("status", o.status));
    e.values.push_back(trace::number("reported", r.reported_value, r.reported_unit));
    if (r.comparator != fhir::quantity_comparator::none)
        e.values.push_back(trace::text("comparator", comparator_text(r.comparator)));
    e.values.push_back(trace::number("value", r.value, compared_unit));
    e.values.push_back(trace::number("ageHours", r.age_hours, "h"));
}

}  // namespace

void compile_observation_kinds(rule_set_data& d) {
    d.observation_kind_sets.clear();
    for (std::size_t i = 0; i < obs_kind_count; ++i) {
        value_set const& set = d.vs(kind_order[i].value_set);
        for (auto const& c : set.codes())
            d.observation_kind_codes.add(c.system, c.code, c.prefix, std::uint64_t{1} << i);
        d.observation_kind_sets.push_back(&set);
    }
}

newest_results read_observations(patient_findings& f,
                                 fhir::patient_snapshot const& snapshot,
                                 hook_context const& context,
                                 rule_set_data const& d,
                                 trace_recorder trace) {
    observation_reader reader{f, d, trace, {}};
    for (auto const& o : snapshot.observations) reader.read(o, context.patient_id);
    return std::move(reader.newest);
}

bool reads_observation(fhir::codeable_concept const& code, rule_set_data const& d) {
    return classify_observation(code, d) != obs_kind::other;
}

}  // namespace cds::rules::findings
