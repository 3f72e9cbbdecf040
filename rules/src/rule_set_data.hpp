#pragma once
// The parsed rule configuration (rules/config/magnesium-rules.json): every number, code
// list and text the rules read. Built once by load_rule_set() and then read-only; the code
// lists are compiled into hash sets so membership is O(1) on the request path.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "cds/fhir/types.hpp"
#include "cds/rules/rule_set.hpp"

namespace cds::rules {

// Hash for string-keyed tables looked up with a std::string_view (C++20 heterogeneous
// lookup), so a look-up never builds a std::string.
struct string_hash {
    using is_transparent = void;
    [[nodiscard]] std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

// Codes of one or more code lists, each entry carrying the bits of the lists it belongs to.
// Looked up by code first, then by system among the few entries for that code, so a test
// allocates nothing (it used to build a "system|code" string per test). Prefix entries
// (ATC groups such as C03CA, ICD-10 categories such as O14) match any code they start.
class code_lookup {
public:
    void add(std::string_view system_uri, std::string_view code, bool prefix, std::uint64_t bits);
    // Bits of every list the coding belongs to (0: none, or no system or code).
    [[nodiscard]] std::uint64_t match(fhir::coding const& c) const;
    // Union over the concept's codings.
    [[nodiscard]] std::uint64_t match_any(fhir::codeable_concept const& cc) const;

private:
    struct system_bits {
        std::string system;
        std::uint64_t bits = 0;
    };
    using table =
        std::unordered_map<std::string, std::vector<system_bits>, string_hash, std::equal_to<>>;
    static void add_to(table& t,
                       std::string_view system_uri,
                       std::string_view code,
                       std::uint64_t bits);
    static std::uint64_t find_in(table const& t,
                                 std::string_view system_uri,
                                 std::string_view code);

    table exact_;
    table prefixes_;
    std::vector<std::size_t> prefix_lengths_;
};

// A code list with its text fallback, compiled for lookup. Exact codes are kept for every URI
// the system alias stands for (ATC has two).
class value_set {
public:
    struct code_entry {
        std::string system;  // one URI
        std::string code;
        bool prefix = false;
    };

    void add_code(std::string_view system_uri, std::string_view code, bool prefix);
    void add_text(std::string_view word) { text_.push_back(text_term::of(word)); }
    void add_exclude(std::string_view word) { exclude_.push_back(text_term::of(word)); }

    [[nodiscard]] bool matches(fhir::coding const& c) const { return lookup_.match(c) != 0; }
    [[nodiscard]] bool matches_code(fhir::codeable_concept const& cc) const {
        return lookup_.match_any(cc) != 0;
    }
    // Word match of the listed names in already lower-cased text, unless an exclusion word
    // is present too ("ionized" keeps an ionized-Mg result out of the total-Mg kind).
    [[nodiscard]] bool matches_text(std::string_view lowered) const;
    [[nodiscard]] bool has_text() const { return !text_.empty(); }
    // The codes as loaded, for building combined lookups over several lists.
    [[nodiscard]] std::vector<code_entry> const& codes() const { return codes_; }

    static std::string lower(std::string_view s);

private:
    // A listed name, lower-cased, and whether it also matches inside a longer word (decided
    // once, when the rules load).
    struct text_term {
        std::string lowered;
        bool inside_words = false;
        static text_term of(std::string_view word);
        [[nodiscard]] bool found_in(std::string_view text) const;
    };

    code_lookup lookup_;
    std::vector<code_entry> codes_;
    std::vector<text_term> text_;
    std::vector<text_term> exclude_;
};

enum class renal_band { normal, impaired, severely_impaired, contraindicated, unknown };
inline constexpr std::size_t renal_band_count = 5;

// The JSON members below are built once by the loader (prebuild_card_json, suggestions.cpp):
// cards copy them, which costs a fraction of building them from the strings per card.

struct coding_config {
    std::string system;
    std::string code;
    std::string display;
    boost::json::object json;  // FHIR Coding; display left out when empty
};

struct concept_config {
    std::string text;
    std::vector<coding_config> coding;
    boost::json::object json;        // FHIR CodeableConcept with this text
    boost::json::array coding_json;  // its codings alone, for a concept with another text
};

struct band_dose {
    double dose_mg = 0;
    int times_per_day = 1;
};

struct rule_text {
    std::string title;
    std::string summary;  // template with {placeholders}
    bool enabled = true;
    // The codes of the override reasons that make sense for this rule's cards (§5), in order.
    std::vector<std::string> override_reason_codes;
    // Constant members of this rule's cards (built by the loader).
    boost::json::array override_reasons_json;  // the card's overrideReasons
    boost::json::object card_source;           // {label, url, topic}
    boost::json::object card_extension;  // {"magnesium-cds": {ruleSetId, ruleSetVersion, ruleId}}
};

struct rule_set_data {
    rule_set_data() = default;
    // The compiled look-ups below point into value_sets: a copy would point into the original.
    rule_set_data(rule_set_data const&) = delete;
    rule_set_data& operator=(rule_set_data const&) = delete;

    std::string id;
    std::string version;
    std::string title;
    std::string source_label;
    std::string topic_system;
    snooze_periods snooze;
    std::vector<service_definition> services;

    // statuses
    std::unordered_set<std::string> observation_counted, observation_preliminary;
    std::unordered_set<std::string> medication_counted, medication_never;
    std::unordered_set<std::string> condition_active, condition_verification_excluded;
    // ServiceRequest statuses of a level that is still to be done (CLINICAL-BASIS.md §3.3).
    std::unordered_set<std::string> service_request_pending;

    // Every number below comes from the rule configuration (magnesium-rules.json, the only
    // source; the loader requires each): none has a value of its own here.
    // thresholds
    double mg_severe_below{}, mg_low_below{}, mg_high_above{};
    double potassium_low_below{}, calcium_total_low_below{}, calcium_ionized_low_below{};
    double qtc_symptomatic_ms{}, iv_rate_max_mg_per_min{};
    int adult_age_years{};
    double continuous_mgso4_max_days{};
    // Values outside these never count and are said (CLINICAL-BASIS.md §1).
    struct implausible_bounds {
        double magnesium_below_mg_dl{}, magnesium_above_mg_dl{};
        double creatinine_at_or_below_mg_dl{};
        double weight_at_or_below_kg{}, weight_above_kg{};
    } implausible;
    double bolus_max_minutes{};  // a single magnesium sulfate dose over at most this is a bolus

    // windows
    double mg_current_hours{}, mg_stale_low_days{}, mg_monitoring_days{};
    double mg_monitoring_high_risk_days{}, mg_before_repletion_days{};
    double coexisting_current_hours{}, qtc_current_hours{};
    double renal_current_days{}, renal_max_age_days{}, weight_max_age_days{};
    double symptom_onset_days{}, acute_asthma_onset_days{}, pregnancy_status_days{};
    double result_future_tolerance_hours{};  // a result dated further after the hook's time never
                                             // counts
    // A level ordered for up to this long before the hook's time is still to be drawn; one
    // ordered up to level_order_late_hours after it is due is the one due (§3.3).
    double level_order_pending_hours{}, level_order_late_hours{};

    // units
    fhir::unit_table magnesium_mg_dl, creatinine_mg_dl, calcium_total_mg_dl, calcium_ionized_mmol_l,
        potassium_mmol_l, weight_kg, qtc_ms, renal_ml_min, dose_mg, duration_min, rate_mg_per_min,
        time_days;

    // renal
    std::array<double, 4> band_min{};  // normal, impaired, severely, contraindicated
    std::array<std::string, renal_band_count> band_label;
    double cg_age_offset{}, cg_denominator{}, cg_female_factor{}, cg_unknown_sex_factor{};
    std::string renal_scale_note;

    // doses
    concept_config iv_medication;
    std::string iv_product_text;  // {dose} g in {volume} mL ({concentration} mg/mL)
    double iv_concentration_mg_per_ml{};
    double iv_dose_g{}, iv_volume_ml{}, iv_rate_ml_per_h{};
    double iv_reduced_dose_g{}, iv_reduced_volume_ml{}, iv_reduced_rate_ml_per_h{};
    double iv_infusion_minutes{}, iv_rate_step_minutes{}, iv_recheck_hours{};
    coding_config iv_route;
    concept_config oral_medication;
    double oral_dose_mg{}, oral_reduced_dose_mg{};
    std::string oral_dose_note, oral_reduced_dose_note;
    coding_config oral_route;
    std::string oral_timing_when, oral_timing_text;
    std::array<double, renal_band_count> oral_recheck_days{};
    concept_config alt_medication;
    double alt_dose_mg{}, alt_reduced_dose_mg{};
    std::string alt_dose_note, alt_reduced_dose_note;
    coding_config alt_route;
    std::string alt_timing_when, alt_timing_text;
    concept_config famotidine_medication;
    std::string famotidine_product_text;  // {dose} mg
    double famotidine_supply_days{};
    coding_config famotidine_route;
    std::array<band_dose, renal_band_count> famotidine_by_band{};
    concept_config magnesium_level_code;
    concept_config creatinine_level_code;
    concept_config digoxin_level_code;  // text alone where no verified code exists
    concept_config repletion_reason;

    // code lists, by the names the logic asks for
    std::map<std::string, value_set, std::less<>> value_sets;
    [[nodiscard]] value_set const& vs(std::string_view name) const;

    // ---- compiled from value_sets at load time (compile_lookups, findings.cpp) ----
    // build_findings tests every Observation against 11 lists (so does reads_observation, for
    // a service that leaves out the ones no list takes) and every medication against 13:
    // these make that one look-up per coding instead of a name look-up and a set test per list.
    code_lookup observation_kind_codes;  // bit i: the i-th kind in findings.cpp's order
    std::vector<value_set const*> observation_kind_sets;  // the same order, for the text fallback
    code_lookup drug_class_codes;                         // bits: drug_class (findings.hpp)
    std::vector<std::pair<std::uint32_t, value_set const*>>
        drug_class_sets;  // for the text fallback
    // Lists consulted per order or per condition, resolved by name once.
    struct named_value_sets {
        value_set const* pregnant_answer = nullptr;
        value_set const* magnesium_laxative = nullptr;
        value_set const* route_intravenous = nullptr;
        value_set const* route_intramuscular = nullptr;
        value_set const* route_rectal = nullptr;
        value_set const* route_oral = nullptr;
        value_set const* form_parenteral = nullptr;
        value_set const* form_oral_solid = nullptr;
        value_set const* form_oral_liquid = nullptr;
        value_set const* ckd_stage5_or_dialysis = nullptr;
        value_set const* preeclampsia_eclampsia = nullptr;
        value_set const* pregnancy = nullptr;
        value_set const* asthma = nullptr;
        value_set const* ventricular_arrhythmia = nullptr;
        value_set const* tetany = nullptr;
        value_set const* seizure = nullptr;
        value_set const* prolonged_qt = nullptr;
        value_set const* torsades = nullptr;
        value_set const* muscle_cramp = nullptr;
        value_set const* tremor = nullptr;
        value_set const* edema = nullptr;
        value_set const* magnesium_total = nullptr;  // a magnesium level ordered
        value_set const* creatinine = nullptr;       // a creatinine level ordered
        value_set const* digoxin_level = nullptr;    // a digoxin level ordered
        // Words by which a prescriber's dosage text states an amount or a time.
        value_set const* dosage_text_amounts = nullptr;
    } sets;

    std::map<std::string, rule_text, std::less<>> rule_texts;
    [[nodiscard]] rule_text const& rule(std::string_view rule_id) const;

    // "severity.severe", "actions.iv", ...: hashed, since cards look texts up by the hundred.
    std::unordered_map<std::string, std::string, string_hash, std::equal_to<>> texts;
    [[nodiscard]] std::string const& text(std::string_view key) const;

    std::vector<coding_config> override_reasons;  // every reason a rule may offer
};

}  // namespace cds::rules
