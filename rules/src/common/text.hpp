#pragma once
// Small text helpers shared by findings and card builders: number formatting, template
// filling, and the CDS Hooks summary length limit.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cds/fhir/types.hpp"

namespace cds::rules {

// Lower-cased text of a concept and the displays of its codings, for word matching.
[[nodiscard]] std::string concept_words(fhir::codeable_concept const& cc);
// A readable name: text, else the first display, else the first code, else `unnamed` (a
// configured text where the name reaches a card).
[[nodiscard]] std::string concept_name(fhir::codeable_concept const& cc, std::string_view unnamed);
// Up to `decimals` decimals, trailing zeros removed ("1.1", "2", "0.45").
[[nodiscard]] std::string format_number(double v, int decimals = 2);
// A measured value for cards: like format_number, but a value below 10 keeps at least one
// decimal ("1.0 mg/dL", "3.0 mmol/L", not "1 mg/dL"): lab results of that size are reported
// with a decimal, and the model keeps the number, not the digits it was written with.
[[nodiscard]] std::string format_measurement(double v, int max_decimals = 2);
// A computed value (a conversion, a Cockcroft-Gault estimate) for cards: exactly one decimal
// ("20.0", "34.4"), as CLINICAL-BASIS.md §7 asks; reported results keep their own digits.
[[nodiscard]] std::string format_computed(double v);
// Replaces {name} placeholders; unknown placeholders are left as written.
using template_values = std::vector<std::pair<std::string_view, std::string>>;
[[nodiscard]] std::string fill(std::string_view tpl, template_values const& values);
// CDS Hooks 2.0: summary "<140 characters"; a longer one loses its last whole words (no ellipsis).
[[nodiscard]] std::string clip_summary(std::string s);
[[nodiscard]] std::string comparator_text(fhir::quantity_comparator c);

}  // namespace cds::rules
