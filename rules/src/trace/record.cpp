#include "trace/record.hpp"

namespace cds::rules {

std::string_view trace_section_name(trace_section s) {
    switch (s) {
        case trace_section::patient:
            return "patient";
        case trace_section::observation:
            return "observation";
        case trace_section::magnesium:
            return "magnesium";
        case trace_section::condition:
            return "condition";
        case trace_section::renal:
            return "renal";
        case trace_section::data:
            return "data";
        case trace_section::medication:
            return "medication";
        case trace_section::service_request:
            return "service-request";
        case trace_section::rule:
            return "rule";
        case trace_section::cards:
            break;
    }
    return "cards";
}

std::string_view trace_decision_name(trace_decision d) {
    switch (d) {
        case trace_decision::counted:
            return "counted";
        case trace_decision::skipped:
            return "skipped";
        case trace_decision::chosen:
            return "chosen";
        case trace_decision::computed:
            return "computed";
        case trace_decision::not_computed:
            return "not-computed";
        case trace_decision::fired:
            return "fired";
        case trace_decision::not_fired:
            return "not-fired";
        case trace_decision::disabled:
            return "disabled";
        case trace_decision::not_run:
            return "not-run";
        case trace_decision::noted:
            break;
    }
    return "noted";
}

std::string_view trace_reason_name(trace_reason r) {
    switch (r) {
        case trace_reason::other_patient:
            return "other-patient";
        case trace_reason::status:
            return "status";
        case trace_reason::code:
            return "code";
        case trace_reason::unit:
            return "unit";
        case trace_reason::no_value:
            return "no-value";
        case trace_reason::no_time:
            return "no-time";
        case trace_reason::future_date:
            return "future-date";
        case trace_reason::implausible:
            return "implausible";
        case trace_reason::comparator:
            return "comparator";
        case trace_reason::ionized:
            return "ionized";
        case trace_reason::too_old:
            return "too-old";
        case trace_reason::no_medication:
            return "no-medication";
        case trace_reason::missing_input:
            return "missing-input";
        case trace_reason::none:
            break;
    }
    return "";
}

namespace trace {

trace_entry& about_resource(trace_recorder trace,
                            trace_section section,
                            trace_decision decision,
                            trace_reason reason,
                            std::string_view type,
                            std::string_view id,
                            std::string message) {
    std::string subject;
    subject.reserve(type.size() + 1 + id.size());
    subject.append(type).append("/").append(id);
    trace_entry& e =
        trace.entries().emplace_back("findings", std::move(subject), std::move(message));
    e.section = section;
    e.decision = decision;
    e.reason = reason;
    e.resource_type = type;
    e.resource_id = id;
    return e;
}

trace_entry& about_value(trace_recorder trace,
                         trace_section section,
                         trace_decision decision,
                         std::string subject,
                         std::string message) {
    trace_entry& e =
        trace.entries().emplace_back("findings", std::move(subject), std::move(message));
    e.section = section;
    e.decision = decision;
    return e;
}

std::pair<std::string_view, std::string_view> split_reference(std::string_view reference) {
    auto const slash = reference.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == reference.size() ||
        reference.find('/', slash + 1) != std::string_view::npos)
        return {};
    return {reference.substr(0, slash), reference.substr(slash + 1)};
}

}  // namespace trace
}  // namespace cds::rules
