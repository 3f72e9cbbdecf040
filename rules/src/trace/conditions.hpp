#pragma once
// The conditions a rule compares, as the explain trace shows them (CLINICAL-BASIS.md §4): the
// builders the rules' `rule_<name>_conditions` functions share. Called only when the trace is
// recorded, so they may format freely.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cards.hpp"

namespace cds::rules::trace {

// "MedicationRequest/a, MedicationRequest/b".
[[nodiscard]] std::string references_of(std::vector<medication_exposure const*> const& orders);
// A yes/no condition met when there is an order; its note lists them.
[[nodiscard]] trace_comparison ordered(std::string what,
                                       std::vector<medication_exposure const*> const& orders);

// ---- the newest counted serum magnesium ----
[[nodiscard]] trace_comparison mg_known(rule_context const& rc);
[[nodiscard]] std::optional<double> mg_value(rule_context const& rc);      // mg/dL
[[nodiscard]] std::optional<double> mg_age_hours(rule_context const& rc);  // h
[[nodiscard]] trace_comparison mg_low(rule_context const& rc);
[[nodiscard]] trace_comparison mg_current(rule_context const& rc);
// No counted serum magnesium result within `days` (of any level).
[[nodiscard]] trace_comparison no_mg_within(rule_context const& rc, std::string what, double days);
// No serum magnesium level is ordered (active or drafted) for now (CLINICAL-BASIS.md §3.3).
[[nodiscard]] trace_comparison no_mg_level_ordered(rule_context const& rc);
// A current low magnesium and a triggering order of one of the classes: the rules whose part
// joins the hypomagnesemia card (wasting drugs, potassium, digoxin).
[[nodiscard]] std::vector<trace_comparison> low_magnesium_with(rule_context const& rc,
                                                               std::string what,
                                                               std::uint32_t classes);

// ---- renal function ----
// The estimate that set the band, in mL/min; nullopt when there is none.
[[nodiscard]] std::optional<double> renal_estimate_ml_min(rule_context const& rc);
// What else decided the band: a CKD stage 5 / dialysis Condition, or no estimate at all.
[[nodiscard]] std::string renal_note(rule_context const& rc);

}  // namespace cds::rules::trace
