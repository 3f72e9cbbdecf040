#pragma once
// Reading what a suggested order says (dose, rate, frequency, codes, time) from its FHIR R4
// JSON, for comparing it with a scenario's expectation: masses in mg, rates in mg/min.

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace cds::service::workbench::measures {

using boost::json::array;
using boost::json::object;
using boost::json::value;

[[nodiscard]] value const* field(value const* v, std::string_view key);
[[nodiscard]] object const& object_at(value const* v, std::string_view key);
[[nodiscard]] array const& array_at(value const* v, std::string_view key);
[[nodiscard]] std::optional<double> number(value const* v);
// The text of a member as a string ("" when absent; numbers and objects as JSON).
[[nodiscard]] std::string text(value const* v);
[[nodiscard]] std::string lower(std::string s);

[[nodiscard]] std::string quantity_unit(value const* q);
[[nodiscard]] std::optional<double> mass_mg(value const* q);
[[nodiscard]] value const* first_dosage(value const& resource);
[[nodiscard]] value const* dose_quantity(value const* dosage);
[[nodiscard]] std::optional<double> infusion_rate_mg_per_min(value const* dosage);
[[nodiscard]] std::optional<double> infusion_minutes(value const* dosage);
[[nodiscard]] std::optional<double> frequency_per_day(value const* dosage);
// Codes of the medication (also a contained Medication) or code: "code" and "system|code".
[[nodiscard]] std::set<std::string> codes_of(value const& resource);
[[nodiscard]] std::string concept_text(value const& resource);
[[nodiscard]] std::vector<std::string> route_strings(value const* dosage);
// ISO 8601 durations as PnD, PTnH, PTnM (and combinations), in minutes.
[[nodiscard]] std::optional<double> duration_minutes(std::string const& text);

}  // namespace cds::service::workbench::measures
