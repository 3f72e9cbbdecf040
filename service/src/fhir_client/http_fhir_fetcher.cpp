#include "cds/service/fhir_client/http_fhir_fetcher.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "cds/service/fhir_client/fhir_allowlist.hpp"
#include "cds/service/fhir_client/prefetch_query.hpp"
#include "cds/service/fhir_client/search_bundle.hpp"
#include "cds/service/http/http_message.hpp"

namespace cds::service::fhir_client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace json = boost::json;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t header_limit = 64 * 1024;
constexpr int max_redirects = 3;

// One keep-alive connection to one origin; plain or TLS.
struct connection {
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<tls_stream> tls;
    beast::flat_buffer buffer;
    steady::time_point reusable_until;
    // The connect or handshake finished at or after its timeout: Beast's timeout handler may
    // have fired and still be queued (see attempt_get), so the connection is never pooled.
    bool timeout_may_have_fired = false;

    beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

// Idle connections of one execution context, keyed by origin and fetcher. Living as an Asio
// service ties the sockets' lifetime to their io_context: shutdown() closes them before the
// context's reactor goes away, whatever order the owner destroys things in.
class connection_pool_service : public asio::execution_context::service {
public:
    static inline asio::execution_context::id id;

    explicit connection_pool_service(asio::execution_context& context) : service(context) {}

    std::unique_ptr<connection> take(std::string const& pool_key) {
        std::lock_guard lock(mutex_);
        auto const now = steady::now();
        auto range = idle_.equal_range(pool_key);
        for (auto it = range.first; it != range.second;) {
            if (now < it->second->reusable_until) {
                auto found = std::move(it->second);
                idle_.erase(it);
                return found;
            }
            it = idle_.erase(it);  // expired: the server has likely closed it already
        }
        return nullptr;
    }

    void give_back(std::string const& pool_key,
                   std::unique_ptr<connection> conn,
                   std::size_t max_idle,
                   steady::duration reuse_window) {
        if (reuse_window <= steady::duration::zero()) return;
        std::lock_guard lock(mutex_);
        if (idle_.count(pool_key) >= max_idle) return;
        conn->reusable_until = steady::now() + reuse_window;
        idle_.emplace(pool_key, std::move(conn));
    }

private:
    void shutdown() override {
        std::lock_guard lock(mutex_);
        idle_.clear();
    }

    std::mutex mutex_;
    std::multimap<std::string, std::unique_ptr<connection>> idle_;  // guarded by mutex_
};

// Requests in flight per origin over every call of one fetcher: a counting semaphore, so that
// no number of queries, Medication reads or concurrent calls opens more connections to one
// server than configured (each in-flight request holds one connection). Waiters are timers on
// their own call's strand, woken by a posted cancel when a slot is handed to them, or by
// their deadline.
class origin_limiter {
public:
    explicit origin_limiter(std::size_t per_origin)
        : per_origin_(std::max<std::size_t>(1, per_origin)) {}

    // Held while one request is in flight; gives its place to the next waiter when released.
    class slot {
    public:
        slot() = default;
        slot(origin_limiter* owner, std::string origin)
            : owner_(owner), origin_(std::move(origin)) {}
        slot(slot&& other) noexcept
            : owner_(std::exchange(other.owner_, nullptr)), origin_(std::move(other.origin_)) {}
        slot& operator=(slot&&) = delete;
        ~slot() {
            if (owner_ != nullptr) owner_->release(origin_);
        }
        explicit operator bool() const { return owner_ != nullptr; }

    private:
        origin_limiter* owner_ = nullptr;
        std::string origin_;
    };

    // A slot for `origin`, or an empty one when none became free before `deadline`.
    asio::awaitable<slot> acquire(std::string origin, steady::time_point deadline) {
        auto const me = std::make_shared<waiter>(co_await asio::this_coro::executor);
        me->timer.expires_at(deadline);
        bool queued = false;
        {
            std::lock_guard lock(mutex_);
            auto& state = origins_[origin];
            if (state.in_use < per_origin_) {
                ++state.in_use;
                me->granted = true;
            } else {
                state.waiting.push_back(me);
                queued = true;
            }
        }
        // Runs when this coroutine ends without taking its slot (its deadline passed, or the
        // io_context is being destroyed while it waits): gives a granted slot on.
        abandon_guard guard{this, &origin, me};
        if (queued) co_await me->timer.async_wait(nothrow);
        std::lock_guard lock(mutex_);
        if (!me->granted) co_return slot{};
        guard.taken = true;
        co_return slot(this, std::move(origin));
    }

private:
    struct waiter {
        explicit waiter(asio::any_io_executor executor) : timer(std::move(executor)) {}
        asio::steady_timer timer;
        bool granted = false;  // guarded by mutex_ once queued
    };
    struct origin_state {
        std::size_t in_use = 0;
        std::deque<std::shared_ptr<waiter>> waiting;
    };
    struct abandon_guard {
        origin_limiter* owner;
        std::string const* origin;
        std::shared_ptr<waiter> me;
        bool taken = false;
        ~abandon_guard() {
            if (taken) return;
            bool pass_on = false;
            {
                std::lock_guard lock(owner->mutex_);
                if (auto const it = owner->origins_.find(*origin); it != owner->origins_.end()) {
                    auto& waiting = it->second.waiting;
                    waiting.erase(std::remove(waiting.begin(), waiting.end(), me), waiting.end());
                }
                pass_on = me->granted;
            }
            if (pass_on) owner->release(*origin);
        }
    };

    void release(std::string const& origin) {
        std::shared_ptr<waiter> next;
        {
            std::lock_guard lock(mutex_);
            auto const it = origins_.find(origin);
            if (it == origins_.end()) return;
            auto& state = it->second;
            if (state.waiting.empty()) {
                if (--state.in_use == 0) origins_.erase(it);
                return;
            }
            next = std::move(state.waiting.front());
            state.waiting.pop_front();
            next->granted = true;  // the slot passes on; in_use is unchanged
        }
        asio::post(next->timer.get_executor(), [next] { next->timer.cancel(); });
    }

    std::size_t const per_origin_;
    std::mutex mutex_;
    std::map<std::string, origin_state> origins_;  // guarded by mutex_
};

struct http_answer {
    unsigned status = 0;
    std::string content_type;
    std::string location;
    std::string body;
    int attempts = 1;
};

// Distinct from json::value, which a std::string would also construct.
struct fetch_error {
    std::string reason;
};
using json_result = boost::system::result<json::value, fetch_error>;

struct attempt_error {
    std::string reason;
    bool retryable = false;
    // A pooled connection the server had already closed: retried at once on a new one.
    bool stale = false;
};

std::string budget_text(milliseconds budget) {
    return std::to_string(budget.count()) + " ms deadline";
}

std::string size_text(std::size_t bytes) {
    constexpr std::size_t mib = 1024 * 1024;
    return bytes % mib == 0 ? std::to_string(bytes / mib) + " MiB"
                            : std::to_string(bytes) + "-byte";
}

// Printable and short: header values from a server are echoed only after this.
std::string sanitized(std::string_view s, std::size_t limit = 60) {
    std::string out;
    for (char c : s.substr(0, limit)) {
        auto const u = static_cast<unsigned char>(c);
        out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
    }
    return out;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool header_value_is_safe(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        auto const u = static_cast<unsigned char>(c);
        return u >= 0x21 && u < 0x7f;
    });
}

// Replaces every occurrence of `secret` in `text`. Secrets shorter than 4 characters are not
// worth garbling the text for (and are no secret).
void redact(std::string& text, std::string_view secret) {
    if (secret.size() < 4) return;
    for (auto at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + std::string_view("[redacted]").size())) {
        text.replace(at, secret.size(), "[redacted]");
    }
}

steady::duration backoff_for(int attempt) {
    thread_local std::minstd_rand random{std::random_device{}()};
    std::uniform_int_distribution<int> jitter(0, 25);
    return milliseconds(50 << std::min(attempt - 1, 4)) + milliseconds(jitter(random));
}

}  // namespace

milliseconds keep_alive_reuse_window(std::string_view keep_alive_header, milliseconds configured) {
    auto const trim = [](std::string_view text) {
        while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
            text.remove_prefix(1);
        while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
        return text;
    };
    // A number of seconds; anything else (quoted, negative, huge) is ignored as unknown.
    auto const seconds_value = [](std::string_view text) -> std::optional<long long> {
        if (text.empty() || text.size() > 9) return std::nullopt;
        long long value = 0;
        for (char c : text) {
            if (c < '0' || c > '9') return std::nullopt;
            value = value * 10 + (c - '0');
        }
        return value;
    };
    milliseconds window = configured;
    while (!keep_alive_header.empty()) {
        auto const comma = keep_alive_header.find(',');
        std::string_view const parameter = trim(keep_alive_header.substr(0, comma));
        keep_alive_header = comma == std::string_view::npos ? std::string_view{}
                                                            : keep_alive_header.substr(comma + 1);
        auto const equals = parameter.find('=');
        if (equals == std::string_view::npos) continue;
        std::string_view const name = trim(parameter.substr(0, equals));
        auto const value = seconds_value(trim(parameter.substr(equals + 1)));
        if (!value) continue;
        if (iequals(name, "timeout")) {
            if (*value <= 1) return milliseconds::zero();
            window = std::min(window, milliseconds{(*value - 1) * 1000});
        } else if (iequals(name, "max") && *value == 0) {
            return milliseconds::zero();
        }
    }
    return window;
}

struct http_fhir_fetcher::impl {
    fhir_client_options options;
    fhir_allowlist allowlist;
    ssl::context tls{ssl::context::tls_client};
    std::string pool_suffix;  // keeps connections of differently configured fetchers apart
    std::atomic<std::uint64_t> connections_opened{0};
    std::unique_ptr<origin_limiter> limiter;
};

namespace {

using impl_ptr = std::shared_ptr<http_fhir_fetcher::impl const>;

// What one fetch() call shares between its concurrent queries. Only read after set-up.
struct call_state {
    impl_ptr owner;
    http_fhir_fetcher::impl& mutable_owner;  // for the connection counter and limiter only
    http_url base;
    std::string authorization;  // "Bearer abc" or empty; never logged, never in a reason
    steady::time_point deadline;
    milliseconds budget;
    // W3C traceparent of the hook call's span, sent with each request; empty: none.
    std::string traceparent;
};
using call_ptr = std::shared_ptr<call_state const>;

struct key_result {
    std::string key;
    std::optional<json::value> result;         // reads (or null for 404/410)
    std::optional<searchset_builder> builder;  // searches
    std::string failure;
    std::string note;
};

struct medication_read {
    std::string reference;
    std::optional<json::object> resource;
    std::string failure;
};

attempt_error describe_connect_error(beast::error_code ec, call_state const& call) {
    if (ec == beast::error::timeout) {
        return {"could not connect to the FHIR server within the " + budget_text(call.budget),
                true};
    }
    if (ec == asio::error::connection_refused)
        return {"the FHIR server refused the connection", true};
    return {"could not connect to the FHIR server (" + ec.message() + ")", true};
}

std::string describe_tls_error(beast::error_code ec, tls_stream& stream) {
    long const verify = SSL_get_verify_result(stream.native_handle());
    if (verify != X509_V_OK) {
        return std::string("the FHIR server's TLS certificate was not accepted (") +
               X509_verify_cert_error_string(verify) + ")";
    }
    return "the TLS handshake with the FHIR server failed (" + ec.message() + ")";
}

bool is_ip_address(std::string const& host) {
    beast::error_code address_error;
    (void)asio::ip::make_address(host, address_error);
    return !address_error;
}

// The endpoints of `host` (an IP literal without brackets, or a name resolved before
// `deadline`).
asio::awaitable<boost::system::result<std::vector<asio::ip::tcp::endpoint>, attempt_error>>
resolve_endpoints(call_state const& call,
                  std::string const& host,
                  std::uint16_t port,
                  steady::time_point deadline) {
    std::vector<asio::ip::tcp::endpoint> endpoints;
    beast::error_code address_error;
    auto const address = asio::ip::make_address(host, address_error);
    if (!address_error) {
        endpoints.emplace_back(address, port);
        co_return endpoints;
    }
    using namespace asio::experimental::awaitable_operators;
    auto executor = co_await asio::this_coro::executor;
    asio::ip::tcp::resolver resolver(executor);
    asio::steady_timer timer(executor, deadline);
    auto resolved = co_await (resolver.async_resolve(host, std::to_string(port), nothrow) ||
                              timer.async_wait(nothrow));
    if (resolved.index() == 1) {
        co_return attempt_error{
            "could not resolve the FHIR server's host name within the " + budget_text(call.budget),
            true};
    }
    auto& [resolve_error, results] = std::get<0>(resolved);
    if (resolve_error) {
        co_return attempt_error{"could not resolve the FHIR server's host name (" +
                                resolve_error.message() + ")"};
    }
    for (auto const& entry : results) endpoints.push_back(entry.endpoint());
    co_return endpoints;
}

asio::awaitable<boost::system::result<std::unique_ptr<connection>, attempt_error>> connect(
    call_ptr call, http_url const& url) {
    auto executor = co_await asio::this_coro::executor;
    auto const now = steady::now();
    auto const remaining = call->deadline - now;
    if (remaining <= steady::duration::zero()) {
        co_return attempt_error{"no time was left before the " + budget_text(call->budget)};
    }
    // Half the remaining time for resolving and connecting leaves room for one retry when
    // a connection attempt hangs (dropped SYNs); a connection that succeeds late still leaves
    // the other half for the answer.
    auto const connect_deadline =
        now + std::max<steady::duration>(remaining / 2,
                                         std::min<steady::duration>(remaining, milliseconds(200)));

    std::string host = url.host;
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    bool const host_is_address = is_ip_address(host);
    auto resolved = co_await resolve_endpoints(*call, host, url.port, connect_deadline);
    if (!resolved) co_return resolved.error();
    auto const& endpoints = *resolved;

    auto conn = std::make_unique<connection>();
    if (url.is_https()) {
        conn->tls = std::make_unique<tls_stream>(executor, call->mutable_owner.tls);
    } else {
        conn->plain = std::make_unique<beast::tcp_stream>(executor);
    }
    call->mutable_owner.connections_opened.fetch_add(1, std::memory_order_relaxed);
    conn->tcp().expires_at(connect_deadline);
    auto [connect_error, endpoint] = co_await conn->tcp().async_connect(endpoints, nothrow);
    if (connect_error) co_return describe_connect_error(connect_error, *call);

    if (conn->tls) {
        // SNI for host names (RFC 6066 forbids IP literals there); the certificate must name
        // the host we asked for, by DNS name or IP address.
        if (!host_is_address &&
            !SSL_set_tlsext_host_name(conn->tls->native_handle(), host.c_str())) {
            co_return attempt_error{"could not set the TLS server name for the FHIR server"};
        }
        conn->tls->set_verify_mode(ssl::verify_peer);
        conn->tls->set_verify_callback(ssl::host_name_verification(host));
        conn->tcp().expires_at(connect_deadline);
        auto [handshake_error] =
            co_await conn->tls->async_handshake(ssl::stream_base::client, nothrow);
        if (handshake_error) {
            if (handshake_error == beast::error::timeout) {
                co_return attempt_error{
                    "the TLS handshake with the FHIR server did not finish within the " +
                        budget_text(call->budget),
                    true};
            }
            co_return attempt_error{describe_tls_error(handshake_error, *conn->tls)};
        }
    }
    conn->timeout_may_have_fired = steady::now() >= connect_deadline;
    co_return conn;
}

template <class Stream>
asio::awaitable<beast::error_code> exchange(Stream& stream,
                                            beast::flat_buffer& buffer,
                                            http::request<http::empty_body> const& request,
                                            http::response_parser<http::string_body>& parser) {
    auto [write_error, written] = co_await http::async_write(stream, request, nothrow);
    if (write_error) co_return write_error;
    auto [read_error, read] = co_await http::async_read(stream, buffer, parser, nothrow);
    co_return read_error;
}

bool is_closed_error(beast::error_code ec) {
    return ec == http::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == ssl::error::stream_truncated;
}

// Why an exchange failed, in client-fit words, and whether another attempt may help: a
// pooled connection the server closed before answering is retried at once, unreported.
attempt_error describe_exchange_error(beast::error_code error,
                                      bool reused,
                                      bool got_some,
                                      call_state const& call) {
    bool const closed = is_closed_error(error);
    if (reused && closed && !got_some) return attempt_error{"", true, true};
    if (error == beast::error::timeout) {
        return attempt_error{"the FHIR server did not answer within the " +
                             budget_text(call.budget)};
    }
    if (closed) {
        return attempt_error{
            got_some ? "the FHIR server closed the connection in the middle of its answer"
                     : "the FHIR server closed the connection without answering",
            true};
    }
    if (error == http::error::body_limit) {
        return attempt_error{"the FHIR server's answer exceeds the " +
                             size_text(call.owner->options.max_response_bytes) + " limit"};
    }
    if (error == http::error::header_limit) {
        return attempt_error{"the FHIR server's answer headers exceed the size limit"};
    }
    if (error.category() == http::make_error_code(http::error::bad_version).category()) {
        return attempt_error{"the FHIR server's answer is not valid HTTP"};
    }
    return attempt_error{"the connection to the FHIR server failed (" + error.message() + ")",
                         true};
}

// One GET on one connection (pooled or new).
asio::awaitable<boost::system::result<http_answer, attempt_error>> attempt_get(call_ptr call,
                                                                               http_url const& url,
                                                                               bool allow_reuse) {
    auto executor = co_await asio::this_coro::executor;
    auto& context = asio::query(executor, asio::execution::context);
    auto const& owner = *call->owner;
    std::string const pool_key = url.origin() + owner.pool_suffix;

    // Declared before the connection, so released after it is pooled or closed.
    auto const slot = co_await call->mutable_owner.limiter->acquire(pool_key, call->deadline);
    if (!slot) {
        co_return attempt_error{"no connection to the FHIR server became free within the " +
                                budget_text(call->budget)};
    }
    std::unique_ptr<connection> conn;
    if (allow_reuse && asio::has_service<connection_pool_service>(context)) {
        conn = asio::use_service<connection_pool_service>(context).take(pool_key);
    }
    bool const reused = conn != nullptr;
    if (!conn) {
        auto connected = co_await connect(call, url);
        if (!connected) co_return connected.error();
        conn = std::move(*connected);
    }

    http::request<http::empty_body> request{http::verb::get, url.target(), 11};
    request.set(http::field::host, url.host_header());
    request.set(http::field::user_agent, "magnesium-cds");
    request.set(http::field::accept, "application/fhir+json");
    request.keep_alive(true);
    // The token belongs to fhirServer's origin alone (CDS Hooks 2.0 "FHIR Resource Access").
    if (!call->authorization.empty() && url.same_origin(call->base)) {
        request.set(http::field::authorization, call->authorization);
    }
    // Built from validated hex ids only (trace_context.hpp), so always a safe header value.
    if (!call->traceparent.empty()) request.set("traceparent", call->traceparent);

    http::response_parser<http::string_body> parser;
    parser.body_limit(owner.options.max_response_bytes);
    parser.header_limit(header_limit);
    conn->tcp().expires_at(call->deadline);
    auto const error = conn->tls ? co_await exchange(*conn->tls, conn->buffer, request, parser)
                                 : co_await exchange(*conn->plain, conn->buffer, request, parser);
    if (error) co_return describe_exchange_error(error, reused, parser.got_some(), *call);

    auto response = parser.release();
    http_answer answer;
    answer.status = response.result_int();
    answer.content_type = std::string(response[http::field::content_type]);
    answer.location = std::string(response[http::field::location]);
    answer.body = std::move(response.body());
    // Not pooled once one of its timeouts has passed. Beast's timeout timer may then have fired
    // just as the operation completed; its handler, still queued on this call's strand, reads
    // the stream's timeout state (op_state::tick), while a pooled connection may already be in
    // use by another call on another strand and thread, which writes that state: a data race.
    // Before its expiry a timer cannot have fired, so only cancelled handlers can be pending,
    // and those return without touching the stream.
    if (response.keep_alive() && !response.need_eof() && conn->buffer.size() == 0 &&
        !conn->timeout_may_have_fired && steady::now() < call->deadline) {
        asio::use_service<connection_pool_service>(context).give_back(
            pool_key, std::move(conn), owner.options.max_idle_per_origin,
            keep_alive_reuse_window(response[http::field::keep_alive], owner.options.idle_timeout));
    }
    co_return answer;
}

// A GET with retries: only for failures where the server cannot have acted on the request
// or says so itself (connect errors, a connection closed without an answer, 5xx); a GET is
// idempotent, so repeating it is safe. Backoff sleeps never cross the deadline. `url` is the
// caller's, alive while it awaits: a URL is never copied per attempt.
asio::awaitable<boost::system::result<http_answer, std::string>> get(call_ptr call,
                                                                     http_url const& url) {
    int const max_attempts = std::max(1, call->owner->options.max_attempts);
    int attempts = 0;
    int stale_retries = 0;
    bool allow_reuse = true;
    while (true) {
        ++attempts;
        auto result = co_await attempt_get(call, url, allow_reuse);
        if (!result && result.error().stale && stale_retries < 2) {
            ++stale_retries;
            --attempts;
            allow_reuse = false;
            continue;
        }
        bool const retry = result ? result->status >= 500 : result.error().retryable;
        auto const backoff = backoff_for(attempts);
        if (!retry || attempts >= max_attempts ||
            steady::now() + backoff + milliseconds(20) >= call->deadline) {
            if (result) {
                result->attempts = attempts;
                co_return std::move(*result);
            }
            auto reason = std::move(result.error().reason);
            if (attempts > 1) reason += " (" + std::to_string(attempts) + " attempts)";
            co_return reason;
        }
        asio::steady_timer timer(co_await asio::this_coro::executor, backoff);
        co_await timer.async_wait(nothrow);
    }
}

std::string status_reason(http_answer const& answer, call_state const& call) {
    auto const status = answer.status;
    std::string reason;
    if (status == 401) {
        reason = call.authorization.empty()
                     ? "the FHIR server requires authorization (HTTP 401) and the request carried "
                       "no fhirAuthorization"
                     : "the FHIR server did not accept the access token (HTTP 401)";
    } else if (status == 403) {
        reason = "the FHIR server denied access to this data (HTTP 403)";
    } else if (status == 404) {
        reason = "the FHIR server does not support this query (HTTP 404)";
    } else if (status == 429) {
        reason = "the FHIR server is limiting the request rate (HTTP 429)";
    } else if (status >= 500) {
        reason = "the FHIR server failed (HTTP " + std::to_string(status) + ")";
        if (answer.attempts > 1) reason += " on " + std::to_string(answer.attempts) + " attempts";
    } else {
        reason = "the FHIR server rejected the query (HTTP " + std::to_string(status) + ")";
    }
    json::error_code ec;
    auto const body = json::parse(answer.body, ec);
    if (!ec && body.is_object()) {
        if (auto const* type = body.get_object().if_contains("resourceType");
            type != nullptr && type->is_string() && type->get_string() == "OperationOutcome") {
            auto const text = outcome_text(body.get_object());
            if (!text.empty()) reason += ": " + text;
        }
    }
    return reason;
}

json_result parse_fhir_json(http_answer const& answer) {
    auto content_type = lower(answer.content_type);
    if (auto const semicolon = content_type.find(';'); semicolon != std::string::npos) {
        content_type.resize(semicolon);
    }
    while (!content_type.empty() && content_type.back() == ' ') content_type.pop_back();
    if (!content_type.empty() && content_type != "application/fhir+json" &&
        content_type != "application/json" && content_type != "application/json+fhir") {
        return fetch_error{"the FHIR server answered with " + sanitized(content_type) +
                           " instead of FHIR JSON"};
    }
    json::parse_options options;
    options.max_depth = 128;
    json::error_code ec;
    auto value = json::parse(answer.body, ec, {}, options);
    if (ec) return fetch_error{"the FHIR server's answer is not valid JSON"};
    return value;
}

// GET url, follow same-origin allowed redirects, and turn the answer into JSON or a reason.
// For a read, 404 and 410 mean "no such resource": JSON null, as a CDS client would send.
asio::awaitable<json_result> fetch_json(call_ptr call, http_url const& first_url, bool is_read) {
    http_url const* url = &first_url;
    std::optional<http_url> redirected;
    for (int hop = 0;; ++hop) {
        auto answer = co_await get(call, *url);
        if (!answer) co_return fetch_error{answer.error()};
        auto const status = answer->status;
        if (status >= 300 && status < 400 && status != 304) {
            if (hop >= max_redirects)
                co_return fetch_error{"the FHIR server redirected too many times"};
            auto next = resolve_http_url(*url, answer->location, call->owner->options.url);
            if (answer->location.empty() || !next || !next->same_origin(call->base) ||
                !call->owner->allowlist.allows(*next)) {
                co_return fetch_error{
                    "the FHIR server redirected to another origin or outside the allowed FHIR "
                    "server; "
                    "the redirect was not followed"};
            }
            redirected = std::move(*next);
            url = &*redirected;
            continue;
        }
        if (status >= 200 && status < 300) co_return parse_fhir_json(*answer);
        if (is_read && (status == 404 || status == 410)) co_return json::value(nullptr);
        co_return fetch_error{status_reason(*answer, *call)};
    }
}

http_url query_url(http_url const& base, fhir_query const& query) {
    http_url url = base;
    auto const target = encoded_target(base.encoded_path, query);
    auto const question = target.find('?');
    url.encoded_path = target.substr(0, question);
    url.encoded_query = question == std::string::npos ? std::string() : target.substr(question + 1);
    url.path_segments.insert(url.path_segments.end(), query.path.begin(), query.path.end());
    return url;
}

std::string past_deadline(call_state const& call) {
    return "the FHIR server's answers could not be processed within the " +
           budget_text(call.budget);
}

std::string_view resource_type_of(json::value const& value) {
    if (!value.is_object()) return {};
    auto const* type = value.get_object().if_contains("resourceType");
    return type != nullptr && type->is_string() ? std::string_view(type->get_string())
                                                : std::string_view();
}

asio::awaitable<void> run_search(call_ptr call, http_url url, key_result& out) {
    int const max_pages = std::max(1, call->owner->options.max_pages);
    auto& builder = out.builder.emplace();
    for (int pages = 1;; ++pages) {
        auto body = co_await fetch_json(call, url, false);
        if (!body) {
            out.failure = std::move(body.error().reason);
            co_return;
        }
        // Parsing and merging large pages costs CPU time that the deadline bounds too.
        if (steady::now() >= call->deadline) {
            out.failure = past_deadline(*call);
            co_return;
        }
        auto page = read_search_page(std::move(*body));
        if (!page) {
            out.failure = page.error();
            co_return;
        }
        auto next = std::move(page->next_url);
        builder.add(std::move(*page));
        if (steady::now() >= call->deadline) {
            out.failure = past_deadline(*call);
            co_return;
        }
        if (!next) co_return;
        if (pages >= max_pages) {
            out.note = "the search for prefetch key '" + out.key + "' was cut at the limit of " +
                       std::to_string(max_pages) + " pages";
            co_return;
        }
        // Every next link is checked like fhirServer itself, and must stay on its origin so
        // that the token is never sent anywhere else.
        auto next_url = resolve_http_url(url, *next, call->owner->options.url);
        if (!next_url || !next_url->same_origin(call->base) ||
            !call->owner->allowlist.allows(*next_url)) {
            out.failure =
                "the FHIR server's next-page link leads outside the allowed FHIR server; it was "
                "not followed";
            co_return;
        }
        url = std::move(*next_url);
    }
}

asio::awaitable<key_result> run_query(call_ptr call, prefetch_query query, token_source tokens) {
    key_result out;
    out.key = query.key;
    try {
        auto resolved = resolve_prefetch_template(query.template_, tokens);
        if (!resolved) {
            out.failure = resolved.error();
            co_return out;
        }
        auto url = query_url(call->base, *resolved);
        if (resolved->is_search()) {
            co_await run_search(call, std::move(url), out);
            co_return out;
        }
        auto body = co_await fetch_json(call, std::move(url), true);
        if (!body) {
            out.failure = std::move(body.error().reason);
        } else if (body->is_null()) {
            out.result = std::move(*body);
        } else if (auto const type = resource_type_of(*body); type == "OperationOutcome") {
            auto const text = outcome_text(body->get_object());
            out.failure = "the FHIR server answered with an OperationOutcome" +
                          (text.empty() ? "" : ": " + text);
        } else if (type != resolved->resource_type()) {
            out.failure = "the FHIR server answered a read of a " + resolved->resource_type() +
                          " with " +
                          (type.empty() ? std::string("something that is not a FHIR resource")
                                        : "a " + sanitized(type));
        } else {
            out.result = std::move(*body);
        }
    } catch (std::exception const&) {
        out.failure = "internal error while fetching from the FHIR server";
    }
    co_return out;
}

// Runs every task concurrently on the current (strand) executor and returns their results
// in the order given. Each task is bounded by the call's deadline on its own.
template <class T>
asio::awaitable<std::vector<T>> run_all(std::vector<asio::awaitable<T>> tasks) {
    if (tasks.empty()) co_return std::vector<T>{};
    auto executor = co_await asio::this_coro::executor;
    using operation =
        decltype(asio::co_spawn(executor, std::declval<asio::awaitable<T>>(), asio::deferred));
    std::vector<operation> operations;
    operations.reserve(tasks.size());
    for (auto& task : tasks)
        operations.push_back(asio::co_spawn(executor, std::move(task), asio::deferred));
    auto [order, exceptions, results] =
        co_await asio::experimental::make_parallel_group(std::move(operations))
            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    co_return std::move(results);
}

asio::awaitable<medication_read> read_medication(call_ptr call, std::string reference) {
    medication_read out;
    out.reference = reference;
    try {
        fhir_query query;
        auto const slash = reference.find('/');
        query.path = {reference.substr(0, slash), reference.substr(slash + 1)};
        auto body = co_await fetch_json(call, query_url(call->base, query), true);
        if (!body) {
            out.failure = std::move(body.error().reason);
        } else if (body->is_null()) {
            out.failure = "it does not exist on the FHIR server";
        } else if (resource_type_of(*body) != "Medication") {
            out.failure = "the FHIR server did not answer with a Medication";
        } else {
            out.resource = std::move(body->get_object());
        }
    } catch (std::exception const&) {
        out.failure = "internal error while fetching from the FHIR server";
    }
    co_return out;
}

// Ids per `Medication?_id=` search: FHIR ids have at most 64 characters, so the request
// target stays below 4 KB, well inside the 8 KB request line that common servers and proxies
// accept (Tomcat, nginx).
constexpr std::size_t medication_ids_per_search = 50;

std::string_view id_of(std::string_view reference) {
    return reference.substr(reference.find('/') + 1);
}

// The Medications of `references` ("Medication/id") by one search, `Medication?_id=a,b,c`
// (FHIR R4 3.1.1.5.x: a comma means "or"), instead of a read each. Those the search cannot
// settle (it failed, or its answer has further pages) are read one by one; those missing
// from a complete answer do not exist.
asio::awaitable<std::vector<medication_read>> read_medication_batch(
    call_ptr call, std::vector<std::string> references) {
    std::vector<medication_read> out;
    std::vector<std::string> unsettled;
    if (references.size() == 1) {
        unsettled = std::move(references);
    } else {
        fhir_query query;
        query.path = {"Medication"};
        std::string ids;
        for (auto const& reference : references) {
            if (!ids.empty()) ids += ',';
            ids += id_of(reference);
        }
        query.params = {{"_id", std::move(ids)}, {"_count", std::to_string(references.size())}};
        std::optional<search_page> page;
        try {
            auto body = co_await fetch_json(call, query_url(call->base, query), false);
            if (body) {
                if (auto read = read_search_page(std::move(*body))) page = std::move(*read);
            }
        } catch (std::exception const&) {
        }
        std::map<std::string, json::object, std::less<>> found;
        if (page) {
            for (auto& entry : page->entries) {
                auto* resource = entry.get_object().if_contains("resource");
                if (resource == nullptr || resource_type_of(*resource) != "Medication") continue;
                auto const* id = resource->get_object().if_contains("id");
                if (id != nullptr && id->is_string())
                    found.emplace(std::string(id->get_string()), std::move(resource->get_object()));
            }
        }
        bool const complete = page && !page->next_url;
        for (auto& reference : references) {
            if (auto const it = found.find(id_of(reference)); it != found.end()) {
                out.push_back({std::move(reference), std::move(it->second), {}});
            } else if (complete) {
                out.push_back(
                    {std::move(reference), std::nullopt, "it does not exist on the FHIR server"});
            } else {
                unsettled.push_back(std::move(reference));
            }
        }
    }
    std::vector<asio::awaitable<medication_read>> reads;
    for (auto& reference : unsettled) reads.push_back(read_medication(call, std::move(reference)));
    for (auto& read : co_await run_all(std::move(reads))) out.push_back(std::move(read));
    co_return out;
}

// Reads the Medications of `references`, in batches, all batches at once (the per-origin
// limiter bounds the connections).
asio::awaitable<std::map<std::string, medication_read>> read_medications(
    call_ptr call, std::vector<std::string> const& references) {
    std::vector<asio::awaitable<std::vector<medication_read>>> batches;
    for (std::size_t at = 0; at < references.size(); at += medication_ids_per_search) {
        auto const end = std::min(references.size(), at + medication_ids_per_search);
        batches.push_back(read_medication_batch(
            call, std::vector<std::string>(references.begin() + static_cast<std::ptrdiff_t>(at),
                                           references.begin() + static_cast<std::ptrdiff_t>(end))));
    }
    std::map<std::string, medication_read> medications;
    for (auto& batch : co_await run_all(std::move(batches))) {
        for (auto& read : batch) {
            auto reference = read.reference;
            medications.emplace(std::move(reference), std::move(read));
        }
    }
    co_return medications;
}

// "3000 medications named by fetched medication orders were not read (Medication/a, ...)":
// the references past `cap`, the first few by name.
std::string not_read_note(std::vector<std::string> const& references, std::size_t cap) {
    constexpr std::size_t named = 3;
    std::size_t const count = references.size() - cap;
    std::string note = std::to_string(count) + (count == 1 ? " medication" : " medications") +
                       " named by fetched medication orders could not be read: the limit is " +
                       std::to_string(cap) + " Medication reads per call (";
    for (std::size_t i = cap; i < std::min(references.size(), cap + named); ++i) {
        if (i > cap) note += ", ";
        note += references[i];
    }
    if (count > named) note += " and " + std::to_string(count - named) + " more";
    return note + ")";
}

// Where and with what credentials a call fetches, or why it cannot fetch at all (`refusal`).
struct fetch_target {
    std::string refusal;
    std::optional<http_url> base;
    std::string authorization;
};

fetch_target target_of(http_fhir_fetcher::impl const& owner, fetch_request const& request) {
    fetch_target target;
    if (owner.allowlist.empty()) {
        target.refusal =
            "fetching from the FHIR server is not enabled on this service (no --fhir-allow)";
        return target;
    }
    if (request.fhir_server.empty()) {
        target.refusal = "the request has no fhirServer to fetch from";
        return target;
    }
    auto base = parse_http_url(request.fhir_server, owner.options.url);
    if (!base || !base->encoded_query.empty()) {
        target.refusal = "fhirServer is not a usable http(s) base URL" +
                         (base ? std::string() : ": " + base.error());
        return target;
    }
    if (!owner.allowlist.allows(*base)) {
        target.refusal =
            "fhirServer not allowed: it is not on this service's --fhir-allow list, so it was not "
            "contacted";
        return target;
    }
    // fhirAuthorization is optional (the public sandbox sends fhirServer alone): no token, no
    // Authorization header.
    if (request.access_token && !request.access_token->empty()) {
        std::string const type =
            request.token_type && !request.token_type->empty() ? *request.token_type : "Bearer";
        if (!header_value_is_safe(*request.access_token) || !header_value_is_safe(type)) {
            target.refusal =
                "fhirAuthorization holds characters that cannot be sent in an HTTP header";
            return target;
        }
        target.authorization = type + " " + *request.access_token;
    }
    target.base = std::move(*base);
    return target;
}

// Every query of the request, concurrently; a task that ended by an exception (never
// expected) counts as a failed key.
asio::awaitable<std::vector<key_result>> run_queries(call_ptr call, fetch_request const& request) {
    token_source tokens;
    tokens.context = &request.context;
    tokens.user_practitioner_id = request.user_practitioner_id;
    std::vector<asio::awaitable<key_result>> queries;
    for (auto const& query : request.queries) queries.push_back(run_query(call, query, tokens));
    auto results = co_await run_all(std::move(queries));
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (results[i].key.empty()) {
            results[i].key = request.queries[i].key;
            results[i].failure = "internal error while fetching from the FHIR server";
        }
    }
    co_return results;
}

struct included_medications {
    std::map<std::string, std::vector<std::string>> needed_by;  // key -> references
    std::map<std::string, medication_read> reads;               // reference -> its read
};

// Medications named by reference but not included: read each once (up to the cap), to be
// added to every Bundle that needs it; what could not be read is noted in `outcome`.
asio::awaitable<included_medications> read_included_medications(
    call_ptr call, std::vector<key_result> const& results, fetch_outcome& outcome) {
    included_medications included;
    std::vector<std::string> references;
    std::unordered_set<std::string> referenced;
    for (auto const& result : results) {
        if (!result.builder || !result.failure.empty()) continue;
        auto missing = missing_medication_references(result.builder->bundle(), call->base);
        for (auto const& reference : missing) {
            if (referenced.insert(reference).second) references.push_back(reference);
        }
        if (!missing.empty()) included.needed_by[result.key] = std::move(missing);
    }
    // Beyond the cap the Medications are not read, and the gap is named like an unreadable one.
    std::size_t const cap = call->owner->options.max_medication_reads;
    if (references.size() > cap) {
        outcome.notes.push_back(not_read_note(references, cap));
        references.resize(cap);
    }
    included.reads = co_await read_medications(call, references);
    for (auto const& [reference, read] : included.reads) {
        if (!read.resource) {
            outcome.notes.push_back(
                "the medication " + reference +
                " named by a fetched medication order could not be read: " + read.failure);
        }
    }
    co_return included;
}

// Each key's result (a search Bundle with the Medications it needs) or failure into `outcome`.
void collect_results(std::vector<key_result>& results,
                     included_medications& medications,
                     fetch_outcome& outcome) {
    for (auto& result : results) {
        if (!result.note.empty()) outcome.notes.push_back(result.note);
        if (!result.failure.empty()) {
            spdlog::debug("prefetch key '{}' could not be fetched from the FHIR server",
                          result.key);
            outcome.failures[result.key] = std::move(result.failure);
            continue;
        }
        if (result.builder) {
            for (auto const& reference : medications.needed_by[result.key]) {
                if (auto const it = medications.reads.find(reference);
                    it != medications.reads.end() && it->second.resource) {
                    result.builder->add_included(*it->second.resource);
                }
            }
            outcome.results[result.key] = result.builder->take();
        } else if (result.result) {
            outcome.results[result.key] = std::move(*result.result);
        } else {
            outcome.failures[result.key] = "internal error while fetching from the FHIR server";
        }
    }
}

asio::awaitable<fetch_outcome> run_fetch(std::shared_ptr<http_fhir_fetcher::impl> owner,
                                         fetch_request request) {
    fetch_outcome outcome;
    if (request.queries.empty()) co_return outcome;

    auto const start = steady::now();
    auto const deadline = request.deadline == steady::time_point{} ? start + owner->options.deadline
                                                                   : request.deadline;
    auto target = target_of(*owner, request);
    if (!target.refusal.empty()) {
        for (auto const& query : request.queries) outcome.failures[query.key] = target.refusal;
        co_return outcome;
    }
    auto const budget = request.budget > milliseconds::zero()
                            ? request.budget
                            : std::chrono::ceil<milliseconds>(deadline - start);
    auto call = std::make_shared<call_state const>(
        call_state{owner, *owner, std::move(*target.base), std::move(target.authorization),
                   deadline, budget, request.traceparent.value_or(std::string{})});

    auto results = co_await run_queries(call, request);
    auto medications = co_await read_included_medications(call, results, outcome);
    collect_results(results, medications, outcome);
    // Texts quote what the server said (an OperationOutcome's diagnostics); a server that
    // echoes the Authorization header there must not make the token reach the client.
    if (request.access_token) {
        for (auto& [key, reason] : outcome.failures) redact(reason, *request.access_token);
        for (auto& note : outcome.notes) redact(note, *request.access_token);
    }
    spdlog::debug("fetched {} of {} prefetch keys from the FHIR server in {} ms",
                  outcome.results.size(), request.queries.size(),
                  std::chrono::duration_cast<milliseconds>(steady::now() - start).count());
    co_return outcome;
}

}  // namespace

http_fhir_fetcher::http_fhir_fetcher(fhir_client_options options)
    : impl_(std::make_shared<impl>()) {
    auto allowlist = fhir_allowlist::from(options.allow, options.url);
    if (!allowlist) throw std::invalid_argument(allowlist.error());
    if (options.deadline <= milliseconds::zero())
        throw std::invalid_argument("--fhir-deadline must be positive");
    if (options.max_pages < 1) throw std::invalid_argument("--fhir-max-pages must be at least 1");
    if (options.max_response_bytes == 0)
        throw std::invalid_argument("the FHIR response size limit must be positive");
    if (options.max_connections_per_origin == 0)
        throw std::invalid_argument("--fhir-max-connections-per-origin must be at least 1");
    impl_->allowlist = std::move(*allowlist);
    impl_->limiter = std::make_unique<origin_limiter>(options.max_connections_per_origin);

    auto& tls = impl_->tls;
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                    ssl::context::no_compression);
    tls.set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    tls.set_default_verify_paths(ec);
    if (ec) throw std::invalid_argument("cannot load the system CA certificates: " + ec.message());
    if (!options.extra_ca_file.empty()) {
        std::ifstream probe(options.extra_ca_file);
        if (!probe)
            throw std::invalid_argument("--fhir-ca-file " + options.extra_ca_file +
                                        ": cannot be read");
        tls.load_verify_file(options.extra_ca_file, ec);
        if (ec) {
            throw std::invalid_argument("--fhir-ca-file " + options.extra_ca_file +
                                        ": not a PEM CA certificate (" + ec.message() + ")");
        }
    }
    static std::atomic<std::uint64_t> instances{0};
    impl_->pool_suffix = "#" + std::to_string(instances.fetch_add(1));
    impl_->options = std::move(options);
}

http_fhir_fetcher::~http_fhir_fetcher() = default;

fhir_client_options const& http_fhir_fetcher::options() const { return impl_->options; }

std::uint64_t http_fhir_fetcher::connections_opened() const {
    return impl_->connections_opened.load(std::memory_order_relaxed);
}

asio::awaitable<fetch_outcome> http_fhir_fetcher::fetch(fetch_request request) {
    // All of one call's queries share a strand, so their results need no locks; the call
    // holds the implementation alive even if the fetcher goes away meanwhile.
    auto strand = asio::make_strand(co_await asio::this_coro::executor);
    co_return co_await asio::co_spawn(strand, run_fetch(impl_, std::move(request)),
                                      asio::use_awaitable);
}

}  // namespace cds::service::fhir_client
