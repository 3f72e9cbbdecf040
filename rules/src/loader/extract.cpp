#include "loader/extract.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>
#include <string>

#include <boost/json.hpp>

#include "cards.hpp"
#include "findings.hpp"

namespace cds::rules {

namespace {

namespace bj = boost::json;
using problem_list = std::vector<rule_set_problem>;

std::string str(bj::object const& o, char const* key) {
    auto const* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}
double num(bj::object const& o, char const* key) {
    auto const& v = o.at(key);
    return v.is_double()  ? v.get_double()
           : v.is_int64() ? static_cast<double>(v.get_int64())
                          : static_cast<double>(v.get_uint64());
}
bj::object const& obj(bj::object const& o, char const* key) { return o.at(key).as_object(); }

coding_config to_coding(bj::object const& o) {
    coding_config c;
    c.system = str(o, "system");
    c.code = str(o, "code");
    c.display = str(o, "display");
    return c;
}
concept_config to_concept(bj::object const& o) {
    concept_config c;
    c.text = str(o, "text");
    if (auto const* coding = o.if_contains("coding"))
        for (auto const& e : coding->as_array()) c.coding.push_back(to_coding(e.as_object()));
    return c;
}
std::unordered_set<std::string> to_set(bj::value const& v) {
    std::unordered_set<std::string> out;
    for (auto const& e : v.as_array()) out.emplace(e.as_string());
    return out;
}

void load_units(bj::object const& units,
                char const* key,
                fhir::unit_table& out,
                std::vector<rule_set_problem>& problems) {
    std::vector<fhir::unit_factor> factors;
    std::set<std::string> seen;
    std::size_t i = 0;
    for (auto const& e : units.at(key).as_array()) {
        auto const& o = e.as_object();
        fhir::unit_factor f{str(o, "unit"), num(o, "factor")};
        if (!seen.insert(value_set::lower(f.unit)).second) {
            problems.push_back(
                {"/units/" + std::string(key) + "/" + std::to_string(i) + "/unit",
                 "unit '" + f.unit + "' is listed twice (units compare case-insensitively)"});
        }
        factors.push_back(std::move(f));
        ++i;
    }
    out = fhir::unit_table(std::move(factors));
}

// ---- one function per section of the rule file ----

void extract_identity(bj::object const& root, rule_set_data& d) {
    d.id = str(root, "id");
    d.version = str(root, "version");
    d.title = str(root, "title");
    auto const& source = obj(root, "source");
    d.source_label = str(source, "label");
    d.topic_system = str(source, "topic_system");
    auto const& snooze = obj(root, "snooze");
    d.snooze.info = std::chrono::hours{static_cast<long>(num(snooze, "info_hours"))};
    d.snooze.warning = std::chrono::hours{static_cast<long>(num(snooze, "warning_hours"))};
}

// Code system alias -> its URIs.
using code_systems = std::map<std::string, std::vector<std::string>>;

code_systems extract_code_systems(bj::object const& root) {
    code_systems systems;
    for (auto const& [alias, uris] : obj(root, "code_systems")) {
        for (auto const& u : uris.as_array())
            systems[std::string(alias)].emplace_back(u.as_string());
    }
    return systems;
}

service_definition extract_service(bj::object const& so,
                                   std::string const& spath,
                                   problem_list& problems) {
    service_definition s{
        str(so, "id"), str(so, "hook"), str(so, "title"), str(so, "description"), {}};
    std::set<std::string> keys;
    std::size_t pi = 0;
    for (auto const& pv : so.at("prefetch").as_array()) {
        auto const& po = pv.as_object();
        prefetch_template t{str(po, "key"), str(po, "query"), po.at("required").as_bool(),
                            str(po, "describes")};
        if (auto const* noted = po.if_contains("noted_when_unavailable"))
            t.noted_when_unavailable = noted->as_bool();
        std::string const ppath = spath + "/prefetch/" + std::to_string(pi);
        if (!keys.insert(t.key).second)
            problems.push_back({ppath + "/key", "prefetch key '" + t.key + "' is used twice"});
        if (t.query.find("{{context.") == std::string::npos) {
            problems.push_back({ppath + "/query",
                                "the query has no {{context...}} token, so it would not be limited "
                                "to the patient"});
        }
        s.prefetch.push_back(std::move(t));
        ++pi;
    }
    return s;
}

void extract_services(bj::object const& root, rule_set_data& d, problem_list& problems) {
    std::set<std::string> service_ids;
    std::size_t si = 0;
    for (auto const& sv : root.at("services").as_array()) {
        auto const& so = sv.as_object();
        std::string const spath = "/services/" + std::to_string(si);
        std::string const id = str(so, "id");
        if (!service_ids.insert(id).second)
            problems.push_back({spath + "/id", "service id '" + id + "' is used twice"});
        d.services.push_back(extract_service(so, spath, problems));
        ++si;
    }
}

void extract_statuses(bj::object const& root, rule_set_data& d) {
    auto const& st = obj(root, "statuses");
    d.observation_counted = to_set(st.at("observation_counted"));
    d.observation_preliminary = to_set(st.at("observation_preliminary"));
    d.medication_counted = to_set(st.at("medication_counted"));
    d.medication_never = to_set(st.at("medication_never"));
    d.condition_active = to_set(st.at("condition_active"));
    d.condition_verification_excluded = to_set(st.at("condition_verification_excluded"));
    d.service_request_pending = to_set(st.at("service_request_pending"));
}

void extract_thresholds(bj::object const& root, rule_set_data& d, problem_list& problems) {
    auto const& th = obj(root, "thresholds");
    auto const& mg = obj(th, "magnesium");
    d.mg_severe_below = num(mg, "severe_below_mg_dl");
    d.mg_low_below = num(mg, "low_below_mg_dl");
    d.mg_high_above = num(mg, "high_above_mg_dl");
    if (!(d.mg_severe_below < d.mg_low_below)) {
        problems.push_back({"/thresholds/magnesium/low_below_mg_dl",
                            "must be greater than severe_below_mg_dl (severe < low < high)"});
    }
    if (!(d.mg_low_below < d.mg_high_above)) {
        problems.push_back({"/thresholds/magnesium/high_above_mg_dl",
                            "must be greater than low_below_mg_dl (severe < low < high)"});
    }
    d.potassium_low_below = num(th, "potassium_low_below_mmol_l");
    d.calcium_total_low_below = num(th, "calcium_total_low_below_mg_dl");
    d.calcium_ionized_low_below = num(th, "calcium_ionized_low_below_mmol_l");
    d.qtc_symptomatic_ms = num(th, "qtc_symptomatic_at_or_above_ms");
    d.iv_rate_max_mg_per_min = num(th, "iv_rate_max_mg_per_min");
    d.adult_age_years = static_cast<int>(num(th, "adult_age_years"));
    d.continuous_mgso4_max_days = num(th, "continuous_magnesium_sulfate_max_days");
    d.bolus_max_minutes = num(th, "magnesium_sulfate_bolus_max_minutes");
    auto const& implausible = obj(th, "implausible");
    d.implausible.magnesium_below_mg_dl = num(implausible, "magnesium_below_mg_dl");
    d.implausible.magnesium_above_mg_dl = num(implausible, "magnesium_above_mg_dl");
    d.implausible.creatinine_at_or_below_mg_dl = num(implausible, "creatinine_at_or_below_mg_dl");
    d.implausible.weight_at_or_below_kg = num(implausible, "weight_at_or_below_kg");
    d.implausible.weight_above_kg = num(implausible, "weight_above_kg");
}

void extract_windows(bj::object const& root, rule_set_data& d, problem_list& problems) {
    auto const& w = obj(root, "windows");
    d.mg_current_hours = num(w, "magnesium_current_hours");
    d.mg_stale_low_days = num(w, "magnesium_stale_low_days");
    d.mg_monitoring_days = num(w, "magnesium_monitoring_days");
    d.mg_monitoring_high_risk_days = num(w, "magnesium_monitoring_high_risk_days");
    d.mg_before_repletion_days = num(w, "magnesium_before_repletion_days");
    d.coexisting_current_hours = num(w, "coexisting_current_hours");
    d.qtc_current_hours = num(w, "qtc_current_hours");
    d.renal_current_days = num(w, "renal_current_days");
    d.renal_max_age_days = num(w, "renal_max_age_days");
    d.weight_max_age_days = num(w, "weight_max_age_days");
    d.symptom_onset_days = num(w, "symptom_onset_days");
    d.acute_asthma_onset_days = num(w, "acute_asthma_onset_days");
    d.pregnancy_status_days = num(w, "pregnancy_status_days");
    d.result_future_tolerance_hours = num(w, "result_future_tolerance_hours");
    d.level_order_pending_hours = num(w, "level_order_pending_hours");
    d.level_order_late_hours = num(w, "level_order_late_hours");
    if (d.mg_stale_low_days * 24 <= d.mg_current_hours) {
        problems.push_back(
            {"/windows/magnesium_stale_low_days", "must be longer than magnesium_current_hours"});
    }
    if (d.renal_current_days > d.renal_max_age_days) {
        problems.push_back(
            {"/windows/renal_current_days", "must not be longer than renal_max_age_days"});
    }
}

void extract_units(bj::object const& root, rule_set_data& d, problem_list& problems) {
    auto const& units = obj(root, "units");
    load_units(units, "magnesium_mg_dl", d.magnesium_mg_dl, problems);
    load_units(units, "creatinine_mg_dl", d.creatinine_mg_dl, problems);
    load_units(units, "calcium_total_mg_dl", d.calcium_total_mg_dl, problems);
    load_units(units, "calcium_ionized_mmol_l", d.calcium_ionized_mmol_l, problems);
    load_units(units, "potassium_mmol_l", d.potassium_mmol_l, problems);
    load_units(units, "weight_kg", d.weight_kg, problems);
    load_units(units, "qtc_ms", d.qtc_ms, problems);
    load_units(units, "renal_ml_min", d.renal_ml_min, problems);
    load_units(units, "dose_mg", d.dose_mg, problems);
    load_units(units, "duration_min", d.duration_min, problems);
    load_units(units, "rate_mg_per_min", d.rate_mg_per_min, problems);
    load_units(units, "time_days", d.time_days, problems);
}

void extract_renal(bj::object const& root, rule_set_data& d, problem_list& problems) {
    auto const& renal = obj(root, "renal");
    static constexpr std::array<char const*, 4> band_ids{"normal", "impaired", "severely_impaired",
                                                         "contraindicated"};
    std::size_t bi = 0;
    for (auto const& bv : renal.at("bands").as_array()) {
        auto const& bo = bv.as_object();
        std::string const bpath = "/renal/bands/" + std::to_string(bi);
        if (bi < band_ids.size()) {
            if (str(bo, "id") != band_ids[bi]) {
                problems.push_back(
                    {bpath + "/id", std::string("band ") + std::to_string(bi) + " must be '" +
                                        band_ids[bi] +
                                        "' (bands run from normal down to contraindicated)"});
            }
            d.band_min[bi] = num(bo, "min_ml_min");
            d.band_label[bi] = str(bo, "label");
            if (bi > 0 && !(d.band_min[bi] < d.band_min[bi - 1])) {
                problems.push_back({bpath + "/min_ml_min",
                                    "band edges must descend (normal > impaired > severely "
                                    "impaired > contraindicated)"});
            }
        }
        ++bi;
    }
    d.band_label[4] = str(renal, "unknown_label");
    auto const& cg = obj(renal, "cockcroft_gault");
    d.cg_age_offset = num(cg, "age_offset_years");
    d.cg_denominator = num(cg, "denominator");
    d.cg_female_factor = num(cg, "female_factor");
    d.cg_unknown_sex_factor = num(cg, "unknown_sex_factor");
    d.renal_scale_note = str(renal, "scale_note");
}

// A premixed dose is signable only when its volume holds the dose at the product's
// concentration and its pump rate runs that volume in the infusion time (CLINICAL-BASIS.md §3.2).
void check_premix(double dose_g,
                  double volume_ml,
                  double rate_ml_per_h,
                  rule_set_data const& d,
                  std::string const& prefix,
                  problem_list& problems) {
    if (std::fabs(dose_g * 1000 - volume_ml * d.iv_concentration_mg_per_ml) > 1e-6) {
        problems.push_back({"/doses/intravenous/" + prefix + "volume_ml",
                            "must hold " + prefix + "dose_g at concentration_mg_per_ml"});
    }
    if (std::fabs(rate_ml_per_h - volume_ml / d.iv_infusion_minutes * 60) > 1e-6) {
        problems.push_back({"/doses/intravenous/" + prefix + "rate_ml_per_h",
                            "must run " + prefix + "volume_ml in infusion_minutes"});
    }
}

void extract_iv_dose(bj::object const& doses, rule_set_data& d, problem_list& problems) {
    auto const& iv = obj(doses, "intravenous");
    d.iv_medication = to_concept(obj(iv, "medication"));
    d.iv_product_text = str(iv, "product_text");
    d.iv_concentration_mg_per_ml = num(iv, "concentration_mg_per_ml");
    d.iv_dose_g = num(iv, "dose_g");
    d.iv_volume_ml = num(iv, "volume_ml");
    d.iv_rate_ml_per_h = num(iv, "rate_ml_per_h");
    d.iv_reduced_dose_g = num(iv, "reduced_dose_g");
    d.iv_reduced_volume_ml = num(iv, "reduced_volume_ml");
    d.iv_reduced_rate_ml_per_h = num(iv, "reduced_rate_ml_per_h");
    d.iv_infusion_minutes = num(iv, "infusion_minutes");
    d.iv_rate_step_minutes = num(iv, "rate_step_minutes");
    d.iv_recheck_hours = num(iv, "recheck_hours");
    d.iv_route = to_coding(obj(iv, "route"));
    if (d.iv_reduced_dose_g > d.iv_dose_g)
        problems.push_back({"/doses/intravenous/reduced_dose_g", "must not exceed dose_g"});
    check_premix(d.iv_dose_g, d.iv_volume_ml, d.iv_rate_ml_per_h, d, "", problems);
    check_premix(d.iv_reduced_dose_g, d.iv_reduced_volume_ml, d.iv_reduced_rate_ml_per_h, d,
                 "reduced_", problems);
    // Needs the thresholds (extracted first).
    if (d.iv_dose_g * 1000 / d.iv_infusion_minutes > d.iv_rate_max_mg_per_min) {
        problems.push_back(
            {"/doses/intravenous/infusion_minutes",
             "the suggested IV dose would run faster than thresholds/iv_rate_max_mg_per_min"});
    }
}

void extract_oral_dose(bj::object const& doses, rule_set_data& d, problem_list& problems) {
    auto const& oral = obj(doses, "oral");
    d.oral_medication = to_concept(obj(oral, "medication"));
    d.oral_dose_mg = num(oral, "dose_mg");
    d.oral_reduced_dose_mg = num(oral, "reduced_dose_mg");
    d.oral_dose_note = str(oral, "dose_note");
    d.oral_reduced_dose_note = str(oral, "reduced_dose_note");
    d.oral_route = to_coding(obj(oral, "route"));
    d.oral_timing_when = str(oral, "timing_when");
    d.oral_timing_text = str(oral, "timing_text");
    if (d.oral_reduced_dose_mg > d.oral_dose_mg)
        problems.push_back({"/doses/oral/reduced_dose_mg", "must not exceed dose_mg"});
    // The contraindicated band takes the severely impaired band's interval (the file has none for
    // it).
    auto const& rd = obj(oral, "recheck_days");
    d.oral_recheck_days[0] = num(rd, "normal");
    d.oral_recheck_days[1] = num(rd, "impaired");
    d.oral_recheck_days[2] = num(rd, "severely_impaired");
    d.oral_recheck_days[3] =
        rd.contains("contraindicated") ? num(rd, "contraindicated") : num(rd, "severely_impaired");
    d.oral_recheck_days[4] = num(rd, "unknown");
}

void extract_oral_alternative(bj::object const& doses, rule_set_data& d, problem_list& problems) {
    auto const& alt = obj(doses, "oral_alternative");
    d.alt_medication = to_concept(obj(alt, "medication"));
    d.alt_dose_mg = num(alt, "dose_mg");
    d.alt_reduced_dose_mg = num(alt, "reduced_dose_mg");
    d.alt_dose_note = str(alt, "dose_note");
    d.alt_reduced_dose_note = str(alt, "reduced_dose_note");
    d.alt_route = to_coding(obj(alt, "route"));
    d.alt_timing_when = str(alt, "timing_when");
    d.alt_timing_text = str(alt, "timing_text");
    if (d.alt_reduced_dose_mg > d.alt_dose_mg)
        problems.push_back({"/doses/oral_alternative/reduced_dose_mg", "must not exceed dose_mg"});
}

void extract_famotidine(bj::object const& doses, rule_set_data& d) {
    auto const& fam = obj(doses, "famotidine");
    d.famotidine_medication = to_concept(obj(fam, "medication"));
    d.famotidine_product_text = str(fam, "product_text");
    d.famotidine_supply_days = num(fam, "supply_days");
    d.famotidine_route = to_coding(obj(fam, "route"));
    auto const& fb = obj(fam, "by_renal_band");
    static constexpr std::array<char const*, renal_band_count> all_bands{
        "normal", "impaired", "severely_impaired", "contraindicated", "unknown"};
    for (std::size_t i = 0; i < all_bands.size(); ++i) {
        auto const& o = obj(fb, all_bands[i]);
        d.famotidine_by_band[i] = {num(o, "dose_mg"), static_cast<int>(num(o, "times_per_day"))};
    }
}

void extract_doses(bj::object const& root, rule_set_data& d, problem_list& problems) {
    auto const& doses = obj(root, "doses");
    extract_iv_dose(doses, d, problems);
    extract_oral_dose(doses, d, problems);
    extract_oral_alternative(doses, d, problems);
    extract_famotidine(doses, d);
    d.magnesium_level_code = to_concept(obj(obj(doses, "magnesium_level"), "code"));
    d.creatinine_level_code = to_concept(obj(obj(doses, "creatinine_level"), "code"));
    d.digoxin_level_code = to_concept(obj(obj(doses, "digoxin_level"), "code"));
    d.repletion_reason = to_concept(obj(doses, "repletion_reason"));
}

value_set extract_value_set(bj::object const& vo,
                            std::string const& vpath,
                            code_systems const& systems,
                            problem_list& problems) {
    value_set set;
    std::size_t ci = 0;
    for (auto const& cv : vo.at("codes").as_array()) {
        auto const& co = cv.as_object();
        std::string const alias = str(co, "system");
        bool const prefix = str(co, "match") == "prefix";
        auto it = systems.find(alias);
        if (it == systems.end()) {
            problems.push_back({vpath + "/codes/" + std::to_string(ci) + "/system",
                                "unknown code system alias '" + alias + "' (see /code_systems)"});
        } else {
            for (auto const& uri : it->second) set.add_code(uri, str(co, "code"), prefix);
        }
        ++ci;
    }
    if (auto const* t = vo.if_contains("text"))
        for (auto const& e : t->as_array()) set.add_text(e.as_string());
    if (auto const* t = vo.if_contains("exclude_text"))
        for (auto const& e : t->as_array()) set.add_exclude(e.as_string());
    return set;
}

void extract_value_sets(bj::object const& root, rule_set_data& d, problem_list& problems) {
    code_systems const systems = extract_code_systems(root);
    for (auto const& [name, vv] : obj(root, "value_sets")) {
        std::string const vpath = "/value_sets/" + std::string(name);
        d.value_sets.emplace(std::string(name),
                             extract_value_set(vv.as_object(), vpath, systems, problems));
    }
    compile_lookups(d);
}

// Which rules and texts there must be, and their placeholders, is the registry's check
// (registry_check.cpp); this only reads them.
void extract_rules(bj::object const& root, rule_set_data& d) {
    for (auto const& [rid, rv] : obj(root, "rules")) {
        auto const& ro = rv.as_object();
        rule_text t;
        t.title = str(ro, "title");
        t.summary = str(ro, "summary");
        if (auto const* e = ro.if_contains("enabled")) t.enabled = e->as_bool();
        for (auto const& code : ro.at("override_reasons").as_array())
            t.override_reason_codes.emplace_back(code.as_string());
        d.rule_texts.emplace(std::string(rid), std::move(t));
    }
}

// A group of texts ("actions": {"iv": ...}) is read as "actions.iv".
void extract_texts(bj::object const& root, rule_set_data& d) {
    for (auto const& [key, tv] : obj(root, "texts")) {
        if (tv.is_object()) {
            for (auto const& [sub, sv] : tv.as_object()) {
                d.texts.emplace(std::string(key) + "." + std::string(sub),
                                std::string(sv.as_string()));
            }
        } else {
            d.texts.emplace(std::string(key), std::string(tv.as_string()));
        }
    }
}

void extract_override_reasons(bj::object const& root, rule_set_data& d, problem_list& problems) {
    std::set<std::string> reason_codes;
    std::size_t oi = 0;
    for (auto const& rv : root.at("override_reasons").as_array()) {
        auto c = to_coding(rv.as_object());
        if (!reason_codes.insert(c.code).second) {
            problems.push_back({"/override_reasons/" + std::to_string(oi) + "/code",
                                "override reason '" + c.code + "' is listed twice"});
        }
        d.override_reasons.push_back(std::move(c));
        ++oi;
    }
}

// Each rule's overrideReasons: the listed reasons' codings, in the rule's order (§5: only
// reasons that make sense for that card). The display is carried even when empty: it is shown.
void build_rule_override_reasons(rule_set_data& d, problem_list& problems) {
    for (auto& [rule_id, t] : d.rule_texts) {
        t.override_reasons_json.clear();
        std::size_t i = 0;
        for (auto const& code : t.override_reason_codes) {
            auto const it = std::find_if(d.override_reasons.begin(), d.override_reasons.end(),
                                         [&](coding_config const& r) { return r.code == code; });
            if (it == d.override_reasons.end()) {
                problems.push_back({"/rules/" + rule_id + "/override_reasons/" + std::to_string(i),
                                    "override reason '" + code + "' is not in /override_reasons"});
            } else {
                t.override_reasons_json.push_back(bj::object{
                    {"system", it->system}, {"code", it->code}, {"display", it->display}});
            }
            ++i;
        }
    }
}

}  // namespace

void extract_rule_set(bj::object const& root, rule_set_data& d, problem_list& problems) {
    extract_identity(root, d);
    extract_services(root, d, problems);
    extract_statuses(root, d);
    extract_thresholds(root, d, problems);
    extract_windows(root, d, problems);
    extract_units(root, d, problems);
    extract_renal(root, d, problems);
    extract_doses(root, d, problems);
    extract_value_sets(root, d, problems);
    extract_rules(root, d);
    extract_texts(root, d);
    extract_override_reasons(root, d, problems);
    build_rule_override_reasons(d, problems);
    prebuild_card_json(d);
}

}  // namespace cds::rules
