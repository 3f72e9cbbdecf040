// A scenario's earlier feedback (history.json) replayed through the service's snoozing.

#include "cds/service/workbench/scenario_history.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>

#include <boost/json.hpp>

#include "cds/service/feedback/card_ledger.hpp"
#include "cds/service/feedback/feedback_store.hpp"
#include "cds/service/feedback/snooze.hpp"

namespace cds::service::workbench {

namespace {

namespace fs = std::filesystem;

std::set<std::string_view> const history_keys{"description", "feedback"};
std::set<std::string_view> const entry_keys{"ago", "request", "rule", "outcome", "reason"};

// The string member `key` of `entry`, or a problem when it is there but not a non-empty string.
std::string string_member(boost::json::object const& entry,
                          std::string_view key,
                          std::string const& where,
                          std::vector<std::string>& problems) {
    auto const* value = entry.if_contains(key);
    if (value == nullptr) return {};
    if (!value->is_string() || value->get_string().empty()) {
        problems.push_back(where + "." + std::string{key} + ": a non-empty string");
        return {};
    }
    return std::string{value->get_string()};
}

void check_keys(boost::json::object const& object,
                std::set<std::string_view> const& allowed,
                std::string const& where,
                std::vector<std::string>& problems) {
    for (auto const& member : object) {
        if (allowed.contains(member.key())) continue;
        std::string names;
        for (auto const name : allowed) names += (names.empty() ? "" : ", ") + std::string{name};
        problems.push_back(where + ": unknown key '" + std::string{member.key()} +
                           "' (allowed: " + names + ")");
    }
}

earlier_feedback read_entry(boost::json::object const& entry,
                            std::string const& where,
                            fs::path const& folder,
                            std::vector<std::string>& problems) {
    check_keys(entry, entry_keys, where, problems);
    earlier_feedback out;
    auto const ago = string_member(entry, "ago", where, problems);
    if (ago.empty() && !entry.contains("ago")) {
        problems.push_back(where +
                           ".ago: required, how long before the scenario's now the card "
                           "was answered, as an ISO 8601 duration (PT2H, P3D, P1DT6H)");
    } else if (auto const parsed = parse_history_duration(ago); !ago.empty()) {
        if (parsed)
            out.ago = *parsed;
        else
            problems.push_back(where + ".ago: '" + ago +
                               "' is not an ISO 8601 duration in days, hours and minutes "
                               "(PT2H, P3D, P1DT6H)");
    }
    out.rule = string_member(entry, "rule", where, problems);
    if (out.rule.empty() && !entry.contains("rule"))
        problems.push_back(where +
                           ".rule: required, the rule id of the card answered "
                           "(its source.topic.code)");
    out.request_file = string_member(entry, "request", where, problems);
    if (!out.request_file.empty() && !fs::is_regular_file(folder / out.request_file))
        problems.push_back(where + ".request: no file '" + out.request_file + "' beside it");
    out.outcome = entry.contains("outcome") ? string_member(entry, "outcome", where, problems)
                                            : std::string{"overridden"};
    if (!out.outcome.empty() && out.outcome != "overridden" && out.outcome != "accepted")
        problems.push_back(where + ".outcome: 'overridden' or 'accepted', not '" + out.outcome +
                           "'");
    out.reason = string_member(entry, "reason", where, problems);
    if (!out.reason.empty() && out.outcome == "accepted")
        problems.push_back(where + ".reason: only an overridden card has an override reason");
    return out;
}

std::optional<boost::json::value> parse_file(fs::path const& file,
                                             std::vector<std::string>& problems) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        problems.push_back(file.string() + ": cannot be read");
        return std::nullopt;
    }
    std::string const text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    boost::system::error_code ec;
    auto value = boost::json::parse(text, ec);
    if (ec) {
        problems.push_back(file.string() + ": not JSON (" + ec.message() + ")");
        return std::nullopt;
    }
    return value;
}

}  // namespace

std::optional<std::chrono::seconds> parse_history_duration(std::string_view text) {
    if (text.size() < 3 || text.front() != 'P') return std::nullopt;
    std::chrono::seconds total{0};
    bool in_time = false;
    bool any = false;
    std::size_t i = 1;
    while (i < text.size()) {
        if (text[i] == 'T' && !in_time) {
            in_time = true;
            ++i;
            continue;
        }
        long long number = 0;
        auto const [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), number);
        if (ec != std::errc{} || end == text.data() + text.size()) return std::nullopt;
        i = static_cast<std::size_t>(end - text.data());
        char const unit = text[i++];
        if (!in_time && unit == 'D')
            total += std::chrono::days{number};
        else if (in_time && unit == 'H')
            total += std::chrono::hours{number};
        else if (in_time && unit == 'M')
            total += std::chrono::minutes{number};
        else
            return std::nullopt;
        any = true;
    }
    return any ? std::optional{total} : std::nullopt;
}

history_read read_history(fs::path const& file) {
    history_read out;
    auto& problems = out.problems;
    auto const document = parse_file(file, problems);
    if (!document) return out;
    std::string const name = file.filename().string();
    if (!document->is_object()) {
        problems.push_back(name + ": an object with \"description\" and \"feedback\"");
        return out;
    }
    auto const& root = document->get_object();
    check_keys(root, history_keys, name, problems);
    auto const* description = root.if_contains("description");
    if (description == nullptr || !description->is_string() || description->get_string().empty())
        problems.push_back(name +
                           ".description: required, what the clinician did before and why "
                           "the cards are now what expected.json says");
    auto const* feedback = root.if_contains("feedback");
    if (feedback == nullptr || !feedback->is_array() || feedback->get_array().empty()) {
        problems.push_back(name + ".feedback: required, a non-empty list of earlier answers");
        return out;
    }
    scenario_history history{file.parent_path(), {}};
    for (std::size_t i = 0; i < feedback->get_array().size(); ++i) {
        auto const where = name + ".feedback[" + std::to_string(i) + "]";
        auto const& entry = feedback->get_array()[i];
        if (!entry.is_object()) {
            problems.push_back(where +
                               ": an object with ago, rule and, optionally, request, "
                               "outcome and reason");
            continue;
        }
        history.feedback.push_back(read_entry(entry.get_object(), where, history.folder, problems));
    }
    if (problems.empty()) out.history = std::move(history);
    return out;
}

namespace {

using clock_time = std::chrono::system_clock::time_point;

// A SQLite feedback store in a directory of its own, removed with it. Its clock is the replay's:
// feedback is received at the time the history gives it.
class temporary_store {
public:
    explicit temporary_store(rule_set_identity rules) {
        std::string pattern = (fs::temp_directory_path() / "magnesium-cds-history-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr)
            throw std::runtime_error("no temporary directory for the history's feedback store");
        directory_ = pattern;
        sqlite_feedback_store_options options;
        options.clock = [time = time_] { return *time; };
        store_ = open_sqlite_feedback_store((directory_ / "feedback.sqlite3").string(),
                                            std::move(rules), std::move(options));
    }
    temporary_store(temporary_store const&) = delete;
    temporary_store& operator=(temporary_store const&) = delete;
    ~temporary_store() {
        store_.reset();
        std::error_code ignored;
        fs::remove_all(directory_, ignored);
    }

    feedback_store& store() { return *store_; }
    void set_time(clock_time at) { *time_ = at; }

private:
    fs::path directory_;
    std::shared_ptr<clock_time> time_ = std::make_shared<clock_time>();
    std::shared_ptr<feedback_store> store_;
};

// What every replayed answer needs.
struct replay {
    scenario_history const& history;
    std::string const& scenario_body;
    fhir::instant now;
    rules::rule_set const& rules;
    request_evaluator const& evaluate;
    snooze_keys keys;
    temporary_store files;
};

std::string string_at(boost::json::object const& object, std::string_view key) {
    auto const* value = object.if_contains(key);
    return value != nullptr && value->is_string() ? std::string{value->get_string()}
                                                  : std::string{};
}

// The request's hook and context.patientId ("" when absent).
std::pair<std::string, std::string> hook_and_patient(std::string const& body) {
    boost::system::error_code ec;
    auto const parsed = boost::json::parse(body, ec);
    if (ec || !parsed.is_object()) return {};
    auto const& root = parsed.get_object();
    auto const* context = root.if_contains("context");
    return {string_at(root, "hook"), context != nullptr && context->is_object()
                                         ? string_at(context->get_object(), "patientId")
                                         : std::string{}};
}

std::string service_answering(rules::rule_set const& rules, std::string const& hook) {
    for (auto const& service : rules.services())
        if (service.hook == hook) return service.id;
    return hook;
}

std::string rule_of(boost::json::object const& card) {
    auto const* source = card.if_contains("source");
    auto const* topic = source != nullptr && source->is_object()
                            ? source->get_object().if_contains("topic")
                            : nullptr;
    return topic != nullptr && topic->is_object() ? string_at(topic->get_object(), "code")
                                                  : std::string{};
}

std::string described(boost::json::array const& cards) {
    if (cards.empty()) return "no card";
    std::string out;
    for (auto const& card : cards) {
        if (!card.is_object()) continue;
        out += (out.empty() ? "" : ", ") + rule_of(card.get_object()) + " (" +
               string_at(card.get_object(), "indicator") + ")";
    }
    return out;
}

// The override reason coding of `card` whose code is `code`; nullopt (and a problem) when the
// card does not offer it.
std::optional<fhir::coding> offered_reason(boost::json::object const& card,
                                           std::string const& code,
                                           std::string const& where,
                                           std::vector<std::string>& problems) {
    std::string offered;
    if (auto const* reasons = card.if_contains("overrideReasons");
        reasons != nullptr && reasons->is_array()) {
        for (auto const& reason : reasons->get_array()) {
            if (!reason.is_object()) continue;
            auto const& coding = reason.get_object();
            if (string_at(coding, "code") == code)
                return fhir::coding{string_at(coding, "system"), code,
                                    string_at(coding, "display")};
            offered += (offered.empty() ? "" : ", ") + string_at(coding, "code");
        }
    }
    problems.push_back(where + ".reason: '" + code + "' is not an override reason of the card (" +
                       (offered.empty() ? std::string{"it offers none"} : offered) + ")");
    return std::nullopt;
}

// The one card of `rule` in an earlier response; nullopt (and a problem) when there is not
// exactly one.
std::optional<boost::json::object> card_answered(evaluated_request const& response,
                                                 std::string const& rule,
                                                 std::string const& where,
                                                 std::vector<std::string>& problems) {
    boost::system::error_code ec;
    auto const parsed = boost::json::parse(response.body, ec);
    auto const* cards =
        !ec && parsed.is_object() ? parsed.get_object().if_contains("cards") : nullptr;
    if (response.status != 200 || cards == nullptr || !cards->is_array()) {
        problems.push_back(where + ": the earlier request was refused (HTTP " +
                           std::to_string(response.status) + "): " + response.body.substr(0, 300));
        return std::nullopt;
    }
    std::vector<boost::json::object> found;
    for (auto const& card : cards->get_array())
        if (card.is_object() && rule_of(card.get_object()) == rule)
            found.push_back(card.get_object());
    if (found.size() == 1) return std::move(found.front());
    problems.push_back(where + ".rule: the earlier request gave " + std::to_string(found.size()) +
                       " cards of rule '" + rule +
                       "', not one (its cards: " + described(cards->get_array()) + ")");
    return std::nullopt;
}

// One earlier answer: the request then evaluated at its time, its cards put in the ledger with
// the patient's key, and the clinician's feedback on the card of the rule stored as received
// at that time, exactly as the service's hook and feedback endpoints record them.
void replay_answer(replay& r,
                   earlier_feedback const& answer,
                   std::string const& where,
                   std::vector<std::string>& problems) {
    auto const at = r.now - std::chrono::duration_cast<std::chrono::milliseconds>(answer.ago);
    std::string body = r.scenario_body;
    if (!answer.request_file.empty()) {
        std::ifstream in(r.history.folder / answer.request_file, std::ios::binary);
        body.assign(std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{});
    }
    auto const [hook, patient_id] = hook_and_patient(body);
    auto const card = card_answered(r.evaluate(body, at), answer.rule, where, problems);
    if (!card) return;
    std::optional<fhir::coding> reason;
    if (!answer.reason.empty()) {
        reason = offered_reason(*card, answer.reason, where, problems);
        if (!reason) return;
    }
    auto const service_id = service_answering(r.rules, hook);
    auto const patient_key = r.keys.patient_key(patient_id);
    auto const ledger = ledger_cards_from(
        boost::json::array{*card},
        {service_id, hook, r.rules.id(), r.rules.version(), {}, at, &r.keys, patient_key});
    feedback_entry entry;
    entry.card = string_at(*card, "uuid");
    entry.outcome = answer.outcome;
    entry.override_reason = std::move(reason);
    entry.outcome_timestamp = fhir::format_instant(at);
    entry.rule_set = {r.rules.id(), r.rules.version()};
    if (answer.outcome == "accepted") {
        for (auto const& uuid : ledger.front().suggestion_uuids)
            entry.accepted_suggestions.push_back(uuid);
    }
    r.files.set_time(at);
    auto const give_up_at = std::chrono::steady_clock::now() + std::chrono::seconds{5};
    if (r.files.store().record_cards(ledger, give_up_at) != store_outcome::stored ||
        !r.files.store().record(service_id, {entry})) {
        problems.push_back(where + ": the temporary feedback store did not take the answer");
    }
}

// The cards of `response` after the service's snooze filter at `now`, with the snoozed ones
// under explain.suppressed when the response carries an explain member.
evaluated_request snoozed_response(replay& r,
                                   evaluated_request response,
                                   std::vector<std::string>& problems) {
    boost::system::error_code ec;
    auto document = boost::json::parse(response.body, ec);
    auto* cards =
        !ec && document.is_object() ? document.get_object().if_contains("cards") : nullptr;
    if (response.status != 200 || cards == nullptr || !cards->is_array()) return response;
    auto const& periods = r.rules.snooze();
    // The window the service reads overrides over before a hook call (router.cpp).
    auto const longest = std::max(periods.info, periods.warning);
    if (longest <= std::chrono::seconds{0}) return response;
    auto const patient_key = r.keys.patient_key(hook_and_patient(r.scenario_body).second);
    auto const overrides = r.files.store().overrides_since(
        patient_key, r.now - longest, std::chrono::steady_clock::now() + std::chrono::seconds{5});
    if (!overrides) {
        problems.push_back("the temporary feedback store could not be read");
        return response;
    }
    auto const snoozed = take_snoozed(cards->get_array(), r.keys, *overrides, periods, r.now);
    if (auto* explain = document.get_object().if_contains("explain");
        explain != nullptr && explain->is_object() && !snoozed.empty()) {
        explain->get_object()["suppressed"] = render_snoozed(snoozed);
    }
    response.body = boost::json::serialize(document);
    return response;
}

}  // namespace

replayed_response evaluate_after_history(scenario_history const& history,
                                         std::string const& body,
                                         fhir::instant now,
                                         rules::rule_set const& rules,
                                         request_evaluator const& evaluate) {
    replay r{history,
             body,
             now,
             rules,
             evaluate,
             snooze_keys{generate_snooze_secret()},
             temporary_store{{rules.id(), rules.version()}}};
    replayed_response out;
    // Oldest first, as the answers were given.
    std::vector<std::size_t> order(history.feedback.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return history.feedback[a].ago > history.feedback[b].ago;
    });
    for (auto const i : order) {
        replay_answer(r, history.feedback[i], "history.json.feedback[" + std::to_string(i) + "]",
                      out.problems);
    }
    out.response = snoozed_response(r, evaluate(body, now), out.problems);
    return out;
}

}  // namespace cds::service::workbench
