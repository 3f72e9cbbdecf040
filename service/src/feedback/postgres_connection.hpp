#pragma once
// One libpq connection for the PostgreSQL feedback store: parameterised statements with text
// values, results read as text, and reconnection after the server went away. Not thread-safe:
// the store serializes its use.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <libpq-fe.h>

namespace cds::service::postgres {

// A libpq connection URL with its password (in the user information or a `password=`
// parameter) replaced by "(redacted)", fit for logs and error messages.
[[nodiscard]] std::string redacted_url(std::string const& url);

class result {
public:
    explicit result(PGresult* owned) : result_{owned, &PQclear} {}
    [[nodiscard]] int rows() const { return PQntuples(result_.get()); }
    // "" for NULL.
    [[nodiscard]] std::string text(int row, int column) const;
    [[nodiscard]] bool is_null(int row, int column) const {
        return PQgetisnull(result_.get(), row, column) == 1;
    }
    // 0 for NULL (sum() over no rows).
    [[nodiscard]] std::int64_t int64(int row, int column) const;
    [[nodiscard]] PGresult* raw() const { return result_.get(); }

private:
    std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

class connection {
public:
    enum class connect_at { once, first_use };
    // Connects at once, or (first_use) at the first reconnect_if_lost; a failure is kept
    // (connected() false, last_error()) for the caller to report. `password`, when not empty,
    // is given to libpq beside the URL.
    connection(std::string url, std::string password, connect_at when = connect_at::once);
    connection(connection const&) = delete;
    connection& operator=(connection const&) = delete;

    [[nodiscard]] bool connected() const;
    // After a failure that lost the connection (server restarted or stopped): connects again,
    // giving up at `give_up_at`. True when connected afterwards.
    bool reconnect_if_lost(std::chrono::steady_clock::time_point give_up_at);

    // Runs one statement, or several when there are no parameters; an empty parameter is NULL
    // (as the SQLite store binds it). False on failure, with last_error() and last_sqlstate()
    // telling why.
    bool command(char const* sql, std::vector<std::string> const& params = {});
    [[nodiscard]] std::optional<result> query(char const* sql,
                                              std::vector<std::string> const& params = {});
    // Ends a transaction left open or failed; nothing of it stays.
    void rollback();

    [[nodiscard]] std::string const& last_error() const { return last_error_; }
    [[nodiscard]] std::string const& last_sqlstate() const { return last_sqlstate_; }

    // Start-up errors: "feedback database <url without password>: <reason>".
    [[noreturn]] void fail(std::string const& reason) const;
    void require(bool ok, std::string const& what) const {
        if (!ok) fail(what + ": " + last_error_);
    }

private:
    void connect(std::chrono::steady_clock::time_point give_up_at);
    bool finish_connecting(std::chrono::steady_clock::time_point give_up_at);
    std::optional<result> execute(char const* sql, std::vector<std::string> const& params);

    std::string url_;
    std::string password_;
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn_{nullptr, &PQfinish};
    std::string last_error_;
    std::string last_sqlstate_;
};

}  // namespace cds::service::postgres
