#pragma once
// The rules' documentation pages (CLINICAL-BASIS.md §5 "source"): GET /rules/{rule-id} serves
// the rule's section of rules/CLINICAL-BASIS.md (embedded at build time) as HTML, and every
// card's source.url links to it under the service's public URL. The rules library knows no
// URL: the service sets source.url after evaluation.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/array.hpp>

namespace cds::service {

// Where clients reach this service: `serve --public-url` (auth_config.hpp), else the address it
// listens on (http://HOST:PORT), known once the port is bound; before that the default listen
// address. Thread-safe.
class public_url {
public:
    explicit public_url(std::string url) : url_{std::move(url)} {}
    void set(std::string url);
    [[nodiscard]] std::string get() const;

private:
    mutable std::mutex mutex_;
    std::string url_;  // guarded by mutex_; no trailing '/'
};

// serve's default --listen, as a URL: the link a service started without options answers.
inline constexpr std::string_view default_public_url = "http://127.0.0.1:8080";

// "<base>/rules/<rule id>", the rule id percent-encoded as a path segment (RFC 3986 §3.3).
[[nodiscard]] std::string rule_page_url(std::string_view base, std::string_view rule_id);

// Sets each card's source.url to its rule's page (the rule id is source.topic.code).
void link_rule_pages(boost::json::array& cards, std::string_view base);

// The HTML page of a rule, from its "## <rule-id> — title" section of the clinical basis;
// nothing when the document has no such section.
[[nodiscard]] std::optional<std::string> rule_page_html(std::string_view rule_id);

// Markdown (the subset the clinical basis uses: headings, paragraphs, "-" and "1." lists,
// `code`, **strong**, *emphasis*, [links](http...)) as HTML. Every character of the text is
// escaped: raw HTML in the markdown is shown as text, never passed through.
[[nodiscard]] std::string markdown_to_html(std::string_view markdown);

}  // namespace cds::service
