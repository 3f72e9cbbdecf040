// Snoozing's pure parts (CLINICAL-BASIS.md §6): the keyed hashes, the evidence of a card, the
// periods by indicator, and which override hides which card.

#include <chrono>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "cds/service/feedback/snooze.hpp"

using namespace cds::service;
using namespace std::chrono_literals;

namespace {

std::string const secret(32, 's');

boost::json::object card_with_evidence(std::vector<std::string> const& references) {
    boost::json::array evidence;
    for (auto const& r : references) evidence.push_back(boost::json::object{{"reference", r}});
    return boost::json::object{
        {"indicator", "warning"},
        {"extension",
         {{"magnesium-cds", {{"ruleId", "hypomagnesemia"}, {"evidence", std::move(evidence)}}}}}};
}

cds::rules::snooze_periods const default_periods{std::chrono::hours{168}, std::chrono::hours{24}};
auto const now = std::chrono::system_clock::time_point{std::chrono::hours{500'000}};

card_override override_of(std::string rule, std::string evidence, std::chrono::hours ago) {
    card_override o;
    o.card_uuid = "card-" + rule + "-" + std::to_string(ago.count());
    o.rule_id = std::move(rule);
    o.evidence_key = std::move(evidence);
    o.overridden_at = now - ago;
    return o;
}

}  // namespace

TEST_CASE("snooze keys: HMAC-SHA-256 as RFC 4231 gives it, hex") {
    // RFC 4231 section 4.3, test case 2.
    CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("snooze keys: the patient key depends on the secret and the id, never shows the id") {
    snooze_keys const keys{secret};
    auto const key = keys.patient_key("pat-30417");
    CHECK(key.size() == 64);
    CHECK(key.find("30417") == std::string::npos);
    CHECK(key == snooze_keys{secret}.patient_key("pat-30417"));
    CHECK(key != keys.patient_key("pat-30418"));
    CHECK(key != snooze_keys{std::string(32, 't')}.patient_key("pat-30417"));
    CHECK_THROWS_AS(snooze_keys{std::string(31, 's')}, std::invalid_argument);
    CHECK(generate_snooze_secret().size() == 2 * snooze_secret_min_bytes);
    CHECK(generate_snooze_secret() != generate_snooze_secret());
}

TEST_CASE("snooze keys: the evidence key is the card's references in any order, and only them") {
    snooze_keys const keys{secret};
    auto const first = card_with_evidence({"Observation/mg-1", "MedicationRequest/furosemide"});
    auto const reordered = card_with_evidence(
        {"MedicationRequest/furosemide", "Observation/mg-1", "Observation/mg-1"});
    auto const newer = card_with_evidence({"Observation/mg-2", "MedicationRequest/furosemide"});
    auto const other_drug =
        card_with_evidence({"Observation/mg-1", "MedicationRequest/omeprazole"});
    CHECK(card_evidence_references(first) ==
          std::vector<std::string>{"MedicationRequest/furosemide", "Observation/mg-1"});
    CHECK(card_evidence_references(reordered) == card_evidence_references(first));
    auto const key = keys.evidence_key(card_evidence_references(first));
    CHECK(key == keys.evidence_key(card_evidence_references(reordered)));
    CHECK(key != keys.evidence_key(card_evidence_references(newer)));
    CHECK(key != keys.evidence_key(card_evidence_references(other_drug)));
    // No hash of a patient id equals an evidence key of the same text (domain separation).
    CHECK(keys.evidence_key({"x"}) != keys.patient_key("x"));
    CHECK(card_evidence_references(boost::json::object{{"indicator", "info"}}).empty());
}

TEST_CASE("snooze periods: info and warning as configured, critical never") {
    CHECK(snooze_period(default_periods, "info") == std::chrono::hours{168});
    CHECK(snooze_period(default_periods, "warning") == std::chrono::hours{24});
    CHECK(snooze_period(default_periods, "critical") == 0s);
    CHECK(snooze_period(default_periods, "unknown") == 0s);
}

TEST_CASE("snooze: an override hides the same rule and evidence for the card's period") {
    std::vector<card_override> const overrides{override_of("hypomagnesemia", "mg-1", 23h),
                                               override_of("stale-low-magnesium", "mg-0", 100h)};
    snooze_candidate warning{"hypomagnesemia", "mg-1", "warning"};
    auto const hidden = suppressing_override(warning, overrides, default_periods, now);
    REQUIRE(hidden.has_value());
    CHECK(hidden->card_uuid == "card-hypomagnesemia-23");
    SUBCASE("the period ends") {
        CHECK_FALSE(suppressing_override(warning, overrides, default_periods, now + 1h));
    }
    SUBCASE("critical cards are never snoozed") {
        snooze_candidate critical{"hypomagnesemia", "mg-1", "critical"};
        CHECK_FALSE(suppressing_override(critical, overrides, default_periods, now));
    }
    SUBCASE("newer evidence shows the card again") {
        snooze_candidate newer{"hypomagnesemia", "mg-2", "warning"};
        CHECK_FALSE(suppressing_override(newer, overrides, default_periods, now));
    }
    SUBCASE("another rule on the same evidence is not hidden") {
        snooze_candidate other{"digoxin-with-hypomagnesemia", "mg-1", "warning"};
        CHECK_FALSE(suppressing_override(other, overrides, default_periods, now));
    }
    SUBCASE("info cards stay hidden for a week") {
        snooze_candidate info{"stale-low-magnesium", "mg-0", "info"};
        CHECK(suppressing_override(info, overrides, default_periods, now));
        CHECK_FALSE(suppressing_override(info, overrides, default_periods, now + 68h));
    }
    SUBCASE("a period of 0 turns snoozing off") {
        cds::rules::snooze_periods const off{0s, 0s};
        CHECK_FALSE(suppressing_override(warning, overrides, off, now));
    }
}
