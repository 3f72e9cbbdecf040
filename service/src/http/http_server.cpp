// The only translation unit that compiles the server's Boost.Beast code: listener -> session
// -> the request head's checks (request_head.hpp) -> admit_request (route, authentication) ->
// the body, within the server-wide body budget -> respond_to_admitted (STYLE.md practices 7,
// 8, 10, 11). One coroutine per connection, run on
// its strand or on one thread's io_context (io_model); error codes through every I/O step
// (as_tuple), never exceptions; a last-resort catch around the handler answers a generic 500.
//
// The session is a template over the stream (plain TCP or TLS over TCP), instantiated twice
// here and nowhere else. Every wait is bounded: the TLS handshake and the lingering close by
// the transport's own timeout (which closes the socket); the idle keep-alive wait, the reading
// of one request and the writing of one response by the connection's watchdog (which closes
// an idle connection, answers 408, or resets a client that does not take its response).
//
// The per-request path is kept short: Beast's parser is fed from the connection's
// buffer directly, the response head is serialized once into a reused string and written with
// the body in one gather write, and deadlines are time points checked by one timer per
// connection.

#include "cds/service/http/http_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "cds/service/http/body_budget.hpp"
#include "cds/service/http/connection_spread.hpp"
#include "cds/service/http/request_head.hpp"
#include "cds/service/http/router.hpp"
#include "cds/service/http/trace_context.hpp"
#include "cds/service/ops/log_format.hpp"
#include "request_body.hpp"

namespace cds::service {

namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t read_chunk = 8192;
// A body of announced length is read in pieces of up to this: a 67 KB order-sign body in two
// reads instead of nine of read_chunk (each read is a system call). The connection's buffer
// grows to it only while a body is read, and by no more than what is left of the body, which
// the body budget has already reserved: beyond their read_chunk, these buffers together stay
// within the budget.
constexpr std::size_t body_read_chunk = 64 * 1024;

using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;
template <class Stream>
inline constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

// Mozilla's "intermediate" server profile (TLS 1.2 part): ECDHE key exchange for forward
// secrecy, AEAD ciphers only; no CBC, RSA key exchange, 3DES, RC4 or export suites.
constexpr char const* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr char const* tls13_suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr char const* tls_groups = "X25519:P-256:P-384";

void require_readable(std::string const& path, char const* what, char const* flag) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(std::string{"cannot read the TLS "} + what + " file '" + path +
                                 "' (" + flag + "): " + std::strerror(errno));
    }
}

std::unique_ptr<ssl::context> make_tls_context(tls_options const& tls) {
    if (tls.certificate_chain_file.empty() || tls.private_key_file.empty()) {
        throw std::runtime_error("HTTPS needs both --tls-cert and --tls-key");
    }
    require_readable(tls.certificate_chain_file, "certificate", "--tls-cert");
    require_readable(tls.private_key_file, "key", "--tls-key");

    auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                         ssl::context::single_dh_use);
    SSL_CTX* native = context->native_handle();
    // Renegotiation has been a source of attacks (CVE-2009-3555, CVE-2011-1473 CPU
    // exhaustion); TLS 1.3 has none, and nothing here needs it in TLS 1.2.
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(native, tls12_ciphers) != 1 ||
        SSL_CTX_set_ciphersuites(native, tls13_suites) != 1 ||
        SSL_CTX_set1_groups_list(native, tls_groups) != 1) {
        throw std::runtime_error(
            "this OpenSSL does not support the TLS configuration (TLS 1.2+, ECDHE, AES-GCM)");
    }
    // An encrypted key would make OpenSSL prompt on the terminal of a service; refuse it instead.
    context->set_password_callback(
        [](std::size_t, ssl::context::password_purpose) { return std::string{}; });

    beast::error_code ec;
    context->use_certificate_chain_file(tls.certificate_chain_file, ec);
    if (ec) {
        throw std::runtime_error(
            "the TLS certificate file '" + tls.certificate_chain_file +
            "' (--tls-cert) holds no usable PEM certificate chain: " + ec.message());
    }
    context->use_private_key_file(tls.private_key_file, ssl::context::pem, ec);
    if (ec) {
        throw std::runtime_error(
            "the TLS key file '" + tls.private_key_file +
            "' (--tls-key) holds no usable unencrypted PEM private key: " + ec.message());
    }
    if (SSL_CTX_check_private_key(native) != 1) {
        ERR_clear_error();
        throw std::runtime_error("the TLS key '" + tls.private_key_file +
                                 "' does not belong to the certificate '" +
                                 tls.certificate_chain_file + "'");
    }
    return context;
}

// A plain-HTTP request sent to the HTTPS port: OpenSSL recognises it during the handshake.
bool is_plain_http_request(beast::error_code const& ec) {
    return ec.category() == net::error::get_ssl_category() &&
           ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST;
}

// What the connection's watchdog is guarding.
enum class deadline_kind {
    none,
    idle,            // waiting for the next request on a keep-alive connection: close
    read_request,    // reading one request's header and body: answer 408
    write_response,  // writing one response: reset
};

using steady_clock = std::chrono::steady_clock;

// The parts of a connection that the watchdog and the shutdown path use, whatever the stream.
// Touched only on the connection's executor (its strand, or one thread's io_context): the
// session coroutine runs there, the watchdog's handler runs there and the shutdown path posts
// there.
//
// Deadlines cost one steady_clock read per arming: arm() stores a time point, and a single
// timer per connection (the watchdog) checks it. Arming and cancelling an Asio timer for every
// phase of every request (three per keep-alive request) took a lock on the reactor's timer
// queue and often a timerfd_settime(2) each time. The watchdog's expiry is never later than
// the armed deadline: each time it fires it is set to min(deadline, now + period), and
// `period` is the shortest timeout, so whatever is armed after that point expires no earlier.
struct connection_base : std::enable_shared_from_this<connection_base> {
    explicit connection_base(net::any_io_executor const& executor) : watchdog(executor) {}
    connection_base(connection_base const&) = delete;
    connection_base& operator=(connection_base const&) = delete;
    virtual ~connection_base() = default;
    [[nodiscard]] virtual beast::tcp_stream& transport() = 0;

    void arm(deadline_kind kind, std::chrono::milliseconds timeout) {
        arm_until(kind, steady_clock::now() + timeout);
    }
    // A deadline that has already passed expires at the watchdog's next check (within `period`).
    void arm_until(deadline_kind kind, steady_clock::time_point until) {
        armed = kind;
        deadline = until;
        if (kind == deadline_kind::read_request) request_timed_out = false;
        if (kind == deadline_kind::write_response) write_timed_out = false;
    }
    void disarm() { armed = deadline_kind::none; }

    // The armed deadline has passed. Unlike tcp_stream's own timeout, which closes the socket,
    // a late request only cancels the read, so that the client can still be told 408; a late
    // write resets the connection (a client that does not read gets no more of our buffers).
    void expire() {
        deadline_kind const kind = std::exchange(armed, deadline_kind::none);
        beast::error_code ignored;
        switch (kind) {
            case deadline_kind::idle:
                transport().cancel();  // the session sees the read fail and closes
                break;
            case deadline_kind::read_request:
                request_timed_out = true;
                transport().cancel();
                break;
            case deadline_kind::write_response:
                write_timed_out = true;
                // A reset rather than a FIN: the kernel drops what the client never read instead
                // of holding it for a client that may never read.
                transport().socket().set_option(net::socket_base::linger(true, 0), ignored);
                transport().close();
                break;
            case deadline_kind::none:
                break;
        }
    }

    net::steady_timer watchdog;
    steady_clock::duration watchdog_period{};
    bool watchdog_stopped = false;
    deadline_kind armed = deadline_kind::none;
    steady_clock::time_point deadline{};  // meaningful while armed != none
    bool request_timed_out = false;
    bool write_timed_out = false;
    bool idle = false;  // waiting for the next request: shutdown may close it at once
};

template <class Stream>
struct connection final : connection_base {
    template <class... Extra>
    explicit connection(tcp::socket socket, Extra&... extra)
        : connection_base(socket.get_executor()), stream(std::move(socket), extra...) {}
    [[nodiscard]] beast::tcp_stream& transport() override {
        return beast::get_lowest_layer(stream);
    }
    Stream stream;
};

void schedule_watchdog(std::shared_ptr<connection_base> conn, steady_clock::time_point at) {
    auto& timer = conn->watchdog;
    timer.expires_at(at);
    // The handler holds the connection until stop_watchdog cancels it.
    timer.async_wait([conn = std::move(conn)](beast::error_code const& ec) mutable {
        if (ec || conn->watchdog_stopped) return;
        auto const now = steady_clock::now();
        if (conn->armed != deadline_kind::none && now >= conn->deadline) conn->expire();
        auto next = now + conn->watchdog_period;
        if (conn->armed != deadline_kind::none) next = std::min(next, conn->deadline);
        schedule_watchdog(std::move(conn), next);
    });
}

void start_watchdog(connection_base& conn, steady_clock::duration period) {
    conn.watchdog_period = period;
    schedule_watchdog(conn.shared_from_this(), steady_clock::now() + period);
}

// Ends the watchdog when the session ends, also when it ends by an exception.
struct watchdog_stopper {
    explicit watchdog_stopper(connection_base& stopped) : conn(stopped) {}
    watchdog_stopper(watchdog_stopper const&) = delete;
    watchdog_stopper& operator=(watchdog_stopper const&) = delete;
    ~watchdog_stopper() {
        conn.watchdog_stopped = true;
        conn.disarm();
        conn.watchdog.cancel();
    }
    connection_base& conn;
};

// One line per request: method, route template, status, duration, service id, card count,
// hook, rule ids and the caller's trace id (the JSON format also has the request id, see
// log_format.hpp). Never the raw path, a header, the body, a token or anything about the
// patient. Assembled in a stack buffer with plain appends (no format-string parsing) and
// skipped entirely below the info level.
void log_request(std::string_view method,
                 http_response const& response,
                 steady_clock::duration took,
                 std::string_view request_id = {},
                 std::string_view trace_id = {}) {
    auto* const logger = spdlog::default_logger_raw();
    if (!logger->should_log(spdlog::level::info)) return;
    fmt::memory_buffer line;
    auto const append = [&](std::string_view text) {
        line.append(text.data(), text.data() + text.size());
    };
    std::array<char, 24> number{};
    auto const append_number = [&](auto value, int width) {
        auto const end = std::to_chars(number.data(), number.data() + number.size(), value).ptr;
        for (auto digits = end - number.data(); digits < width; ++digits) line.push_back('0');
        append(std::string_view{number.data(), static_cast<std::size_t>(end - number.data())});
    };
    // The method as sent, at most 16 characters, anything unprintable shown as '?'.
    for (char c : method.substr(0, 16)) line.push_back((c > 0x20 && c < 0x7f) ? c : '?');
    line.push_back(' ');
    append(response.log.route);
    line.push_back(' ');
    append_number(response.status, 0);
    line.push_back(' ');
    // Milliseconds with three decimals, rounded to the microsecond.
    auto const micros =
        std::chrono::duration_cast<std::chrono::microseconds>(took + std::chrono::nanoseconds{500})
            .count();
    append_number(micros / 1000, 0);
    line.push_back('.');
    append_number(micros % 1000, 3);
    append("ms");
    if (!response.log.service_id.empty()) {
        append(" service=");
        append(response.log.service_id);
    }
    if (response.log.card_count >= 0) {
        append(" cards=");
        append_number(response.log.card_count, 0);
    }
    if (!response.log.hook.empty()) {
        append(" hook=");
        append(response.log.hook);
    }
    for (std::size_t i = 0; i < response.log.rule_ids.size(); ++i) {
        append(i == 0 ? " rules=" : ",");
        append(response.log.rule_ids[i]);
    }
    if (!trace_id.empty()) {
        append(" trace=");
        append(trace_id);
    }
    if (!response.log.note.empty()) {
        append(" (");
        append(response.log.note);
        line.push_back(')');
    }
    std::string_view const message{line.data(), line.size()};
    ops::access_record const record{message,
                                    request_id,
                                    method,
                                    response.log.route,
                                    response.status,
                                    static_cast<double>(micros) / 1000.0,
                                    response.log.service_id,
                                    response.log.hook,
                                    response.log.card_count,
                                    &response.log.rule_ids,
                                    trace_id};
    ops::access_record_scope const fields{record};
    logger->log(spdlog::level::info, spdlog::string_view_t{message.data(), message.size()});
}

// The status line and header fields of a response, as Beast's serializer wrote them (the
// wire format is unchanged): Content-Type, the extra headers in order (a later header of the
// same name replaces an earlier one, as http::fields::set does), Connection as
// message::keep_alive sets it, Content-Length last (always, as prepare_payload does for a
// string body). `head` is reused from request to request.
void serialize_head(std::string& head,
                    http_response const& response,
                    unsigned version,
                    bool close) {
    using namespace std::string_view_literals;
    auto const replaced_later = [&](std::size_t index, std::string_view name) {
        for (std::size_t later = index; later < response.headers.size(); ++later) {
            if (iequals(response.headers[later].first, name)) return true;
        }
        return false;
    };
    auto const add_field = [&](std::string_view name, std::string_view value) {
        head.append(name).append(": "sv).append(value).append("\r\n"sv);
    };
    std::array<char, 24> number{};
    auto const digits = [&](auto value) {
        auto const end = std::to_chars(number.data(), number.data() + number.size(), value).ptr;
        return std::string_view{number.data(), static_cast<std::size_t>(end - number.data())};
    };
    head.clear();
    head.append("HTTP/"sv);
    head.push_back(static_cast<char>('0' + version / 10 % 10));
    head.push_back('.');
    head.push_back(static_cast<char>('0' + version % 10));
    head.push_back(' ');
    head.append(digits(response.status));
    head.push_back(' ');
    auto const reason = http::obsolete_reason(static_cast<http::status>(response.status));
    head.append(reason.data(), reason.size());
    head.append("\r\n"sv);
    if (!response.content_type.empty() && !replaced_later(0, "Content-Type")) {
        add_field("Content-Type"sv, response.content_type);
    }
    for (std::size_t i = 0; i < response.headers.size(); ++i) {
        auto const& [name, value] = response.headers[i];
        if (!replaced_later(i + 1, name)) add_field(name, value);
    }
    // HTTP/1.0 keeps a connection open only when asked to; HTTP/1.1 unless told to close.
    if (version < 11 && !close) add_field("Connection"sv, "keep-alive"sv);
    if (version >= 11 && close) add_field("Connection"sv, "close"sv);
    add_field("Content-Length"sv, digits(response.body.size()));
    head.append("\r\n"sv);
}

// Maps a read error to the answer the client gets, or nothing when the connection is simply
// gone (closed or reset by the client).
std::optional<errc> answer_for_read_error(beast::error_code const& ec) {
    if (ec == http::error::header_limit) return errc::headers_too_large;
    if (ec == http::error::body_limit) return errc::body_too_large;
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) return std::nullopt;
    if (ec.category() == http::make_error_code(http::error::bad_target).category())
        return errc::malformed_http;
    return std::nullopt;
}

std::string read_error_diagnostics(errc code, service_limits const& limits) {
    switch (code) {
        case errc::headers_too_large:
            return "the request line and headers exceed " +
                   std::to_string(limits.max_header_bytes) + " bytes";
        case errc::body_too_large:
            return "the request body exceeds " + std::to_string(limits.max_body_bytes) + " bytes";
        case errc::request_timeout:
            return "the request did not arrive within " +
                   std::to_string(limits.read_timeout.count()) + " ms";
        default:
            return "the request could not be parsed as HTTP/1.1";
    }
}

// Threading (server_options::io, `serve --io-model`): either one io_context per thread with
// the accept loop (on the first) handing each new connection to the thread with the fewest open
// ones (per_thread, the default; connection_spread.hpp), or one io_context run by every thread
// with a strand per connection (shared). Either way a connection's session, its watchdog and
// the shutdown path's posts run serialized on the connection's executor. Alternated on 2 cores
// with wrk beside them, per_thread spent 4-17 % less CPU per request in 8 of 9 benchmark cells
// (no strand, no wake-ups of the other thread) with the same p99 at 16 and 64 connections. Its
// cost: work on an I/O thread delays every connection of that thread (on the first, the
// acceptor and the signal handlers too), so nothing long may run there. A call with 500
// Observations takes about 1 ms, in proportion to its body (--max-body bounds it). A rule
// reload (about 10 ms) runs on a thread of its own, and a JWKS fetch, which can take seconds,
// on the authenticator's own threads (jwt_request_authenticator.hpp).
class server {
public:
    server(server_options const& options, std::shared_ptr<service_state const> state)
        : options_{options},
          state_{std::move(state)},
          tls_context_{options.tls ? make_tls_context(*options.tls) : nullptr},
          threads_{std::max(1U, options.threads)},
          per_thread_{options.io == io_model::per_thread},
          bodies_{state_->limits.body_budget_bytes},
          spread_{per_thread_ ? threads_ : 1},
          contexts_{make_contexts(threads_, per_thread_)},
          acceptor_{acceptor_executor()},
          // At least 1 ms, so that a sub-millisecond timeout cannot make the watchdog spin.
          watchdog_period_{
              std::max(std::chrono::milliseconds{1},
                       std::min({state_->limits.read_timeout, state_->limits.write_timeout,
                                 state_->limits.idle_timeout}))} {}

    int run(std::function<void(listen_address const&)> const& on_listening) {
        // The signals are caught before the address is announced: a signal sent as soon as
        // the service says it is listening must already get its handling, not the default.
        net::io_context& main_context = *contexts_.front();
        net::signal_set signals(main_context, SIGINT, SIGTERM);
        signals.async_wait([this](beast::error_code const& ec, int signal_number) {
            if (ec) return;
            spdlog::info("signal {}: no new connections; finishing requests in flight",
                         signal_number);
            begin_shutdown();
        });
        // Reloads run on the reloader's own thread, not on an I/O thread (rules_reload.hpp).
        rules_reloader reloader(options_.rules_reload, *state_);
        net::signal_set hangups(main_context, SIGHUP);
        reload_on_hangup(hangups, reloader);
        reloader.start_watching();

        listen();
        auto const bound = acceptor_.local_endpoint();
        // A thread whose context has no connection yet must keep running until drain() stops it.
        std::vector<net::executor_work_guard<net::io_context::executor_type>> keep_running;
        for (auto& context : contexts_) keep_running.push_back(net::make_work_guard(*context));
        std::vector<std::thread> pool = start_pool();

        // Announced only once every thread runs: scripts send signals as soon as they read
        // the address, and a signal that arrived while this thread was still creating threads
        // was lost under ThreadSanitizer's runtime (11 of 90 starts here). Connections
        // are accepted after the announcement, which may set the public base URL they use.
        on_listening(listen_address{bound.address().to_string(), bound.port()});
        net::co_spawn(acceptor_.get_executor(), accept_loop(), [](std::exception_ptr e) {
            if (e) spdlog::critical("the accept loop ended by an exception");
        });
        run_io(main_context);
        for (auto& t : pool) t.join();
        // Before the io_contexts go with this server: a check still on the authenticator's
        // pool resumes its request on one of them.
        if (state_->authenticator) state_->authenticator->finish_background_work();
        spdlog::info("stopped");
        return 0;
    }

private:
    // The I/O threads besides this one, each running its context until drain() stops it.
    std::vector<std::thread> start_pool() {
        std::vector<std::thread> pool;
        pool.reserve(threads_ - 1);
        for (unsigned i = 1; i < threads_; ++i) {
            net::io_context& context = *contexts_[per_thread_ ? i : 0];
            pool.emplace_back([&context] { run_io(context); });
        }
        return pool;
    }

    // SIGHUP ends a process by default, yet service managers and operators send it to mean
    // "reload": the rule file is read again (rules_reload.hpp) and the service keeps serving.
    static void reload_on_hangup(net::signal_set& hangups, rules_reloader& reloader) {
        hangups.async_wait([&hangups, &reloader](beast::error_code const& ec, int) {
            if (ec) return;
            reloader.on_hangup();
            reload_on_hangup(hangups, reloader);
        });
    }

    // per_thread: concurrency hint 1, each context is run by one thread (others only post to it).
    static std::vector<std::unique_ptr<net::io_context>> make_contexts(unsigned threads,
                                                                       bool per_thread) {
        std::vector<std::unique_ptr<net::io_context>> contexts;
        if (per_thread) {
            for (unsigned i = 0; i < threads; ++i)
                contexts.push_back(std::make_unique<net::io_context>(1));
        } else {
            contexts.push_back(std::make_unique<net::io_context>(static_cast<int>(threads)));
        }
        return contexts;
    }

    net::any_io_executor acceptor_executor() {
        if (!per_thread_) return net::make_strand(*contexts_.front());
        return contexts_.front()->get_executor();
    }

    // The context for the next accepted connection (connection_spread.hpp). Called only by
    // the accept loop.
    std::size_t next_context() { return per_thread_ ? spread_.next() : 0; }

    net::any_io_executor connection_executor(std::size_t context) {
        if (!per_thread_) return net::make_strand(*contexts_.front());
        return contexts_[context]->get_executor();
    }

    void listen() {
        beast::error_code ec;
        tcp::resolver resolver(*contexts_.front());
        auto const endpoints =
            resolver.resolve(options_.listen.host, std::to_string(options_.listen.port),
                             tcp::resolver::numeric_service, ec);
        if (ec || endpoints.empty()) {
            throw std::runtime_error("cannot resolve listen host '" + options_.listen.host +
                                     "': " + ec.message());
        }
        tcp::endpoint const endpoint = *endpoints.begin();
        auto check = [&](char const* what) {
            if (ec) {
                throw std::runtime_error(std::string{"cannot listen on "} + options_.listen.host +
                                         ":" + std::to_string(options_.listen.port) + " (" + what +
                                         "): " + ec.message());
            }
        };
        acceptor_.open(endpoint.protocol(), ec);
        check("open");
        acceptor_.set_option(net::socket_base::reuse_address(true), ec);
        check("reuse_address");
        acceptor_.bind(endpoint, ec);
        check("bind");
        acceptor_.listen(net::socket_base::max_listen_connections, ec);
        check("listen");
    }

    static void run_io(net::io_context& context) {
        // A handler that throws is a bug; it is logged and the thread keeps serving.
        for (;;) {
            try {
                context.run();
                return;
            } catch (std::exception const& e) {
                spdlog::error("unexpected exception in the I/O loop: {}", e.what());
            } catch (...) {
                spdlog::error("unexpected exception in the I/O loop");
            }
        }
    }

    template <class Stream>
    std::shared_ptr<connection<Stream>> make_connection(tcp::socket socket) {
        if constexpr (is_tls<Stream>) {
            return std::make_shared<connection<Stream>>(std::move(socket), *tls_context_);
        } else {
            return std::make_shared<connection<Stream>>(std::move(socket));
        }
    }

    net::awaitable<void> accept_loop() {
        for (;;) {
            std::size_t const context = next_context();
            tcp::socket socket(connection_executor(context));
            auto [ec] = co_await acceptor_.async_accept(socket, use_tuple);
            if (stopping_.load() || !acceptor_.is_open()) co_return;
            if (ec) {
                if (ec == net::error::operation_aborted) co_return;
                // Out of file descriptors and the like: back off rather than spin.
                spdlog::warn("accept failed: {}", ec.message());
                net::steady_timer pause(acceptor_.get_executor(), 50ms);
                co_await pause.async_wait(use_tuple);
                continue;
            }
            if (tls_context_) {
                admit<tls_stream>(std::move(socket), context);
            } else {
                admit<plain_stream>(std::move(socket), context);
            }
        }
    }

    template <class Stream>
    void admit(tcp::socket socket, std::size_t context) {
        if (active_.load() >= state_->limits.max_connections) {
            // Answer 503 while that is cheap; beyond twice the limit, just close.
            if (rejecting_.load() < state_->limits.max_connections) {
                ++rejecting_;
                auto conn = make_connection<Stream>(std::move(socket));
                auto executor = conn->transport().get_executor();
                net::co_spawn(executor, reject_busy(std::move(conn)),
                              [this](std::exception_ptr) { --rejecting_; });
            }
            return;
        }
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        ++active_;
        auto conn = make_connection<Stream>(std::move(socket));
        std::uint64_t const id = ++next_connection_id_;
        {
            std::lock_guard lock(connections_mutex_);
            connections_.emplace(id, conn);
        }
        auto executor = conn->transport().get_executor();
        spread_.opened(context);
        net::co_spawn(executor, session(std::move(conn)),
                      [this, id, context](std::exception_ptr e) { session_ended(id, context, e); });
    }

    void session_ended(std::uint64_t id, std::size_t context, std::exception_ptr const& e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (std::exception const& ex) {
                spdlog::error("connection ended by an unexpected exception: {}", ex.what());
            } catch (...) {
                spdlog::error("connection ended by an unexpected exception");
            }
        }
        {
            std::lock_guard lock(connections_mutex_);
            connections_.erase(id);
        }
        spread_.closed(context);
        --active_;
    }

    // The TLS handshake, bounded by the handshake timeout. A client that speaks plain HTTP
    // to the HTTPS port is told so in plain HTTP (as nginx does) rather than left guessing.
    template <class Stream>
    net::awaitable<bool> handshake(std::shared_ptr<connection<Stream>> const& conn) {
        auto& transport = conn->transport();
        transport.expires_after(options_.tls->handshake_timeout);
        auto [ec] = co_await conn->stream.async_handshake(ssl::stream_base::server, use_tuple);
        transport.expires_never();
        if (!ec) co_return true;
        if (is_plain_http_request(ec)) {
            auto response =
                error_response(errc::malformed_http,
                               "this port serves HTTPS only; the request was sent as plain HTTP");
            apply_cors(response, {}, state_->cors);
            auto const started = steady_clock::now();
            std::string head;
            bool const written = co_await write(*conn, transport, head, response, 11, true);
            log_request("-", response, steady_clock::now() - started);
            if (written) co_await linger_close(*conn);
        } else {
            // Scanners and clients that offer only old protocols or ciphers end here; one line
            // each at debug level, never the bytes they sent.
            spdlog::debug("TLS handshake failed: {}", ec.message());
        }
        co_return false;
    }

    using request_parser = http::request_parser<appended_string_body>;

    // The request's header and body, each within its configured size limit.
    static void limit_request_size(request_parser& parser, service_limits const& limits) {
        parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
            limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
        parser.body_limit(static_cast<std::uint64_t>(limits.max_body_bytes));
    }

    // What the next read asks for: the rest of a body of announced length up to
    // body_read_chunk, else what the buffer has room for (at least 512 bytes, Beast's rule).
    static std::size_t next_read_size(beast::flat_buffer const& buffer,
                                      request_parser const& parser) {
        std::size_t const room = beast::read_size(buffer, 65536);
        if (!parser.is_header_done()) return room;
        auto const remaining = parser.content_length_remaining();
        if (!remaining) return room;
        auto const body_part =
            static_cast<std::size_t>(std::min<std::uint64_t>(*remaining, body_read_chunk));
        return std::max(room, std::min(body_part, buffer.max_size() - buffer.size()));
    }

    // Parses what `buffer` holds into `parser`, reading more as needed, up to the end of the
    // header (`header_only`) or of the message, and returns the error Beast's
    // http::async_read_header / http::async_read would give (same loop, same end-of-stream
    // rules). Written out rather than through Beast's composed operations because those
    // complete through the scheduler even when the request is already buffered, as it is for
    // most keep-alive requests. Beast unfolds an obs-fold silently; `obs_fold`, when given, is
    // set when the header section had one (Beast takes the header fields in the one `put` that
    // completes the header, so they are all in the buffer then).
    // The read deadline's expiry cancels the read in progress; when the read had already
    // completed (its handler queued behind the watchdog's), the cancel finds nothing, so the
    // expiry is also checked after each read: otherwise the next read would wait with no
    // deadline armed, for as long as a slow client likes.
    template <class Stream>
    static net::awaitable<beast::error_code> read_message_part(connection_base const& conn,
                                                               Stream& stream,
                                                               beast::flat_buffer& buffer,
                                                               request_parser& parser,
                                                               bool header_only,
                                                               bool* obs_fold = nullptr) {
        parser.eager(!header_only);
        for (;;) {
            if (header_only ? parser.is_header_done() : parser.is_done())
                co_return beast::error_code{};
            if (buffer.size() > 0) {
                beast::error_code ec;
                auto const used = parser.put(buffer.data(), ec);
                if (obs_fold != nullptr && parser.is_header_done()) {
                    *obs_fold =
                        *obs_fold ||
                        has_obs_fold({static_cast<char const*>(buffer.data().data()), used});
                }
                buffer.consume(used);
                if (ec && ec != http::error::need_more) co_return ec;
                if (!ec && used > 0) continue;
            }
            auto [ec, n] = co_await stream.async_read_some(
                buffer.prepare(next_read_size(buffer, parser)), use_tuple);
            buffer.commit(n);
            if (conn.request_timed_out) co_return beast::error_code{net::error::operation_aborted};
            if (ec == net::error::eof) {
                if (!parser.got_some()) co_return beast::error_code{http::error::end_of_stream};
                beast::error_code eof_ec;
                parser.put_eof(eof_ec);
                co_return eof_ec;
            }
            if (ec) co_return ec;
        }
    }

    // Between requests: the idle keep-alive timeout applies, and shutdown may end it. False
    // when the connection ended before a next request began.
    template <class Stream>
    static net::awaitable<bool> await_next_request(connection<Stream>& conn,
                                                   beast::flat_buffer& buffer,
                                                   std::chrono::milliseconds idle_timeout) {
        conn.idle = true;
        conn.arm(deadline_kind::idle, idle_timeout);
        auto [ec, n] = co_await conn.stream.async_read_some(buffer.prepare(read_chunk), use_tuple);
        conn.disarm();
        conn.idle = false;
        if (ec) co_return false;
        buffer.commit(n);
        co_return true;
    }

    enum class after_request { next, stop };

    // One request on the connection: its header and body within read_timeout, each within its
    // size limit, then the answer written; stop when the connection is to be closed.
    template <class Stream>
    net::awaitable<after_request> serve_one_request(std::shared_ptr<connection<Stream>> const& conn,
                                                    beast::flat_buffer& buffer,
                                                    std::string& head) {
        auto& stream = conn->stream;
        auto const& limits = state_->limits;
        conn->arm(deadline_kind::read_request, limits.read_timeout);
        steady_clock::time_point const read_deadline = conn->deadline;
        request_parser parser;
        limit_request_size(parser, limits);
        bool obs_fold = false;
        beast::error_code const header_ec =
            co_await read_message_part(*conn, stream, buffer, parser, true, &obs_fold);
        conn->disarm();
        if (header_ec) {
            co_await answer_read_failure(conn, header_ec);
            co_return after_request::stop;
        }

        // The head decides what happens to the body: refused heads and refused
        // authentication are answered before it is read (and it is never read).
        http_request request = request_head(parser.get());
        request.request_id = new_span_id();
        std::optional<http_response> refused_head =
            obs_fold ? std::optional{obs_fold_refusal()}
                     : refuse_request_head(parser.get().version(), request.headers);
        if (refused_head) {
            co_await answer_and_close(conn, std::move(*refused_head));
            co_return after_request::stop;
        }
        std::string const method = request.method;
        std::string const request_id = request.request_id;
        // A malformed traceparent is ignored (W3C Trace Context section 4.3): not logged.
        auto const trace = traceparent_of(request);
        std::string const trace_id = trace ? trace->trace_id : std::string{};
        std::string const origin{request.header("Origin")};
        auto const started = steady_clock::now();
        request_admission admission = co_await admit(request, origin);
        bool const body_unread = admission.refusal.has_value() && !parser.is_done();
        body_reservation reservation{bodies_};
        if (!admission.refusal && !parser.is_done()) {
            if (!co_await read_body(conn, buffer, parser, reservation, read_deadline))
                co_return after_request::stop;
        }

        auto& message = parser.get();
        request.body = std::move(message.body());
        bool const keep_alive = message.keep_alive();
        unsigned const version = message.version();
        http_response response = co_await respond(std::move(request), std::move(admission), origin);
        bool const close = body_unread || !keep_alive || response.close || stopping_.load();
        bool const written = co_await write(*conn, stream, head, response, version, close);
        auto const took = steady_clock::now() - started;
        log_request(method, response, took, request_id, trace_id);
        if (state_->metrics) {
            state_->metrics->record_request(response.log.route, response.log.service_id,
                                            response.status, took);
        }
        if (!written) co_return after_request::stop;
        if (body_unread) {
            // What the client still sends of its body is discarded unread (RFC 9112 §9.6).
            co_await linger_close(*conn);
            co_return after_request::stop;
        }
        if (close) {
            co_await close_after_response(*conn);
            co_return after_request::stop;
        }
        co_return after_request::next;
    }

    template <class Stream>
    net::awaitable<void> session(std::shared_ptr<connection<Stream>> conn) {
        auto& transport = conn->transport();
        auto const& limits = state_->limits;
        start_watchdog(*conn, watchdog_period_);
        watchdog_stopper const stop_watchdog_at_end{*conn};
        if constexpr (is_tls<Stream>) {
            if (!co_await handshake(conn)) {
                beast::error_code ignored;
                transport.socket().close(ignored);
                co_return;
            }
        }
        beast::flat_buffer buffer;
        std::string head;  // the response's status line and header fields; its capacity is reused
        for (;;) {
            if (stopping_.load()) break;
            if (buffer.size() == 0 &&
                !co_await await_next_request(*conn, buffer, limits.idle_timeout))
                break;
            if (co_await serve_one_request(conn, buffer, head) == after_request::stop) break;
            // A body grew the buffer past read_chunk: an idle connection does not keep that.
            if (buffer.size() == 0 && buffer.capacity() > read_chunk) buffer.shrink_to_fit();
        }
        beast::error_code ignored;
        transport.socket().close(ignored);
    }

    // The method, target and header fields of a request whose header has been read. Trailer
    // fields of a chunked body are never added: authentication has decided on these.
    static http_request request_head(http::request_header<> const& message) {
        http_request request;
        request.method = std::string{message.method_string()};
        request.target = std::string{message.target()};
        request.headers.reserve(
            static_cast<std::size_t>(std::distance(message.begin(), message.end())));
        for (auto const& field : message) {
            request.headers.emplace_back(std::string{field.name_string()},
                                         std::string{field.value()});
        }
        request.received_at = std::chrono::time_point_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now());
        return request;
    }

    // Reads the body of an admitted request. Refused before reading (and the connection closed)
    // when its announced length is over the limit, or when the bodies in flight leave no room
    // for it within --body-wait (and its read deadline). Returns false when the connection is
    // done with (answered, or gone).
    template <class Stream>
    net::awaitable<bool> read_body(std::shared_ptr<connection<Stream>> const& conn,
                                   beast::flat_buffer& buffer,
                                   request_parser& parser,
                                   body_reservation& reservation,
                                   steady_clock::time_point deadline) {
        auto const& limits = state_->limits;
        auto const length = parser.content_length();
        if (length && *length > limits.max_body_bytes) {
            co_await answer_and_close(conn, errc::body_too_large,
                                      read_error_diagnostics(errc::body_too_large, limits));
            co_return false;
        }
        // A chunked body's size is known only once it is read: room for the largest is taken.
        bool const room = co_await reservation.take(
            static_cast<std::size_t>(length.value_or(limits.max_body_bytes)),
            std::min(deadline, steady_clock::now() + limits.body_wait));
        if (!room) {
            auto response = error_response(
                errc::bodies_over_budget,
                "the request bodies being read or handled left no room for this one "
                "in the service's budget of " +
                    std::to_string(limits.body_budget_bytes) +
                    " bytes while it could wait (at most " +
                    std::to_string(limits.body_wait.count()) + " ms); retry shortly");
            response.set_header("Retry-After", "1");
            co_await answer_and_close(conn, std::move(response));
            co_return false;
        }
        auto& stream = conn->stream;
        conn->arm_until(deadline_kind::read_request, deadline);
        if (iequals(parser.get()[http::field::expect], "100-continue")) {
            unsigned const v = parser.get().version();
            std::string const go_on =
                fmt::format("HTTP/{}.{} 100 Continue\r\n\r\n", v / 10 % 10, v % 10);
            conn->arm(deadline_kind::write_response, limits.write_timeout);
            auto [continue_ec, continue_n] =
                co_await net::async_write(stream, net::buffer(go_on), use_tuple);
            conn->arm(deadline_kind::read_request, limits.read_timeout);
            if (continue_ec) co_return false;
        }
        beast::error_code const ec =
            co_await read_message_part(*conn, stream, buffer, parser, false);
        conn->disarm();
        if (ec) {
            co_await answer_read_failure(conn, ec);
            co_return false;
        }
        co_return true;
    }

    // The router's decisions, each behind the last-resort catch (STYLE.md practice 12): a bug,
    // never the client's fault, and never its text in the response.
    net::awaitable<request_admission> admit(http_request const& head, std::string const& origin) {
        std::exception_ptr failure;
        try {
            co_return co_await admit_request(head, *state_);
        } catch (...) {
            failure = std::current_exception();
        }
        request_admission refused;
        refused.refusal = internal_error_answer(failure, origin);
        refused.refusal->close = true;
        co_return refused;
    }

    net::awaitable<http_response> respond(http_request request,
                                          request_admission admission,
                                          std::string const& origin) {
        std::exception_ptr failure;
        try {
            co_return co_await respond_to_admitted(std::move(request), std::move(admission),
                                                   *state_);
        } catch (...) {
            failure = std::current_exception();
        }
        co_return internal_error_answer(failure, origin);
    }

    // The message is kept out of the info log since it may quote data.
    http_response internal_error_answer(std::exception_ptr const& failure,
                                        std::string const& origin) const {
        try {
            std::rethrow_exception(failure);
        } catch (std::exception const& e) {
            spdlog::debug("handler exception: {}", e.what());
        } catch (...) {
        }
        spdlog::error("internal error while handling a request");
        auto response =
            error_response(errc::internal_error, "the service failed to process the request");
        apply_cors(response, origin, state_->cors);
        return response;
    }

    template <class Stream>
    net::awaitable<void> answer_read_failure(std::shared_ptr<connection<Stream>> const& conn,
                                             beast::error_code const& ec) {
        if (auto answer = read_failure(*conn, ec)) {
            co_await answer_and_close(conn, *answer,
                                      read_error_diagnostics(*answer, state_->limits));
        }
    }

    // The answer for a failed read, or nothing when there is no one left to answer.
    static std::optional<errc> read_failure(connection_base const& conn,
                                            beast::error_code const& ec) {
        if (conn.request_timed_out) return errc::request_timeout;
        return answer_for_read_error(ec);
    }

    // Writes one response within the write timeout: the head serialized into `head` and the
    // body as it is, in one gather write. `stream` is conn's stream, or its transport when a
    // plain answer goes to the HTTPS port.
    template <class Stream>
    net::awaitable<bool> write(connection_base& conn,
                               Stream& stream,
                               std::string& head,
                               http_response& response,
                               unsigned version,
                               bool close) {
        serialize_head(head, response, version, close);
        std::array<net::const_buffer, 2> const buffers{net::buffer(head),
                                                       net::buffer(response.body)};
        auto const timeout = state_->limits.write_timeout;
        conn.arm(deadline_kind::write_response, timeout);
        auto [ec, n] = co_await net::async_write(stream, buffers, use_tuple);
        conn.disarm();
        if (conn.write_timed_out) {
            spdlog::warn(
                "{} {}: the client did not take the response within {} ms; connection reset",
                response.log.route, response.status, timeout.count());
        }
        co_return !ec;
    }

    // Answers an error found while reading, then closes without resetting: the client may
    // still be sending the body we refused, and a close with unread data would make its
    // kernel drop our answer (RFC 9112 §9.6).
    template <class Stream>
    net::awaitable<void> answer_and_close(std::shared_ptr<connection<Stream>> const& conn,
                                          errc code,
                                          std::string const& diagnostics) {
        co_await answer_and_close(conn, error_response(code, diagnostics));
    }

    template <class Stream>
    net::awaitable<void> answer_and_close(std::shared_ptr<connection<Stream>> const& conn,
                                          http_response response) {
        auto const started = steady_clock::now();
        apply_cors(response, {}, state_->cors);
        std::string head;
        bool const written = co_await write(*conn, conn->stream, head, response, 11, true);
        auto const took = steady_clock::now() - started;
        log_request("-", response, took);
        if (state_->metrics) state_->metrics->record_request("-", {}, response.status, took);
        if (written) co_await linger_close(*conn);
    }

    // Lingering close on the transport (below TLS: what still arrives is discarded unread).
    net::awaitable<void> linger_close(connection_base& conn) {
        auto& transport = conn.transport();
        beast::error_code ignored;
        transport.socket().shutdown(tcp::socket::shutdown_send, ignored);
        transport.expires_after(options_.linger_timeout);
        std::array<char, 16384> discard{};
        for (;;) {
            auto [ec, n] = co_await transport.async_read_some(net::buffer(discard), use_tuple);
            if (ec) break;
        }
        transport.socket().close(ignored);
    }

    // After a response sent with `Connection: close`. Over TLS a close_notify goes first
    // (RFC 8446 §6.1), so the client can tell the end from a truncation; waiting for the
    // client's own close_notify is bounded by the linger timeout.
    template <class Stream>
    net::awaitable<void> close_after_response(connection<Stream>& conn) {
        auto& transport = conn.transport();
        if constexpr (is_tls<Stream>) {
            transport.expires_after(options_.linger_timeout);
            co_await conn.stream.async_shutdown(use_tuple);  // any error: the socket closes anyway
            transport.expires_never();
        }
        beast::error_code ignored;
        transport.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    template <class Stream>
    net::awaitable<void> reject_busy(std::shared_ptr<connection<Stream>> conn) {
        start_watchdog(*conn, watchdog_period_);
        watchdog_stopper const stop_watchdog_at_end{*conn};
        if constexpr (is_tls<Stream>) {
            if (!co_await handshake(conn)) co_return;
        }
        auto response = error_response(errc::too_many_connections,
                                       "the service is at its limit of " +
                                           std::to_string(state_->limits.max_connections) +
                                           " concurrent connections; retry shortly");
        response.set_header("Retry-After", "1");
        apply_cors(response, {}, state_->cors);
        auto const started = steady_clock::now();
        std::string head;
        bool const written = co_await write(*conn, conn->stream, head, response, 11, true);
        log_request("-", response, steady_clock::now() - started);
        if (written) co_await linger_close(*conn);
    }

    void begin_shutdown() {
        if (stopping_.exchange(true)) return;
        net::post(acceptor_.get_executor(), [this] {
            beast::error_code ignored;
            acceptor_.close(ignored);
        });
        std::vector<std::shared_ptr<connection_base>> live;
        {
            std::lock_guard lock(connections_mutex_);
            for (auto const& [id, weak] : connections_) {
                if (auto c = weak.lock()) live.push_back(std::move(c));
            }
        }
        // Idle keep-alive connections close now; busy ones finish their response (sent with
        // Connection: close) and then close. stopping_ is set before these posts run, so a
        // session that goes idle afterwards sees it on its own executor.
        for (auto& c : live) {
            net::post(c->transport().get_executor(), [c] {
                if (c->idle) c->transport().cancel();
            });
        }
        net::co_spawn(*contexts_.front(), drain(), net::detached);
    }

    net::awaitable<void> drain() {
        auto const deadline = steady_clock::now() + options_.shutdown_timeout;
        net::steady_timer timer(co_await net::this_coro::executor);
        while (active_.load() > 0 && steady_clock::now() < deadline) {
            timer.expires_after(20ms);
            co_await timer.async_wait(use_tuple);
        }
        if (active_.load() > 0) {
            spdlog::warn("{} connections still busy after the shutdown timeout; stopping anyway",
                         active_.load());
        }
        // Stopping (rather than waiting for the io_contexts to run dry) also ends whatever
        // background work other components keep, such as pooled FHIR-client connections.
        for (auto& context : contexts_) context->stop();
    }

    server_options options_;
    std::shared_ptr<service_state const> state_;
    std::unique_ptr<ssl::context> tls_context_;  // null: plain HTTP
    unsigned threads_;
    bool per_thread_;
    // Request bodies held at once, across connections; declared before the io_contexts, so
    // that a session destroyed with them still finds it.
    body_budget bodies_;
    // Open connections per context (per_thread; the shared context counts them all).
    connection_spread spread_;
    std::vector<std::unique_ptr<net::io_context>> contexts_;  // one per thread, or one shared
    tcp::acceptor acceptor_;  // used only on its executor (a strand, or the first context)
    steady_clock::duration watchdog_period_;  // the shortest of the read, write and idle timeouts
    std::atomic<std::size_t> active_{0};      // sessions running
    std::atomic<std::size_t> rejecting_{0};   // 503 answers in progress
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> next_connection_id_{0};
    std::mutex connections_mutex_;  // guards connections_ (the shutdown path reads it)
    std::unordered_map<std::uint64_t, std::weak_ptr<connection_base>> connections_;
};

}  // namespace

void check_tls_files(tls_options const& tls) { (void)make_tls_context(tls); }

int run_server(server_options const& options,
               std::shared_ptr<service_state const> state,
               std::function<void(listen_address const&)> const& on_listening) {
    if (!state || !state->schemas) throw std::invalid_argument("run_server needs a service state");
    server s(options, std::move(state));
    return s.run(on_listening);
}

}  // namespace cds::service
