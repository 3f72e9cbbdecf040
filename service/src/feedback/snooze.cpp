#include "cds/service/feedback/snooze.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <utility>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <boost/json.hpp>

namespace cds::service {

namespace {

std::string hex(unsigned char const* bytes, std::size_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out += digits[bytes[i] >> 4];
        out += digits[bytes[i] & 0x0f];
    }
    return out;
}

}  // namespace

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<unsigned char const*>(message.data()), message.size(), digest.data(),
             &length) == nullptr) {
        throw std::runtime_error("HMAC-SHA-256 failed");
    }
    return hex(digest.data(), length);
}

std::string generate_snooze_secret() {
    std::array<unsigned char, snooze_secret_min_bytes> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        throw std::runtime_error("the random generator could not make a snooze secret");
    }
    return hex(bytes.data(), bytes.size());
}

std::vector<std::string> card_evidence_references(boost::json::object const& card) {
    std::vector<std::string> out;
    auto const* extension = card.if_contains("extension");
    if (extension == nullptr || !extension->is_object()) return out;
    auto const* mine = extension->get_object().if_contains("magnesium-cds");
    if (mine == nullptr || !mine->is_object()) return out;
    auto const* evidence = mine->get_object().if_contains("evidence");
    if (evidence == nullptr || !evidence->is_array()) return out;
    for (auto const& item : evidence->get_array()) {
        auto const* reference =
            item.is_object() ? item.get_object().if_contains("reference") : nullptr;
        if (reference != nullptr && reference->is_string())
            out.emplace_back(reference->get_string());
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

snooze_keys::snooze_keys(std::string secret) : secret_{std::move(secret)} {
    if (secret_.size() < snooze_secret_min_bytes) {
        throw std::invalid_argument("the snooze secret must be at least " +
                                    std::to_string(snooze_secret_min_bytes) + " bytes");
    }
}

// Each key hashes a prefix naming what it is, so a patient id can never hash to the evidence
// key of some list of references (domain separation).
std::string snooze_keys::patient_key(std::string_view patient_id) const {
    std::string message = "patient\n";
    message += patient_id;
    return hmac_sha256_hex(secret_, message);
}

std::string snooze_keys::evidence_key(std::vector<std::string> const& references) const {
    std::string message = "evidence";
    for (auto const& reference : references) {
        message += '\n';
        message += reference;
    }
    return hmac_sha256_hex(secret_, message);
}

std::chrono::seconds snooze_period(rules::snooze_periods const& periods,
                                   std::string_view indicator) {
    if (indicator == "info") return periods.info;
    if (indicator == "warning") return periods.warning;
    return std::chrono::seconds{0};
}

std::optional<card_override> suppressing_override(snooze_candidate const& card,
                                                  std::vector<card_override> const& overrides,
                                                  rules::snooze_periods const& periods,
                                                  std::chrono::system_clock::time_point now) {
    auto const period = snooze_period(periods, card.indicator);
    if (period <= std::chrono::seconds{0} || card.rule_id.empty()) return std::nullopt;
    for (auto const& o : overrides) {
        if (o.rule_id != card.rule_id || o.evidence_key != card.evidence_key) continue;
        if (o.overridden_at + period > now) return o;
    }
    return std::nullopt;
}

namespace {

// The string at a path of object members ("" when a member is absent or not of that type).
std::string string_at(boost::json::object const& object,
                      std::initializer_list<std::string_view> path) {
    boost::json::value const* value = nullptr;
    boost::json::object const* inside = &object;
    for (auto const key : path) {
        if (inside == nullptr) return {};
        value = inside->if_contains(key);
        if (value == nullptr) return {};
        inside = value->if_object();
    }
    return value != nullptr && value->is_string() ? std::string{value->get_string()}
                                                  : std::string{};
}

std::string instant_text(std::chrono::system_clock::time_point at) {
    return fhir::format_instant(std::chrono::time_point_cast<std::chrono::milliseconds>(at));
}

}  // namespace

std::vector<snoozed_card> take_snoozed(boost::json::array& cards,
                                       snooze_keys const& keys,
                                       std::vector<card_override> const& overrides,
                                       rules::snooze_periods const& periods,
                                       std::chrono::system_clock::time_point now) {
    std::vector<snoozed_card> snoozed;
    if (overrides.empty()) return snoozed;
    boost::json::array shown(cards.storage());
    shown.reserve(cards.size());
    for (auto& value : cards) {
        auto const* card = value.if_object();
        std::optional<card_override> hiding;
        snooze_candidate candidate;
        if (card != nullptr) {
            candidate = {string_at(*card, {"source", "topic", "code"}),
                         keys.evidence_key(card_evidence_references(*card)),
                         string_at(*card, {"indicator"})};
            hiding = suppressing_override(candidate, overrides, periods, now);
        }
        if (!hiding) {
            shown.push_back(std::move(value));
            continue;
        }
        auto const until = hiding->overridden_at + snooze_period(periods, candidate.indicator);
        // Copied to the heap: the card outlives the request arena the cards were built in.
        snoozed.push_back({boost::json::object(*card, {}), std::move(*hiding), until});
    }
    cards = std::move(shown);
    return snoozed;
}

boost::json::array render_snoozed(std::vector<snoozed_card> const& snoozed) {
    boost::json::array out;
    for (auto const& s : snoozed) {
        boost::json::object follows{{"card", s.follows.card_uuid},
                                    {"overriddenAt", instant_text(s.follows.overridden_at)}};
        if (s.follows.reason) {
            follows["reason"] = {{"system", s.follows.reason->system},
                                 {"code", s.follows.reason->code},
                                 {"display", s.follows.reason->display}};
        }
        out.push_back(boost::json::object{{"card", s.card},
                                          {"snoozedUntil", instant_text(s.until)},
                                          {"override", std::move(follows)}});
    }
    return out;
}

snooze_service::snooze_service(snooze_keys keys,
                               std::shared_ptr<feedback_store> store,
                               snooze_options options)
    : keys_{std::move(keys)},
      store_{std::move(store)},
      options_{options},
      executor_{store_executor_options{1, options.max_queued}} {
    if (!store_) throw std::invalid_argument("snooze_service needs a store");
}

boost::asio::awaitable<std::optional<std::vector<card_override>>> snooze_service::recent_overrides(
    std::string patient_key,
    std::chrono::system_clock::time_point now,
    std::chrono::seconds longest) {
    using found = std::optional<std::vector<card_override>>;
    auto const give_up_at = std::chrono::steady_clock::now() + options_.max_wait;
    std::function<found()> lookup = [store = store_, patient_key = std::move(patient_key),
                                     since = now - longest, give_up_at]() -> found {
        // A lookup that waited in the queue past its bound is not worth an answer any more.
        if (std::chrono::steady_clock::now() >= give_up_at) return std::nullopt;
        return store->overrides_since(patient_key, since, give_up_at);
    };
    auto result = co_await executor_.run(std::move(lookup));
    if (!result) {
        spdlog::warn("snooze: lookup queue full; cards are shown without snoozing");
        co_return std::nullopt;
    }
    co_return std::move(*result);
}

}  // namespace cds::service
