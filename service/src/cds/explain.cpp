#include "cds/service/cds/explain.hpp"

#include <cmath>
#include <sstream>
#include <string>
#include <string_view>

#include <boost/json.hpp>

namespace cds::service {

namespace bj = boost::json;

namespace {

// The layout's name and version: a consumer checks it; members are only ever added within it.
constexpr char const* explain_layout = "magnesium-cds-explain/2";

// Values are computed in binary floating point: four decimals are more than any threshold or
// unit conversion of the rule set uses, and keep "1.19124" from printing as 1.1912400000000001.
double rounded(double v) { return std::round(v * 10000.0) / 10000.0; }

bj::array render_values(std::vector<rules::trace_value> const& values, bj::storage_ptr const& sp) {
    bj::array out(sp);
    out.reserve(values.size());
    for (auto const& v : values) {
        bj::object item(3, sp);
        item["name"] = v.name;
        if (auto const* number = std::get_if<double>(&v.value))
            item["value"] = rounded(*number);
        else
            item["value"] = std::get<std::string>(v.value);
        if (!v.unit.empty()) item["unit"] = v.unit;
        out.push_back(std::move(item));
    }
    return out;
}

bj::array render_compared(std::vector<rules::trace_comparison> const& compared,
                          bj::storage_ptr const& sp) {
    bj::array out(sp);
    out.reserve(compared.size());
    for (auto const& c : compared) {
        bj::object item(7, sp);
        item["what"] = c.what;
        if (c.value) item["value"] = rounded(*c.value);
        if (!c.op.empty()) item["operator"] = c.op;
        if (c.threshold) item["threshold"] = rounded(*c.threshold);
        if (!c.unit.empty()) item["unit"] = c.unit;
        item["holds"] = c.holds;
        if (!c.note.empty()) item["note"] = c.note;
        out.push_back(std::move(item));
    }
    return out;
}

bj::object render_entry(rules::trace_entry const& entry, bj::storage_ptr const& sp) {
    bj::object e(10, sp);
    e["rule"] = entry.rule;
    e["subject"] = entry.subject;
    e["message"] = entry.message;
    e["section"] = rules::trace_section_name(entry.section);
    e["decision"] = rules::trace_decision_name(entry.decision);
    if (entry.reason != rules::trace_reason::none)
        e["reason"] = rules::trace_reason_name(entry.reason);
    if (!entry.resource_type.empty()) {
        bj::object resource(2, sp);
        resource["type"] = entry.resource_type;
        resource["id"] = entry.resource_id;
        e["resource"] = std::move(resource);
    }
    if (!entry.values.empty()) e["values"] = render_values(entry.values, sp);
    if (!entry.compared.empty()) e["compared"] = render_compared(entry.compared, sp);
    return e;
}

}  // namespace

bj::object render_explain(rules::rule_set const& rules,
                          rules::hook_context const& context,
                          std::vector<rules::trace_entry> const& trace,
                          bj::storage_ptr storage) {
    bj::array entries(storage);
    entries.reserve(trace.size());
    for (auto const& entry : trace) entries.push_back(render_entry(entry, storage));
    bj::object explain(storage);
    explain["layout"] = explain_layout;
    explain["ruleSetId"] = rules.id();
    explain["ruleSetVersion"] = rules.version();
    explain["hook"] = context.hook;
    explain["evaluatedAt"] = fhir::format_instant(context.now);
    explain["entries"] = std::move(entries);
    return explain;
}

}  // namespace cds::service
