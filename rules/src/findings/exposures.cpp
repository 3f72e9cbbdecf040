#include <algorithm>

#include "common/text.hpp"
#include "findings/parts.hpp"
#include "trace/record.hpp"

namespace cds::rules {

namespace {

struct class_value_set {
    std::uint32_t bit;
    char const* name;
};
// The drug classes recognised by code (and, when no code matched, by name).
constexpr class_value_set drug_class_value_sets[] = {
    {dc_loop, "loop_diuretic"},
    {dc_thiazide, "thiazide_diuretic"},
    {dc_ppi, "proton_pump_inhibitor"},
    {dc_high_risk, "high_risk_magnesium_wasting"},
    {dc_calcineurin, "calcineurin_inhibitor"},
    {dc_digoxin, "digoxin"},
    {dc_fluoroquinolone, "fluoroquinolone"},
    {dc_tetracycline, "tetracycline"},
    {dc_mg_sulfate, "magnesium_sulfate"},
    {dc_mg_oral_salt, "magnesium_oral_salt"},
    {dc_potassium, "potassium_replacement"},
    {dc_famotidine, "famotidine"},
};

// The drug's code: the resolved Medication's, else the order's own concept.
fhir::codeable_concept const& drug_code(fhir::medication_order const& o) {
    return !o.resolved_code.empty() ? o.resolved_code
           : o.medication_concept   ? *o.medication_concept
                                    : o.resolved_code;
}

// Drug classes by code of the drug or an ingredient; by name only when no code matched.
// Returns the names the text look-ups read.
std::string classify_drug_classes(medication_exposure& e,
                                  fhir::codeable_concept const& code,
                                  rule_set_data const& d) {
    auto const& o = *e.order;
    std::vector<fhir::codeable_concept const*> concepts;
    concepts.reserve(1 + o.resolved_ingredients.size());
    concepts.push_back(&code);
    for (auto const& ing : o.resolved_ingredients) concepts.push_back(&ing);

    std::uint32_t by_code = 0;
    for (auto const* cc : concepts)
        by_code |= static_cast<std::uint32_t>(d.drug_class_codes.match_any(*cc));
    std::string words;
    for (auto const* cc : concepts) {
        words += concept_words(*cc);
        words += " | ";
    }
    std::uint32_t by_text = 0;
    if (by_code == 0) {
        for (auto const& [bit, set] : d.drug_class_sets) {
            if (set->matches_text(words)) by_text |= bit;
        }
    }
    e.classes = by_code | by_text;
    if (d.sets.magnesium_laxative->matches_text(words)) e.classes |= dc_mg_laxative;
    return words;
}

route_kind route_of_dosage(fhir::dosage const& ds, rule_set_data const& d) {
    auto const& sets = d.sets;
    if (sets.route_intravenous->matches_code(ds.route)) return route_kind::intravenous;
    if (sets.route_oral->matches_code(ds.route)) return route_kind::oral;
    std::string const rw = concept_words(ds.route);
    if (sets.route_intravenous->matches_text(rw)) return route_kind::intravenous;
    if (sets.route_intramuscular->matches_text(rw)) return route_kind::intramuscular;
    if (sets.route_rectal->matches_text(rw)) return route_kind::rectal;
    if (sets.route_oral->matches_text(rw)) return route_kind::oral;
    return route_kind::unknown;
}

// The route of the first dosage that names one; the dosage texts read up to it are kept for
// the fall-back.
route_kind route_from_dosages(medication_exposure const& e,
                              rule_set_data const& d,
                              std::string& dosage_text) {
    route_kind route = e.route;
    for (auto const& ds : e.order->dosages) {
        if (route != route_kind::unknown) break;
        route = route_of_dosage(ds, d);
        dosage_text += value_set::lower(ds.text) + " | ";
    }
    return route;
}

struct dose_form {
    bool parenteral = false;
    bool oral_solid = false;
    bool oral_liquid = false;
};

route_kind route_from_form(std::string const& form_words,
                           dose_form const& form,
                           std::string const& dosage_text,
                           std::string const& words,
                           rule_set_data const& d) {
    auto const& sets = d.sets;
    // An enema is a liquid but not taken by mouth: it neither repletes nor chelates.
    if (sets.route_rectal->matches_text(form_words)) return route_kind::rectal;
    if (form.parenteral) return route_kind::intravenous;
    if (form.oral_solid || form.oral_liquid) return route_kind::oral;
    if (sets.route_intravenous->matches_text(dosage_text)) return route_kind::intravenous;
    if (sets.route_intramuscular->matches_text(dosage_text)) return route_kind::intramuscular;
    if (sets.route_oral->matches_text(dosage_text + words)) return route_kind::oral;
    return route_kind::unknown;
}

// Magnesium: IV/oral is decided by route and dose form, never by the code alone
// (A12CC02 is oral magnesium sulfate); laxatives and bowel preparations are left alone.
void classify_magnesium_product(medication_exposure& e, dose_form const& form) {
    if (!e.is(dc_magnesium_product)) return;
    if (e.is(dc_mg_laxative) || e.route == route_kind::rectal)
        e.magnesium = mg_product::laxative;
    else if (e.route == route_kind::intravenous || e.route == route_kind::intramuscular)
        e.magnesium = mg_product::parenteral;
    else if (e.route == route_kind::oral)
        e.magnesium = form.oral_liquid && !form.oral_solid ? mg_product::laxative
                                                           : mg_product::oral_repletion;
    else if (e.is(dc_mg_sulfate)) {
        e.magnesium =
            mg_product::parenteral;  // magnesium sulfate with no route or form: the injectable
        e.route = route_kind::intravenous;
    } else {
        e.magnesium = mg_product::oral_repletion;
    }
}

}  // namespace

void classify_medication(medication_exposure& e, rule_set_data const& d) {
    auto const& o = *e.order;
    fhir::codeable_concept const& code = drug_code(o);
    std::string const words = classify_drug_classes(e, code, d);
    e.name = concept_name(code, d.text("unnamed_medication"));

    // Route: the order's route, else the dose form, else words in the medication name.
    std::string dosage_text;
    e.route = route_from_dosages(e, d, dosage_text);
    // The dose form decides only a route the dosages did not name, and what kind of
    // magnesium product this is.
    if (e.route != route_kind::unknown && !e.is(dc_magnesium_product)) return;
    std::string const form_words = concept_words(o.resolved_form) + " | " + words;
    auto const& sets = d.sets;
    dose_form form;
    form.parenteral = sets.form_parenteral->matches_text(form_words);
    form.oral_solid = sets.form_oral_solid->matches_text(form_words);
    form.oral_liquid = !form.parenteral && sets.form_oral_liquid->matches_text(form_words);
    if (e.route == route_kind::unknown)
        e.route = route_from_form(form_words, form, dosage_text, words, d);
    classify_magnesium_product(e, form);
}

namespace findings {

namespace {

std::string order_reference(fhir::medication_order const& o) {
    return (o.resource_type.empty() ? std::string("MedicationRequest") : o.resource_type) + "/" +
           o.id;
}

// An order refers to its drug (medicationReference) but nothing identifies it: the Medication
// was not in the request's or the fetched data (or not readable), or has neither a code, an
// ingredient nor a name, and the reference has no display either.
bool medication_unidentified(fhir::medication_order const& o) {
    return !o.medication_known && o.medication_reference.has_value() &&
           !(o.medication_concept && !o.medication_concept->empty());
}

// Client data quoted in card text: bounded, so that a hostile reference cannot fill the card.
void append_bounded(std::string& out, std::string_view text, std::size_t limit = 96) {
    if (text.size() <= limit) {
        out += text;
        return;
    }
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;  // UTF-8 boundary
    out += text.substr(0, cut);
    out += "...";
}

// A counted order whose Medication is not in the data (or names no drug) cannot be
// classified: said on the card rather than silently not counted. One sentence for every such
// order, naming up to three of them (order and reference as written). Strings are built only
// for such orders.
void note_unidentified_medications(patient_findings& f,
                                   rule_set_data const& d,
                                   trace_recorder trace) {
    constexpr std::size_t named_at_most = 3;
    std::string orders;
    std::size_t count = 0;
    for (auto const& e : f.exposures) {
        if (!medication_unidentified(*e.order)) continue;
        auto const& ref = *e.order->medication_reference;
        if (trace) {
            std::string message = "medication not identified: medicationReference '";
            append_bounded(message, ref.reference);
            message +=
                "' does not resolve to a Medication with a code, ingredient or name; not "
                "classified";
            auto const [type, id] = trace::split_reference(e.reference);
            trace::about_resource(trace, trace_section::medication, trace_decision::noted,
                                  trace_reason::none, type, id, std::move(message));
        }
        if (++count > named_at_most) continue;
        if (!orders.empty()) orders += "; ";
        orders += e.reference;
        if (!ref.reference.empty()) {
            orders += " (";
            append_bounded(orders, ref.reference);
            orders += ")";
        }
    }
    if (count == 0) return;
    if (count > named_at_most) {
        orders = fill(d.text("drug_names.more"),
                      {{"names", orders}, {"count", std::to_string(count - named_at_most)}});
    }
    f.unavailable.push_back(fill(d.text("medication_unidentified"), {{"describes", orders}}));
}

// An order not counted, with its type and id as written.
void trace_order_skipped(fhir::medication_order const& o,
                         trace_reason reason,
                         std::string_view message,
                         trace_recorder trace) {
    if (!trace) return;
    auto& e = trace::about_resource(
        trace, trace_section::medication, trace_decision::skipped, reason,
        o.resource_type.empty() ? std::string_view("MedicationRequest") : o.resource_type, o.id,
        std::string(message));
    e.values.push_back(trace::text("status", o.status));
}

// The hook's draft orders; returns their references, so that the record's copies are not
// counted twice.
std::vector<std::string> read_draft_orders(patient_findings& f,
                                           hook_context const& context,
                                           rule_set_data const& d,
                                           trace_recorder trace) {
    std::vector<std::string> context_refs;
    for (auto const& o : context.draft_orders) {
        if (names_other_patient(o.subject, context.patient_id)) {
            trace_order_skipped(o, trace_reason::other_patient, other_patient_note, trace);
            continue;
        }
        if (!o.has_medication() && !o.medication_known) {
            trace_order_skipped(o, trace_reason::no_medication,
                                "draft order without a medication yet: skipped", trace);
            continue;
        }
        if (d.medication_never.contains(o.status)) {
            if (trace)
                trace_order_skipped(o, trace_reason::status,
                                    "draft order with status '" + o.status + "' does not count",
                                    trace);
            continue;
        }
        medication_exposure e;
        e.order = &o;
        e.from_context = true;
        e.reference = order_reference(o);
        if (context.hook == "order-sign")
            e.trigger = true;
        else if (context.hook == "order-select") {
            e.trigger = std::find(context.selections.begin(), context.selections.end(),
                                  e.reference) != context.selections.end();
        }
        classify_medication(e, d);
        context_refs.push_back(e.reference);
        f.exposures.push_back(std::move(e));
    }
    return context_refs;
}

void read_record_orders(patient_findings& f,
                        fhir::patient_snapshot const& snapshot,
                        hook_context const& context,
                        std::vector<std::string> const& context_refs,
                        rule_set_data const& d,
                        trace_recorder trace) {
    for (auto const& o : snapshot.medication_orders) {
        std::string const ref = order_reference(o);
        if (std::find(context_refs.begin(), context_refs.end(), ref) != context_refs.end())
            continue;
        if (names_other_patient(o.subject, context.patient_id)) {
            trace_order_skipped(o, trace_reason::other_patient, other_patient_note, trace);
            continue;
        }
        if (!d.medication_counted.contains(o.status)) {
            if (trace)
                trace_order_skipped(o, trace_reason::status,
                                    "status '" + o.status + "' does not count", trace);
            continue;
        }
        if (!o.has_medication() && !o.medication_known) {
            trace_order_skipped(o, trace_reason::no_medication, "names no medication: skipped",
                                trace);
            continue;
        }
        medication_exposure e;
        e.order = &o;
        e.reference = ref;
        classify_medication(e, d);
        f.exposures.push_back(std::move(e));
    }
}

char const* route_name(route_kind r) {
    switch (r) {
        case route_kind::intravenous:
            return "intravenous";
        case route_kind::intramuscular:
            return "intramuscular";
        case route_kind::oral:
            return "oral";
        case route_kind::rectal:
            return "rectal";
        case route_kind::unknown:
            break;
    }
    return "not recognised";
}

// The drug classes of an order by their value-set names ("loop_diuretic proton_pump_inhibitor").
std::string class_names(std::uint32_t classes) {
    std::string names;
    for (auto const& [bit, name] : drug_class_value_sets) {
        if ((classes & bit) == 0) continue;
        if (!names.empty()) names += ' ';
        names += name;
    }
    if ((classes & dc_mg_laxative) != 0)
        names += names.empty() ? "magnesium_laxative" : " magnesium_laxative";
    return names;
}

// Every counted order: its drug, classes, route, status and where it came from.
void trace_exposures(patient_findings const& f, trace_recorder trace) {
    if (!trace) return;
    for (auto const& e : f.exposures) {
        std::string const classes = class_names(e.classes);
        char const* const origin = e.trigger        ? "triggering order of this hook"
                                   : e.from_context ? "draft order of this hook"
                                                    : "in the record";
        auto const [type, id] = trace::split_reference(e.reference);
        auto& entry = trace::about_resource(
            trace, trace_section::medication, trace_decision::counted, trace_reason::none, type, id,
            e.name + ": " + (classes.empty() ? std::string("no class the rules read") : classes) +
                ", route " + route_name(e.route) + ", " + origin);
        entry.values = {trace::text("drug", e.name), trace::text("classes", classes),
                        trace::text("route", route_name(e.route)),
                        trace::text("status", e.order->status), trace::text("origin", origin)};
    }
}

}  // namespace

void compile_drug_classes(rule_set_data& d) {
    d.drug_class_sets.clear();
    for (auto const& [bit, name] : drug_class_value_sets) {
        value_set const& set = d.vs(name);
        for (auto const& c : set.codes()) d.drug_class_codes.add(c.system, c.code, c.prefix, bit);
        d.drug_class_sets.emplace_back(bit, &set);
    }
}

void read_exposures(patient_findings& f,
                    fhir::patient_snapshot const& snapshot,
                    hook_context const& context,
                    rule_set_data const& d,
                    trace_recorder trace) {
    std::vector<std::string> const context_refs = read_draft_orders(f, context, d, trace);
    read_record_orders(f, snapshot, context, context_refs, d, trace);
    note_unidentified_medications(f, d, trace);
    trace_exposures(f, trace);
}

}  // namespace findings
}  // namespace cds::rules
