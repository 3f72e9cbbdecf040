#pragma once
// Recording the explain trace where a decision is taken: one call per decision, with the
// resource it is about, the reason code and the values used (cds/rules/trace.hpp). Each call
// needs a recorder that is on (trace_recorder::on()): the caller asks before it builds the
// message.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cds/rules/trace.hpp"
#include "trace/recorder.hpp"

namespace cds::rules::trace {

// A decision about one resource ("Observation", "mg1"): its subject is "Observation/mg1".
trace_entry& about_resource(trace_recorder trace,
                            trace_section section,
                            trace_decision decision,
                            trace_reason reason,
                            std::string_view type,
                            std::string_view id,
                            std::string message);

// A decision about a derived value ("magnesium", "renal_function", "cockcroft_gault").
trace_entry& about_value(trace_recorder trace,
                         trace_section section,
                         trace_decision decision,
                         std::string subject,
                         std::string message);

// Splits "Type/id" into its parts; {"", ""} when it is not of that form.
[[nodiscard]] std::pair<std::string_view, std::string_view> split_reference(
    std::string_view reference);

[[nodiscard]] inline trace_value number(std::string name, double v, std::string unit = {}) {
    return {std::move(name), v, std::move(unit)};
}
[[nodiscard]] inline trace_value text(std::string name, std::string v) {
    return {std::move(name), std::move(v), {}};
}

// A value compared with a threshold; `holds` is what the finding or rule decided.
[[nodiscard]] inline trace_comparison compare(std::string what,
                                              std::optional<double> value,
                                              std::string op,
                                              double threshold,
                                              std::string unit,
                                              bool holds,
                                              std::string note = {}) {
    return {std::move(what), value, std::move(op),  threshold,
            std::move(unit), holds, std::move(note)};
}
// A yes/no condition.
[[nodiscard]] inline trace_comparison condition(std::string what,
                                                bool holds,
                                                std::string note = {}) {
    return {std::move(what), std::nullopt, {}, std::nullopt, {}, holds, std::move(note)};
}

}  // namespace cds::rules::trace
