// Levels already ordered (CLINICAL-BASIS.md §3.3): every ServiceRequest of the request, drafted
// with this hook's orders or in the record, read once. A magnesium, creatinine or digoxin level
// that is active or drafted for the patient is kept, so that no suggestion orders it again.

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/format.hpp"
#include "common/text.hpp"
#include "findings/parts.hpp"
#include "trace/record.hpp"

namespace cds::rules {

namespace {

char const* level_name(level_kind k) {
    switch (k) {
        case level_kind::creatinine:
            return "creatinine";
        case level_kind::digoxin:
            return "digoxin";
        case level_kind::magnesium:
            break;
    }
    return "magnesium";
}

// Whether [t.start, t.end()) — a point for a full time, the whole day, month or year for a
// partial date — meets [from, to].
bool time_meets(fhir::date_time const& t, fhir::instant from, fhir::instant to) {
    return t.end() > from && t.start <= to;
}

}  // namespace

level_order const* level_ordered_between(patient_findings const& f,
                                         level_kind kind,
                                         fhir::instant from,
                                         fhir::instant to) {
    for (auto const& o : f.level_orders) {
        if (o.kind == kind && time_meets(o.time, from, to)) return &o;
    }
    return nullptr;
}

level_order const* level_ordered_now(patient_findings const& f,
                                     level_kind kind,
                                     rule_set_data const& d) {
    auto const hours = [](double h) {
        return std::chrono::milliseconds(std::llround(h * 3'600'000.0));
    };
    return level_ordered_between(f, kind, f.now - hours(d.level_order_pending_hours),
                                 f.now + hours(d.level_order_late_hours));
}

level_order const* recheck_ordered(patient_findings const& f,
                                   level_kind kind,
                                   fhir::instant due,
                                   rule_set_data const& d) {
    auto const late =
        std::chrono::milliseconds(std::llround(d.level_order_late_hours * 3'600'000.0));
    return level_ordered_between(f, kind, due, std::max(due, f.now) + late);
}

namespace findings {

namespace {

// Recognised by the ServiceRequest's own code like an Observation (CLINICAL-BASIS.md §1: codes
// first); the words of its text only when it carries no LOINC coding. Ionized magnesium is
// excluded by the total-magnesium list's own exclusions.
std::optional<level_kind> classify_level(fhir::codeable_concept const& code,
                                         rule_set_data const& d) {
    auto const& sets = d.sets;
    if (sets.magnesium_total->matches_code(code)) return level_kind::magnesium;
    if (sets.creatinine->matches_code(code)) return level_kind::creatinine;
    if (sets.digoxin_level->matches_code(code)) return level_kind::digoxin;
    bool const has_loinc =
        std::any_of(code.codings.begin(), code.codings.end(),
                    [](fhir::coding const& c) { return c.system == "http://loinc.org"; });
    std::string const words = concept_words(code);
    // The digoxin level has no verified LOINC code: its words are read even beside one.
    if (sets.digoxin_level->matches_text(words)) return level_kind::digoxin;
    if (has_loinc) return std::nullopt;
    if (sets.magnesium_total->matches_text(words)) return level_kind::magnesium;
    if (sets.creatinine->matches_text(words)) return level_kind::creatinine;
    return std::nullopt;
}

// When it is to be done: its occurrence; with none given, when it was authored (an order
// without a time is done as soon as it can be), a draft of this hook without either now.
std::optional<fhir::date_time> level_time(fhir::service_request const& r,
                                          bool from_context,
                                          fhir::instant now) {
    if (auto const t = r.occurrence_time()) return t;
    if (r.occurrence_given) return std::nullopt;  // e.g. an occurrenceTiming: not read
    if (r.authored_on) return r.authored_on;
    if (from_context) return fhir::date_time{now, fhir::date_precision::second, true};
    return std::nullopt;
}

trace_entry& trace_request(trace_recorder trace,
                           fhir::service_request const& r,
                           trace_decision decision,
                           trace_reason reason,
                           std::string message) {
    auto& e = trace::about_resource(trace, trace_section::service_request, decision, reason,
                                    "ServiceRequest", r.id, std::move(message));
    e.values.push_back(trace::text("status", r.status));
    return e;
}

// One ServiceRequest: kept as a level already ordered, or skipped with the reason.
void read_level_order(patient_findings& f,
                      fhir::service_request const& r,
                      bool from_context,
                      rule_set_data const& d,
                      trace_recorder trace) {
    if (names_other_patient(r.subject, f.patient_id)) {
        if (trace)
            trace_request(trace, r, trace_decision::skipped, trace_reason::other_patient,
                          other_patient_note);
        return;
    }
    if (!d.service_request_pending.contains(r.status)) {
        if (trace)
            trace_request(trace, r, trace_decision::skipped, trace_reason::status,
                          "status '" + r.status + "': not a level still to be done");
        return;
    }
    auto const kind = classify_level(r.code, d);
    if (!kind) {
        if (trace)
            trace_request(trace, r, trace_decision::skipped, trace_reason::code,
                          "not a level the rules suggest");
        return;
    }
    auto const time = level_time(r, from_context, f.now);
    if (!time) {
        if (trace)
            trace_request(trace, r, trace_decision::skipped, trace_reason::no_time,
                          "no occurrenceDateTime or occurrencePeriod to tell when it is done");
        return;
    }
    level_order o{&r, *kind, from_context, *time, "ServiceRequest/" + r.id};
    if (trace) {
        char const* const origin = from_context ? "draft order of this hook" : "in the record";
        auto& e = trace_request(trace, r, trace_decision::counted, trace_reason::none,
                                std::string(level_name(*kind)) + " level ordered for " +
                                    format_card_date(*time, d) + ", " + origin);
        e.values.push_back(trace::text("kind", level_name(*kind)));
        e.values.push_back(trace::text("when", fhir::format_instant(time->start)));
        e.values.push_back(trace::text("origin", origin));
    }
    f.level_orders.push_back(std::move(o));
}

}  // namespace

void read_level_orders(patient_findings& f,
                       fhir::patient_snapshot const& snapshot,
                       hook_context const& context,
                       rule_set_data const& d,
                       trace_recorder trace) {
    std::vector<std::string_view> drafted;
    for (auto const& r : context.draft_service_requests) {
        read_level_order(f, r, true, d, trace);
        if (!r.id.empty()) drafted.push_back(r.id);
    }
    // The record's copy of a draft of this hook is the same order: counted once, as the draft.
    for (auto const& r : snapshot.service_requests) {
        if (!r.id.empty() && std::find(drafted.begin(), drafted.end(), r.id) != drafted.end())
            continue;
        read_level_order(f, r, false, d, trace);
    }
}

}  // namespace findings
}  // namespace cds::rules
