#include "postgres_connection.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

#include <poll.h>

namespace cds::service::postgres {

namespace {

std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

}  // namespace

std::string redacted_url(std::string const& url) {
    std::string out = url;
    // The user information's password (RFC 3986 section 3.2.1): "scheme://user:pw@host".
    auto const authority_start = out.find("://");
    if (authority_start != std::string::npos) {
        auto const start = authority_start + 3;
        auto const end = out.find_first_of("/?#", start);
        auto const at = out.rfind('@', end == std::string::npos ? out.size() : end);
        auto const colon = out.find(':', start);
        if (at != std::string::npos && at >= start && colon != std::string::npos && colon < at)
            out.replace(colon + 1, at - colon - 1, "(redacted)");
    }
    // libpq's `password` query parameter.
    for (auto at = out.find("password="); at != std::string::npos;
         at = out.find("password=", at + 1)) {
        auto const value = at + std::string_view{"password="}.size();
        auto const end = out.find('&', value);
        out.replace(value, (end == std::string::npos ? out.size() : end) - value, "(redacted)");
    }
    return out;
}

std::string result::text(int row, int column) const {
    if (is_null(row, column)) return {};
    return {PQgetvalue(result_.get(), row, column),
            static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
}

std::int64_t result::int64(int row, int column) const {
    if (is_null(row, column)) return 0;
    return std::stoll(PQgetvalue(result_.get(), row, column));
}

connection::connection(std::string url, std::string password, connect_at when)
    : url_{std::move(url)}, password_{std::move(password)} {
    if (when == connect_at::once)
        connect(std::chrono::steady_clock::now() + std::chrono::seconds{10});
}

bool connection::connected() const {
    return conn_ != nullptr && PQstatus(conn_.get()) == CONNECTION_OK;
}

bool connection::reconnect_if_lost(std::chrono::steady_clock::time_point give_up_at) {
    if (connected()) return true;
    // However late, one attempt: a server on loopback answers (or refuses) at once.
    connect(
        std::max(give_up_at, std::chrono::steady_clock::now() + std::chrono::milliseconds{200}));
    return connected();
}

// Keywords before `dbname` are defaults the URL may override (libpq reads them in order and
// expands the URL in place); the password from a file comes after it and wins. The attempt
// is libpq's non-blocking one, given up at `give_up_at`, so that a server that does not
// answer holds a store call no longer than its bound; tcp_user_timeout and keepalives bound
// how long an open connection can wait for a server that stopped answering.
void connection::connect(std::chrono::steady_clock::time_point give_up_at) {
    std::array<char const*, 7> keywords{"tcp_user_timeout",
                                        "keepalives_idle",
                                        "application_name",
                                        "dbname",
                                        nullptr,
                                        nullptr,
                                        nullptr};
    std::array<char const*, 7> values{"5000",  "10",    "magnesium-cds", url_.c_str(),
                                      nullptr, nullptr, nullptr};
    if (!password_.empty()) {
        keywords[4] = "password";
        values[4] = password_.c_str();
    }
    conn_.reset(PQconnectStartParams(keywords.data(), values.data(), 1));
    if (conn_ == nullptr) {
        last_error_ = "out of memory";
        return;
    }
    if (!finish_connecting(give_up_at)) {
        conn_.reset();
        return;
    }
    // libpq prints the server's notices (e.g. "relation already exists, skipping") to stderr
    // by default, around the service's own log; none of them matters to the store.
    PQsetNoticeProcessor(
        conn_.get(), [](void*, char const*) {}, nullptr);
    // A commit is acknowledged only once flushed to the server's disk, whatever the server's
    // or the role's default: feedback is answered 200 only after that.
    command("SET synchronous_commit = on");
}

// libpq's PQconnectPoll loop (libpq "Connecting to the Database Server"): wait for the socket
// to be writable or readable as the last poll asked, until connected, failed or `give_up_at`.
bool connection::finish_connecting(std::chrono::steady_clock::time_point give_up_at) {
    PostgresPollingStatusType status = PGRES_POLLING_WRITING;
    while (status != PGRES_POLLING_OK) {
        if (status == PGRES_POLLING_FAILED || PQstatus(conn_.get()) == CONNECTION_BAD) {
            last_error_ = trimmed(PQerrorMessage(conn_.get()));
            return false;
        }
        auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(
            give_up_at - std::chrono::steady_clock::now());
        pollfd socket{PQsocket(conn_.get()),
                      static_cast<short>(status == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
        if (left.count() <= 0 || ::poll(&socket, 1, static_cast<int>(left.count())) == 0) {
            last_error_ = "no answer from the server in time";
            return false;
        }
        status = PQconnectPoll(conn_.get());
    }
    return true;
}

std::optional<result> connection::execute(char const* sql, std::vector<std::string> const& params) {
    last_sqlstate_.clear();
    if (conn_ == nullptr) {
        last_error_ = "not connected";
        return std::nullopt;
    }
    std::vector<char const*> values;
    values.reserve(params.size());
    for (auto const& p : params) values.push_back(p.empty() ? nullptr : p.c_str());
    // Without parameters, the simple query protocol: a migration is several statements.
    result r{params.empty() ? PQexec(conn_.get(), sql)
                            : PQexecParams(conn_.get(), sql, static_cast<int>(values.size()),
                                           nullptr, values.data(), nullptr, nullptr, 0)};
    auto const status = PQresultStatus(r.raw());
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
    char const* sqlstate = PQresultErrorField(r.raw(), PG_DIAG_SQLSTATE);
    last_sqlstate_ = sqlstate == nullptr ? "" : sqlstate;
    // The server's primary message names constraints and objects, never parameter values
    // (those appear only in the DETAIL field, which is not kept).
    char const* primary = PQresultErrorField(r.raw(), PG_DIAG_MESSAGE_PRIMARY);
    last_error_ = primary != nullptr ? std::string{primary} : trimmed(PQerrorMessage(conn_.get()));
    if (!last_sqlstate_.empty()) last_error_ += " (SQLSTATE " + last_sqlstate_ + ")";
    return std::nullopt;
}

bool connection::command(char const* sql, std::vector<std::string> const& params) {
    return execute(sql, params).has_value();
}

std::optional<result> connection::query(char const* sql, std::vector<std::string> const& params) {
    return execute(sql, params);
}

void connection::rollback() {
    if (conn_ == nullptr || !connected()) return;
    if (PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) {
        std::string const error = last_error_;
        std::string const sqlstate = last_sqlstate_;
        command("ROLLBACK");
        last_error_ = error;
        last_sqlstate_ = sqlstate;
    }
}

void connection::fail(std::string const& reason) const {
    throw std::runtime_error("feedback database " + redacted_url(url_) + ": " + reason);
}

}  // namespace cds::service::postgres
