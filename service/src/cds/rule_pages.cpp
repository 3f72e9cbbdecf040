#include "cds/service/cds/rule_pages.hpp"

#include <cctype>
#include <utility>
#include <vector>

#include <boost/json.hpp>

namespace cds::embedded {
extern std::string_view const clinical_basis_md;
}  // namespace cds::embedded

namespace cds::service {

namespace {

void append_escaped(std::string& out, std::string_view text) {
    for (char const c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
}

std::string escaped(std::string_view text) {
    std::string out;
    append_escaped(out, text);
    return out;
}

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

std::string inline_html(std::string_view text);

// A span opened at `i` by `marker` and closed by the next `marker`, with text between that
// does not start with a space (so "2 * 3" stays text); npos when there is none.
std::size_t span_end(std::string_view text, std::size_t i, std::string_view marker) {
    auto const start = i + marker.size();
    if (start >= text.size() || text[start] == ' ') return std::string_view::npos;
    auto const end = text.find(marker, start);
    return end == start ? std::string_view::npos : end;
}

// [label](url): a link only to an http(s) URL; any other target leaves the label as text.
// Returns where the link ends, or npos when `i` opens none.
std::size_t append_link(std::string& out, std::string_view text, std::size_t i) {
    auto const middle = text.find("](", i);
    if (middle == std::string_view::npos) return middle;
    auto const end = text.find(')', middle + 2);
    if (end == std::string_view::npos) return end;
    auto const label = text.substr(i + 1, middle - i - 1);
    auto const url = text.substr(middle + 2, end - middle - 2);
    if (starts_with(url, "https://") || starts_with(url, "http://")) {
        out += "<a href=\"" + escaped(url) + "\">" + inline_html(label) + "</a>";
    } else {
        out += inline_html(label);
    }
    return end + 1;
}

std::string inline_html(std::string_view text) {
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == '`') {
            if (auto const end = text.find('`', i + 1); end != std::string_view::npos) {
                out += "<code>" + escaped(text.substr(i + 1, end - i - 1)) + "</code>";
                i = end + 1;
                continue;
            }
        } else if (starts_with(text.substr(i), "**")) {
            if (auto const end = span_end(text, i, "**"); end != std::string_view::npos) {
                out += "<strong>" + inline_html(text.substr(i + 2, end - i - 2)) + "</strong>";
                i = end + 2;
                continue;
            }
        } else if (text[i] == '*') {
            if (auto const end = span_end(text, i, "*"); end != std::string_view::npos) {
                out += "<em>" + inline_html(text.substr(i + 1, end - i - 1)) + "</em>";
                i = end + 1;
                continue;
            }
        } else if (text[i] == '[') {
            if (auto const end = append_link(out, text, i); end != std::string_view::npos) {
                i = end;
                continue;
            }
        }
        append_escaped(out, text.substr(i, 1));
        ++i;
    }
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// "- x", "* x" (unordered) or "12. x" (ordered): the item's text, and which list it opens.
struct list_item {
    bool ordered = false;
    std::string_view text;
};
std::optional<list_item> as_list_item(std::string_view line) {
    if (starts_with(line, "- ") || starts_with(line, "* ")) return list_item{false, line.substr(2)};
    std::size_t digits = 0;
    while (digits < line.size() && std::isdigit(static_cast<unsigned char>(line[digits])) != 0)
        ++digits;
    if (digits > 0 && starts_with(line.substr(digits), ". "))
        return list_item{true, line.substr(digits + 2)};
    return std::nullopt;
}

// Renders block by block: a paragraph or list item gathers its lines until a blank line, a
// heading or the next item.
class markdown_renderer {
public:
    std::string render(std::string_view markdown) {
        std::size_t start = 0;
        while (start <= markdown.size()) {
            auto end = markdown.find('\n', start);
            if (end == std::string_view::npos) end = markdown.size();
            line(markdown.substr(start, end - start));
            start = end + 1;
        }
        close_list();
        return std::move(out_);
    }

private:
    void line(std::string_view raw) {
        auto const text = trim(raw);
        if (text.empty()) return close_list();
        std::size_t level = 0;
        while (level < text.size() && level < 6 && text[level] == '#') ++level;
        if (level > 0 && level < text.size() && text[level] == ' ') {
            close_list();
            auto const tag = std::to_string(level);
            out_ += "<h" + tag + ">" + inline_html(trim(text.substr(level))) + "</h" + tag + ">\n";
            return;
        }
        bool const indented = raw.front() == ' ' || raw.front() == '\t';
        if (auto const item = as_list_item(text); item && !(indented && block_ == block::item)) {
            flush();
            auto const kind = item->ordered ? block::ordered : block::unordered;
            if (list_ != kind) {
                close_list();
                out_ += kind == block::ordered ? "<ol>\n" : "<ul>\n";
                list_ = kind;
            }
            block_ = block::item;
            text_ = item->text;
            return;
        }
        if (block_ == block::none) block_ = list_ == block::none ? block::paragraph : block::item;
        if (!text_.empty()) text_ += ' ';
        text_ += text;
    }

    void flush() {
        if (block_ == block::paragraph) out_ += "<p>" + inline_html(text_) + "</p>\n";
        if (block_ == block::item) out_ += "<li>" + inline_html(text_) + "</li>\n";
        block_ = block::none;
        text_.clear();
    }

    void close_list() {
        flush();
        if (list_ == block::unordered) out_ += "</ul>\n";
        if (list_ == block::ordered) out_ += "</ol>\n";
        list_ = block::none;
    }

    enum class block { none, paragraph, item, unordered, ordered };
    block block_ = block::none;  // what text_ is gathering
    block list_ = block::none;   // the list open, if any
    std::string text_;
    std::string out_;
};

struct rule_section {
    std::string_view title;
    std::string_view body;
};

// "## <rule-id> — <title>" up to the next level-1 or level-2 heading.
std::optional<rule_section> find_rule_section(std::string_view document, std::string_view id) {
    std::string const heading = "## " + std::string{id} + " \u2014 ";
    std::size_t at = 0;
    while (true) {
        at = document.find(heading, at);
        if (at == std::string_view::npos) return std::nullopt;
        if (at == 0 || document[at - 1] == '\n') break;
        at += heading.size();
    }
    auto const title_start = at + heading.size();
    auto title_end = document.find('\n', title_start);
    if (title_end == std::string_view::npos) title_end = document.size();
    auto body_end = title_end;
    while (body_end < document.size()) {
        auto const next = document.substr(body_end + 1);
        if (starts_with(next, "## ") || starts_with(next, "# ")) break;
        body_end = document.find('\n', body_end + 1);
        if (body_end == std::string_view::npos) body_end = document.size();
    }
    return rule_section{trim(document.substr(title_start, title_end - title_start)),
                        document.substr(title_end, body_end - title_end)};
}

}  // namespace

void public_url::set(std::string url) {
    std::lock_guard const lock{mutex_};
    url_ = std::move(url);
}

std::string public_url::get() const {
    std::lock_guard const lock{mutex_};
    return url_;
}

std::string rule_page_url(std::string_view base, std::string_view rule_id) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string url{base};
    url += "/rules/";
    for (char const c : rule_id) {
        auto const byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
            url += c;
        } else {
            url += '%';
            url += digits[byte >> 4];
            url += digits[byte & 0x0f];
        }
    }
    return url;
}

void link_rule_pages(boost::json::array& cards, std::string_view base) {
    for (auto& value : cards) {
        auto* source = value.is_object() ? value.get_object().if_contains("source") : nullptr;
        if (source == nullptr || !source->is_object()) continue;
        auto const* topic = source->get_object().if_contains("topic");
        auto const* code = topic != nullptr && topic->is_object()
                               ? topic->get_object().if_contains("code")
                               : nullptr;
        if (code == nullptr || !code->is_string()) continue;
        source->get_object()["url"] = rule_page_url(base, code->get_string());
    }
}

std::string markdown_to_html(std::string_view markdown) {
    return markdown_renderer{}.render(markdown);
}

std::optional<std::string> rule_page_html(std::string_view rule_id) {
    auto const section = find_rule_section(cds::embedded::clinical_basis_md, rule_id);
    if (!section) return std::nullopt;
    std::string page =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>";
    append_escaped(page, section->title);
    page +=
        " \u2014 magnesium CDS rule</title>\n<style>body{font-family:system-ui,sans-serif;"
        "max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
        "code{background:#f2f2f2;padding:0 .2em}</style>\n</head>\n<body>\n<main>\n<h1>";
    page += inline_html(section->title);
    page += "</h1>\n<p>Rule <code>";
    append_escaped(page, rule_id);
    page += "</code> of the magnesium decision support service: its clinical basis.</p>\n";
    page += markdown_to_html(section->body);
    page += "</main>\n</body>\n</html>\n";
    return page;
}

}  // namespace cds::service
