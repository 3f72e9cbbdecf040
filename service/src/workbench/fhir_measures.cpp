#include "fhir_measures.hpp"

#include <algorithm>
#include <map>
#include <regex>

namespace cds::service::workbench::measures {

namespace {

// UCUM mass and time units (and the common non-UCUM spellings EHRs send) in mg and minutes.
std::map<std::string, double, std::less<>> const mass_to_mg{
    {"kg", 1e6}, {"g", 1000.0}, {"mg", 1.0}, {"ug", 1e-3}, {"mcg", 1e-3}, {"\xC2\xB5g", 1e-3}};
std::map<std::string, double, std::less<>> const time_to_min{
    {"s", 1.0 / 60}, {"sec", 1.0 / 60}, {"min", 1.0}, {"h", 60.0},
    {"hr", 60.0},    {"hour", 60.0},    {"d", 1440.0}};
// HL7 v3 GTSAbbreviation timing codes, as doses per day.
std::map<std::string, double, std::less<>> const gts_per_day{{"QD", 1},  {"BID", 2},   {"TID", 3},
                                                             {"QID", 4}, {"QOD", 0.5}, {"Q12H", 2},
                                                             {"Q8H", 3}, {"Q6H", 4},   {"Q4H", 6}};
std::map<std::string, double, std::less<>> const period_days{
    {"s", 1.0 / 86400}, {"min", 1.0 / 1440}, {"h", 1.0 / 24}, {"d", 1},
    {"wk", 7},          {"mo", 30},          {"a", 365}};

std::optional<double> factor(std::map<std::string, double, std::less<>> const& table,
                             std::string const& key) {
    auto const it = table.find(key);
    return it == table.end() ? std::nullopt : std::optional<double>{it->second};
}

std::optional<double> rate_from_quantity(value const* q) {
    auto const v = number(field(q, "value"));
    auto const unit = lower(quantity_unit(q));
    auto const slash = unit.find('/');
    if (!v || slash == std::string::npos) return std::nullopt;
    auto const mass = factor(mass_to_mg, unit.substr(0, slash));
    auto const per = factor(time_to_min, unit.substr(slash + 1));
    if (!mass || !per) return std::nullopt;
    return *v * *mass / *per;
}

std::optional<double> rate_from_ratio(value const* r) {
    if (r == nullptr || !r->is_object()) return std::nullopt;
    auto const mg = mass_mg(field(r, "numerator"));
    auto const* den = field(r, "denominator");
    auto const per = factor(time_to_min, lower(quantity_unit(den)));
    if (!mg || !per) return std::nullopt;
    double const count = number(field(den, "value")).value_or(1.0);
    return *mg / ((count == 0 ? 1.0 : count) * *per);
}

std::optional<double> minutes_from_timing(value const* dosage) {
    auto const* repeat = field(field(dosage, "timing"), "repeat");
    auto const duration = number(field(repeat, "duration"));
    if (!duration) return std::nullopt;
    auto const* unit_value = field(repeat, "durationUnit");
    auto const per = factor(time_to_min, unit_value != nullptr ? lower(text(unit_value)) : "min");
    if (!per) return std::nullopt;
    return *duration * *per;
}

value const* concept_of(value const& resource) {
    auto const type = text(field(&resource, "resourceType"));
    if (type == "MedicationRequest" || type == "MedicationStatement") {
        if (auto const* cc = field(&resource, "medicationCodeableConcept");
            cc != nullptr && cc->is_object())
            return cc;
        auto const ref = text(field(field(&resource, "medicationReference"), "reference"));
        if (!ref.empty() && ref.front() == '#') {
            for (auto const& c : array_at(&resource, "contained")) {
                if (text(field(&c, "id")) == ref.substr(1)) return field(&c, "code");
            }
        }
        return nullptr;
    }
    return field(&resource, "code");
}

}  // namespace

value const* field(value const* v, std::string_view key) {
    if (v == nullptr || !v->is_object()) return nullptr;
    return v->get_object().if_contains(key);
}

object const& object_at(value const* v, std::string_view key) {
    static object const empty;
    auto const* f = field(v, key);
    return f != nullptr && f->is_object() ? f->get_object() : empty;
}

array const& array_at(value const* v, std::string_view key) {
    static array const empty;
    auto const* f = field(v, key);
    return f != nullptr && f->is_array() ? f->get_array() : empty;
}

std::optional<double> number(value const* v) {
    if (v == nullptr || !v->is_number()) return std::nullopt;
    return v->to_number<double>();
}

std::string text(value const* v) {
    if (v == nullptr || v->is_null()) return {};
    if (v->is_string()) return std::string{v->get_string()};
    return boost::json::serialize(*v);
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string quantity_unit(value const* q) {
    auto unit = text(field(q, "code"));
    if (unit.empty()) unit = text(field(q, "unit"));
    auto const first = unit.find_first_not_of(" \t");
    if (first == std::string::npos) return {};
    return unit.substr(first, unit.find_last_not_of(" \t") - first + 1);
}

std::optional<double> mass_mg(value const* q) {
    auto const v = number(field(q, "value"));
    auto const f = factor(mass_to_mg, lower(quantity_unit(q)));
    if (!v || !f) return std::nullopt;
    return *v * *f;
}

value const* first_dosage(value const& resource) {
    auto const& dosages = array_at(&resource, "dosageInstruction");
    return !dosages.empty() && dosages.front().is_object() ? &dosages.front() : nullptr;
}

value const* dose_quantity(value const* dosage) {
    for (auto const& dr : array_at(dosage, "doseAndRate")) {
        if (auto const* q = field(&dr, "doseQuantity"); q != nullptr && q->is_object()) return q;
    }
    auto const* q = field(dosage, "doseQuantity");
    return q != nullptr && q->is_object() ? q : nullptr;
}

std::optional<double> infusion_rate_mg_per_min(value const* dosage) {
    for (auto const& dr : array_at(dosage, "doseAndRate")) {
        auto rate = rate_from_quantity(field(&dr, "rateQuantity"));
        if (!rate) rate = rate_from_ratio(field(&dr, "rateRatio"));
        if (rate) return rate;
    }
    auto const minutes = minutes_from_timing(dosage);
    auto const dose = mass_mg(dose_quantity(dosage));
    if (minutes && *minutes != 0 && dose) return *dose / *minutes;
    return std::nullopt;
}

std::optional<double> infusion_minutes(value const* dosage) {
    if (auto const minutes = minutes_from_timing(dosage)) return minutes;
    auto const dose = mass_mg(dose_quantity(dosage));
    auto const rate = infusion_rate_mg_per_min(dosage);
    if (dose && rate && *rate != 0) return *dose / *rate;
    return std::nullopt;
}

std::optional<double> frequency_per_day(value const* dosage) {
    auto const* timing = field(dosage, "timing");
    auto const* repeat = field(timing, "repeat");
    if (field(repeat, "frequency") != nullptr || field(repeat, "period") != nullptr) {
        double const frequency = number(field(repeat, "frequency")).value_or(1.0);
        double const period = number(field(repeat, "period")).value_or(1.0);
        auto const* unit_value = field(repeat, "periodUnit");
        auto const days = factor(period_days, unit_value != nullptr ? text(unit_value) : "d");
        if (days && period != 0) return frequency / (period * *days);
    }
    if (auto const& when = array_at(repeat, "when"); !when.empty())
        return static_cast<double>(when.size());
    if (auto const& times = array_at(repeat, "timeOfDay"); !times.empty())
        return static_cast<double>(times.size());
    for (auto const& c : array_at(field(timing, "code"), "coding")) {
        if (auto const per_day = factor(gts_per_day, text(field(&c, "code")))) return per_day;
    }
    return std::nullopt;
}

std::set<std::string> codes_of(value const& resource) {
    std::set<std::string> out;
    for (auto const& c : array_at(concept_of(resource), "coding")) {
        auto const code = text(field(&c, "code"));
        if (code.empty()) continue;
        out.insert(code);
        out.insert(text(field(&c, "system")) + "|" + code);
    }
    return out;
}

std::string concept_text(value const& resource) {
    auto const* cc = concept_of(resource);
    std::string out = text(field(cc, "text"));
    for (auto const& c : array_at(cc, "coding")) {
        auto const display = text(field(&c, "display"));
        if (display.empty()) continue;
        out += (out.empty() ? "" : " ") + display;
    }
    return lower(out);
}

std::vector<std::string> route_strings(value const* dosage) {
    auto const* route = field(dosage, "route");
    std::vector<std::string> out{text(field(route, "text"))};
    for (auto const& c : array_at(route, "coding")) {
        out.push_back(text(field(&c, "code")));
        out.push_back(text(field(&c, "display")));
    }
    std::erase_if(out, [](std::string const& s) { return s.empty(); });
    for (auto& s : out) s = lower(s);
    return out;
}

std::optional<double> duration_minutes(std::string const& text_value) {
    static std::regex const pattern(
        R"(^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?)?$)");
    std::smatch m;
    if (text_value == "P" || text_value == "PT" || !std::regex_match(text_value, m, pattern))
        return std::nullopt;
    auto const part = [&m](std::size_t i) { return m[i].matched ? std::stod(m[i].str()) : 0.0; };
    return part(1) * 1440.0 + part(2) * 60.0 + part(3);
}

}  // namespace cds::service::workbench::measures
