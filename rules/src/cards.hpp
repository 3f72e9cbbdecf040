#pragma once
// Cards before they become JSON: each rule returns card_drafts; evaluate() then places the
// shared suggestions (repletion, Mg level) on the most severe card that asks for them,
// orders the cards, and serializes them per CDS Hooks 2.0 (CLINICAL-BASIS.md §5).

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "findings.hpp"

namespace cds::rules {

enum class indicator { info = 0, warning = 1, critical = 2 };

// The CDS Hooks 2.0 Card.indicator value.
constexpr char const* indicator_word(indicator i) {
    switch (i) {
        case indicator::critical:
            return "critical";
        case indicator::warning:
            return "warning";
        case indicator::info:
            break;
    }
    return "info";
}

struct suggestion_draft {
    std::string label;
    bool recommended = false;
    std::vector<boost::json::object> actions;  // {type, description, resource | resourceId}
};

// What a card may carry that must appear on one card only (CLINICAL-BASIS.md §5).
enum class shared_suggestion { none, repletion, level };

// The problem a draft belongs to. The drafts of one problem become one card (CLINICAL-BASIS.md
// §5 "One card per problem"): every finding that stems from the current hypomagnesemia (the
// deficiency itself, and the wasting drugs, potassium and digoxin among the triggering orders).
// A draft of no problem is an independent card.
enum class problem { none, current_hypomagnesemia };

struct card_draft {
    std::string rule_id;
    indicator level = indicator::info;
    std::string summary;
    std::vector<std::string> detail;            // markdown blocks, joined by blank lines
    std::vector<suggestion_draft> suggestions;  // the card's own suggestions
    shared_suggestion wants = shared_suggestion::none;
    std::string sort_key;                 // e.g. the first triggering order, for a stable order
    std::vector<std::string> references;  // the resources the finding used (card extension)
    // A part of a problem's card: its drugs, and in `detail` one line per drug with that drug's
    // implication; compose_problem_cards() turns the parts into the card.
    problem part_of = problem::none;
    std::vector<medication_exposure const*> drugs;
    // Orders that go with whichever suggestion is chosen (the digoxin level beside the
    // repletion): the alternatives are exclusive (at-most-one), so each carries them.
    std::vector<suggestion_draft> companions;
    // The rules whose parts this problem's card was composed of, its own first; for the
    // trace, so filled only when it is recorded.
    std::vector<std::string> joined_rules;
};

// ---- repletion plan (CLINICAL-BASIS.md §3) ----
struct repletion_plan {
    bool applies = false;      // a current hypomagnesemia to treat
    bool severe_path = false;  // severe or symptomatic
    bool critical = false;     // contraindicated renal band with the IV path
    bool downgrade_to_info =
        false;           // already on oral repletion, mild: an info card about the recheck
    std::string action;  // summary phrase
    std::vector<std::string> notes;  // detail lines
    std::vector<suggestion_draft> suggestions;
    std::vector<trace_entry> trace;  // what planning noted, added to the trace at every use
};

struct rule_context {
    patient_findings const& f;
    hook_context const& hook;
    rule_set_data const& d;
    trace_recorder trace;                   // on only when the caller asked for the trace
    boost::json::storage_ptr json_storage;  // where the cards' JSON is allocated

    // A note in the trace about `subject`, when the trace is recorded: the message is its parts
    // joined, built only then.
    template <class... MessageParts>
    void note(std::string_view rule,
              std::string_view subject,
              MessageParts const&... message) const {
        if (!trace) return;
        std::string text;
        (text.append(message), ...);
        trace.entries().emplace_back(std::string(rule), std::string(subject), std::move(text));
    }

    // The repletion plan of this request. It depends on the findings only, and building it
    // (the suggested FHIR resources) was the largest cost of a card: up to four rules and
    // evaluate() ask for it, so it is planned once and its trace notes repeated per use.
    [[nodiscard]] repletion_plan const& repletion() const;
    // The plan's suggestions, moved out for the card that carries them (after the rules ran).
    [[nodiscard]] std::vector<suggestion_draft> take_repletion_suggestions() const;

    // Parts of this request's cards computed on first use and shared by the rules.
    struct request_cache {
        std::optional<repletion_plan> repletion;
        std::optional<boost::json::object>
            context_references;  // subject, encounter, authoredOn, requester
    };
    mutable request_cache cache{};
};

// Merges the drafts of each problem into one card (CLINICAL-BASIS.md §5): the card reports the
// rule of its primary trigger (the part of the lowest rank), names the magnesium value and the
// first drug in its summary, gives one line per drug, and carries one set of repletion
// suggestions. Drafts of no problem are left as they are.
void compose_problem_cards(std::vector<card_draft>& cards, rule_context const& rc);
// Adds the card's companions to each of its suggestions (label and actions), or makes them its
// suggestions when it has none.
void add_companions(card_draft& card, rule_context const& rc);
// Removes from each card the detail sentences an earlier card (in display order) already
// shows: no sentence appears on two cards of one response (CLINICAL-BASIS.md §5).
void drop_repeated_sentences(std::vector<card_draft>& cards);
// The magnesium value of a summary with its severity, conversion, "preliminary" and the
// symptom: "0.49 mmol/L (1.19 mg/dL, severe)", "1.5 mg/dL (mild–moderate, with torsades)".
[[nodiscard]] std::string mg_summary_finding(rule_context const& rc);

// Plans from scratch; rules use rule_context::repletion(), which plans once per request.
[[nodiscard]] repletion_plan plan_repletion(rule_context const& rc);
// A serum Mg level now (monitoring only), plus a creatinine when renal function is unknown.
// An empty label takes the configured one.
[[nodiscard]] suggestion_draft level_suggestion(rule_context const& rc, std::string const& label);
// A serum Mg recheck the configured hours after the configured infusion ends (§3.2), for an IV
// draft that is already at the dose the rules allow.
[[nodiscard]] suggestion_draft recheck_after_infusion_suggestion(rule_context const& rc);
// A serum digoxin level now (CLINICAL-BASIS.md §3.4: digoxin while hypomagnesemia is current).
[[nodiscard]] suggestion_draft digoxin_level_suggestion(rule_context const& rc);

// Fills the prebuilt JSON members of the rule set data (codings, concepts, override reasons,
// each rule's card source and extension) from the loaded configuration. Called by the loader.
void prebuild_card_json(rule_set_data& d);

// ---- FHIR resources for create actions ----
[[nodiscard]] boost::json::object make_service_request(rule_context const& rc,
                                                       concept_config const& code,
                                                       double hours_from_now,
                                                       std::string const& reason);
// The action is allocated where the resource is.
[[nodiscard]] boost::json::object make_create_action(std::string description,
                                                     boost::json::object resource);
[[nodiscard]] boost::json::object make_delete_action(std::string description,
                                                     std::string const& resource_id,
                                                     boost::json::storage_ptr const& storage);
// CDS Hooks 2.0 update: `resource` is the whole updated resource.
[[nodiscard]] boost::json::object make_update_action(std::string description,
                                                     boost::json::object resource);
// The repletion plan's recommended suggestion plus the PPI draft's removal and famotidine dosed
// by renal band (CLINICAL-BASIS.md §3.4: choosing the switch never means no magnesium).
[[nodiscard]] suggestion_draft famotidine_switch(rule_context const& rc,
                                                 medication_exposure const& ppi);

// ---- way-out suggestions on draft orders (CLINICAL-BASIS.md §3.4) ----
// Each returns nullopt when there is no draft of this hook to act on (an active order is not
// changed by a suggestion) or its dose is not in mass units.
// "Remove the magnesium order": a delete action per draft.
[[nodiscard]] std::optional<suggestion_draft> remove_orders_suggestion(
    rule_context const& rc, std::vector<medication_exposure const*> const& orders);
// The draft run over whole configured steps of minutes at or below the maximum rate.
[[nodiscard]] std::optional<suggestion_draft> slower_rate_suggestion(rule_context const& rc,
                                                                     medication_exposure const& e);
// The IV draft lowered to `new_dose_mg` (the configured product of that dose, its volume and mL/h,
// one dose) plus the recheck after the infusion, labelled by the text `label_key`
// ("orders.halve_label", "orders.reduce_label"); nullopt when the draft is already at or below it.
[[nodiscard]] std::optional<suggestion_draft> dose_change_suggestion(rule_context const& rc,
                                                                     medication_exposure const& e,
                                                                     double new_dose_mg,
                                                                     std::string_view label_key);
// The oral draft as the halved order of CLINICAL-BASIS.md §3.2 (magnesium oxide when `oxide`, else
// the elemental alternative) for the recheck interval, plus that recheck.
[[nodiscard]] std::optional<suggestion_draft> halved_oral_suggestion(rule_context const& rc,
                                                                     medication_exposure const& e,
                                                                     bool oxide);
// The draft bounded to `days` (timing.repeat.boundsDuration).
[[nodiscard]] std::optional<suggestion_draft> limit_duration_suggestion(
    rule_context const& rc, medication_exposure const& e, double days);

// ---- detail text shared by the rules ----
[[nodiscard]] std::string mg_value_text(lab_result const& r);  // "1.1", "<1.2", "1.0"
// A result as reported, plus its value in the unit the rules compare in when that differs:
// "3.2 mEq/L (= 3.2 mmol/L)", "2.0 mmol/L (= 8.02 mg/dL)", "3.1 mmol/L".
[[nodiscard]] std::string reported_text(lab_result const& r,
                                        std::string_view compared_unit,
                                        int converted_decimals);
[[nodiscard]] std::string mg_evidence(rule_context const& rc);
// The band and the threshold the current result crossed ("Severe: below 1.2 mg/dL.").
[[nodiscard]] std::string mg_thresholds(rule_context const& rc);
// The newest Mg for a summary: as reported, with mg/dL in parentheses when converted, and
// "preliminary" when it is ("0.49 mmol/L (1.19 mg/dL)").
[[nodiscard]] std::string mg_summary_text(rule_context const& rc);
// The references of the resources a finding used (the orders, the newest Mg, the renal
// estimate, coexisting K/Ca), for the card extension (CLINICAL-BASIS.md §5 provenance).
[[nodiscard]] std::vector<std::string> evidence_references(
    rule_context const& rc, std::vector<medication_exposure const*> const& drugs);
[[nodiscard]] std::string renal_text(rule_context const& rc);
[[nodiscard]] std::string renal_short(
    rule_context const& rc);  // "23 mL/min", "CKD stage 5 / dialysis"
[[nodiscard]] std::vector<std::string> coexisting_text(rule_context const& rc);
[[nodiscard]] std::vector<std::string> missing_data_text(rule_context const& rc);
// The orders by name, a draft of this hook marked as one (the text "draft_order").
[[nodiscard]] std::string drugs_text(rule_context const& rc,
                                     std::vector<medication_exposure const*> const& drugs);
// The drugs as a summary names them: "Furosemide", "Furosemide and omeprazole", "Furosemide
// and 2 more" (the texts "drug_names.*").
[[nodiscard]] std::string drug_summary_name(rule_context const& rc,
                                            std::vector<medication_exposure const*> const& drugs);
[[nodiscard]] std::vector<medication_exposure const*> contributing_drugs(rule_context const& rc);

// ---- the rules: one file each under rules/src/rules/, declared from their registry lines ----
// A rule's file defines the rule and, beside it, the conditions the rule compares as the explain
// trace shows them (`<function>_conditions`, called only when the trace is recorded). The
// registry table takes the address of both, so a registry line whose file lacks either does
// not link, and the linker names the missing function.
#define CDS_DECLARE_RULE(function)                              \
    std::optional<card_draft> function(rule_context const& rc); \
    std::vector<trace_comparison> function##_conditions(rule_context const& rc);
#define CDS_RULE(function, ...) CDS_DECLARE_RULE(function)
#include "registry.def"

// Whether the order's own reason is in any of the named value sets: a reasonCode, or the
// Condition a reasonReference names (contained or in the data, whatever its status; when it
// resolves to neither, the reference's display).
[[nodiscard]] bool order_reason_in(fhir::medication_order const& o,
                                   patient_findings const& f,
                                   std::initializer_list<char const*> value_sets,
                                   rule_set_data const& d);
// Why an order may be given without a deficiency or faster than the maximum rate
// (CLINICAL-BASIS.md §7 Exemptions), in words for the card; empty when it is not exempt.
// `acute_asthma_counts`: asthma exempts too (repletion without deficiency only).
[[nodiscard]] std::string exemption(rule_context const& rc,
                                    medication_exposure const& e,
                                    bool acute_asthma_counts);

// Triggering magnesium repletion orders (parenteral or oral repletion, not laxatives).
[[nodiscard]] std::vector<medication_exposure const*> triggering_repletion_orders(
    rule_context const& rc);
// Triggering orders with any of the classes.
[[nodiscard]] std::vector<medication_exposure const*> triggering(rule_context const& rc,
                                                                 std::uint32_t classes);

// IV rate of an order in mg/min, when it can be computed (CLINICAL-BASIS.md §4: a dose and
// a rate in mass units, or a dose and an infusion duration; mL/h alone is not checked).
[[nodiscard]] std::optional<double> iv_rate_mg_per_min(fhir::medication_order const& o,
                                                       rule_set_data const& d);
// Intended duration of an order in days (bounds, expected supply duration).
[[nodiscard]] std::optional<double> order_duration_days(fhir::medication_order const& o,
                                                        rule_set_data const& d);
// Continuous (CLINICAL-BASIS.md §7): repeated doses (a frequency), an administration that runs
// longer than a bolus (its duration, or its dose at its rate), or a rate with no dose to end it.
[[nodiscard]] bool runs_continuously(fhir::medication_order const& o, rule_set_data const& d);
// The first dosage's dose in mg; nullopt when it has none in mass units.
[[nodiscard]] std::optional<double> first_dose_mg(medication_exposure const& e,
                                                  rule_set_data const& d);
// Mass per day in mg (dose × frequency ÷ period, one dose when no frequency); nullopt when a
// dosage has no dose in mass units.
[[nodiscard]] std::optional<double> daily_dose_mg(fhir::medication_order const& o,
                                                  rule_set_data const& d);

}  // namespace cds::rules
