#pragma once
// The router's authentication seam (cds/service/auth/authentication.hpp) implemented with the
// JWT authenticator. main builds one with make_request_authenticator and stores it in
// service_state::authenticator; the router then asks it about every request (but CORS
// preflights) before reading its body.
//
// Time: the request's received_at (set by the server when the request arrived) is the "now"
// of every check; the wall clock is read only when a request carries none.
//
// Blocking: a check normally takes microseconds (one signature verification). When a token
// names a kid its issuer's HTTPS JWKS does not have (key rotation), or that JWKS is older
// than its maximum age, the JWKS is fetched first (bounded by the fetch timeout, default 3 s,
// and at most once per issuer per 30 s). authenticate runs such a check on a pool of its own
// (key_fetch_threads) and resumes the request on its executor afterwards, so that the server
// thread goes on serving its other connections. Once a fetch has started, other requests of
// that issuer verify with the cached keys; a request whose check was handed to the pool before
// the fetch started waits for it. finish_background_work waits for the pool's checks: at most
// one fetch per issuer, each bounded by its timeout (a stalled DNS lookup aside).

#include <cstddef>
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "cds/service/auth/authentication.hpp"
#include "cds/service/auth/authenticator.hpp"

namespace cds::service::auth {

class jwt_request_authenticator final : public cds::service::request_authenticator {
public:
    explicit jwt_request_authenticator(std::shared_ptr<authenticator> authn);

    boost::asio::awaitable<cds::service::auth_decision> authenticate(
        cds::service::auth_request request) override;

    // The same decision, synchronously, fetching keys on the calling thread if need be.
    [[nodiscard]] cds::service::auth_decision decide(cds::service::auth_request const& request);

    [[nodiscard]] authenticator& inner() { return *authn_; }

    void finish_background_work() override;

    // Fetches of different issuers' keys that can run at once.
    static constexpr std::size_t key_fetch_threads = 4;

private:
    [[nodiscard]] auth_decision check(cds::service::auth_request const& request, key_fetch fetch);

    std::shared_ptr<authenticator> authn_;
    boost::asio::thread_pool key_fetches_{key_fetch_threads};  // checks that fetch keys first
};

// Null when authentication is off (no --trust): the router then skips the hook entirely.
[[nodiscard]] std::shared_ptr<cds::service::request_authenticator> make_request_authenticator(
    std::shared_ptr<authenticator> authn);

}  // namespace cds::service::auth
