// Loading a rule file under test and evaluating requests with it in-process, through the same
// request path (`handle_request_blocking`) as `magnesium-cds evaluate` and the HTTP service.

#include <fstream>
#include <iterator>
#include <sstream>

#include "cds/service/http/router.hpp"
#include "cds/service/workbench/workbench.hpp"

namespace cds::service::workbench {

namespace {

std::optional<std::string> read_text(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::optional<rules_under_test> build(std::string source,
                                      std::string const& text,
                                      std::ostream& problems_out) {
    boost::system::error_code ec;
    auto document = boost::json::parse(text, ec);
    if (ec) {
        problems_out << source << ": not JSON (" << ec.message() << ")\n";
        return std::nullopt;
    }
    auto loaded = rules::load_rule_set(text);
    if (!loaded.rules || !loaded.problems.empty()) {
        problems_out << source << ": " << loaded.problems.size() << " problem(s)\n";
        for (auto const& p : loaded.problems)
            problems_out << (p.path.empty() ? "/" : p.path) << ": " << p.message << '\n';
        return std::nullopt;
    }
    return rules_under_test{std::move(source), std::move(document), std::move(loaded.rules)};
}

// The service answering the request's hook; the first service when the hook cannot be read,
// so that the request path itself reports what is wrong with the request.
std::string service_for(rules::rule_set const& rule_set, std::string const& body) {
    boost::system::error_code ec;
    auto const parsed = boost::json::parse(body, ec);
    std::string hook;
    if (!ec && parsed.is_object()) {
        if (auto const* h = parsed.get_object().if_contains("hook");
            h != nullptr && h->is_string()) {
            hook = std::string{h->get_string()};
        }
    }
    auto const& services = rule_set.services();
    for (auto const& s : services) {
        if (s.hook == hook) return s.id;
    }
    return services.empty() ? std::string{} : services.front().id;
}

}  // namespace

std::optional<rules_under_test> load_rules_under_test(std::string const& file,
                                                      std::ostream& problems_out) {
    if (file.empty())
        return build("bundled rule set", std::string{rules::bundled_rule_set_json()}, problems_out);
    auto const text = read_text(file);
    if (!text) {
        problems_out << file << ": cannot be read\n";
        return std::nullopt;
    }
    return build(file, *text, problems_out);
}

patched_rules patch_rules(rules_under_test const& base, boost::json::array const& patches) {
    auto document = base.document;
    for (auto const& patch : patches) {
        auto const* path = patch.is_object() ? patch.get_object().if_contains("path") : nullptr;
        auto const* value = patch.is_object() ? patch.get_object().if_contains("value") : nullptr;
        if (path == nullptr || !path->is_string() || value == nullptr)
            return {std::nullopt, "rules_patch needs path and value"};
        boost::system::error_code ec;
        auto* target = document.find_pointer(path->get_string(), ec);
        if (target == nullptr) {
            return {std::nullopt, "rules_patch path " + std::string{path->get_string()} +
                                      " does not exist in the rule file"};
        }
        *target = *value;
    }
    std::ostringstream problems;
    auto patched = build(base.source + " (patched)", boost::json::serialize(document), problems);
    if (!patched) return {std::nullopt, "the patched rule file is invalid: " + problems.str()};
    return {std::move(patched), {}};
}

evaluator::evaluator(rules_under_test const& rules)
    : rules_(rules.rules), state_(make_service_state(rules.rules)) {}

evaluation evaluator::evaluate(std::string body, fhir::instant now) const {
    http_request request;
    request.method = "POST";
    request.target = "/cds-services/" + service_for(*rules_, body);
    request.headers = {{"Content-Type", "application/json"}};
    request.body = std::move(body);
    request.received_at = now;
    auto response = handle_request_blocking(std::move(request), state_);
    evaluation result{static_cast<int>(response.status), std::move(response.body), {}};
    boost::system::error_code ec;
    auto parsed = boost::json::parse(result.body, ec);
    if (!ec) result.response = std::move(parsed);
    return result;
}

}  // namespace cds::service::workbench
