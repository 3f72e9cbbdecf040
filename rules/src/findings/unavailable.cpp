#include "common/text.hpp"
#include "findings/parts.hpp"
#include "trace/record.hpp"

namespace cds::rules::findings {

namespace {

service_definition const* service_of(hook_context const& context, rule_set_data const& d) {
    for (auto const& s : d.services) {
        if (s.id == context.service_id) return &s;
    }
    for (auto const& s : d.services) {
        if (s.hook == context.hook) return &s;
    }
    return nullptr;
}

// Prefetch keys the client could not fill, described as the service describes them.
void note_unavailable_prefetch(patient_findings& f,
                               hook_context const& context,
                               rule_set_data const& d,
                               trace_recorder trace) {
    auto const* svc = service_of(context, d);
    if (!svc) return;
    for (auto const& key : context.unavailable_prefetch) {
        for (auto const& t : svc->prefetch) {
            if (t.key != key) continue;
            if (trace)
                trace::about_value(trace, trace_section::data, trace_decision::noted,
                                   "prefetch." + key, "not available: " + t.describes);
            if (!t.noted_when_unavailable) continue;
            f.unavailable.push_back(
                fill(d.text("data_unavailable"), {{"describes", t.describes}, {"key", t.key}}));
            if (key == "renal")
                f.renal_unavailable.push_back(
                    fill(d.text("renal_unknown"), {{"describes", t.describes}}));
        }
    }
}

}  // namespace

// Shown with the unavailable data on every card: a data note means some evidence (e.g. a
// wasting drug) may be missing from what the rules saw.
void note_unavailable_data(patient_findings& f,
                           hook_context const& context,
                           rule_set_data const& d,
                           trace_recorder trace) {
    note_unavailable_prefetch(f, context, d, trace);
    for (auto const& data_note : context.data_notes) {
        if (trace)
            trace::about_value(trace, trace_section::data, trace_decision::noted, "data",
                               "incomplete: " + data_note);
        f.unavailable.push_back(fill(d.text("data_incomplete"), {{"describes", data_note}}));
    }
}

}  // namespace cds::rules::findings
